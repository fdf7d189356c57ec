"""The guarded run: one module's tests in a fresh Compose project, torn down exactly once, always.

    with GuardedRun(config, module) as run:   # arms the signal guard
        run.phases()                          # preflight, port, up, readiness, database, tests
    run.result                                # built by the run itself when the block ends

Leaving the block, however it ends, shields signals, tears the project down once, releases the
port, has harness.outcome.decide turn what the run recorded into its outcome, and writes the
result (junit.xml, result.json, the final block). `run_module` is that, in one call.
"""

from __future__ import annotations

import time
import traceback
from collections.abc import Mapping
from pathlib import Path
from types import TracebackType
from typing import TextIO

from harness import github, report
from harness.cleanup import unknown_leftovers
from harness.config import Config
from harness.errors import EnvironmentProblem, HarnessError, Interrupted
from harness.outcome import Outcome, SignalSeen, Stop, decide, stop_message
from harness.phases import RunPhases
from harness.records import CleanupReport
from harness.result import Counts, RunResult, failed_tests
from harness.signals import SignalGuard, signal_name


class GuardedRun(RunPhases):
    """One module's run; a context manager whose exit always cleans up and writes the result."""

    def __init__(
        self, config: Config, module: str, *, echo: TextIO | None = None, extra_env: Mapping[str, str] | None = None
    ) -> None:
        super().__init__(config, module, echo=echo, extra_env=extra_env)
        self.guard = SignalGuard()
        self.stops: list[Stop] = []  # what ended the phases, and a bug in the teardown, in order
        self.result: RunResult | None = None

    # --- the context: arm on entry; on exit shield, tear down once, release, write the result

    def __enter__(self) -> GuardedRun:
        self.guard.where = lambda: self.phase
        self.guard.__enter__()
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> bool:
        self.guard.shield()  # from here on a signal is recorded, never raised: the cleanup runs to its end
        try:
            self._stopped_by(exc)
            ended_in = self.phase
            try:
                self.cleanup = self.clean_up()
            except Exception as bug:  # noqa: BLE001 - a bug of ours must not skip the result
                self._stopped_by(bug)
                if self.compose is not None:  # never "nothing to clean up" once a project existed
                    self.cleanup = CleanupReport(
                        self.project, None, unknown_leftovers(self.project), 0.0, False, f"cleanup failed: {bug!r}"
                    )
            finally:
                self.release_port()
            # After the teardown: a full disk never stops it, but an artefact it cut is exit 3.
            if problem := self.log.write_error or next(iter(self.write_problems), None):
                self._write_failed(problem)
            self.clock.stop()
            self.result = self._build_result(ended_in, self._decide())
            self.result = self._publish(self.result)
        finally:
            self.log.close()
            self.guard.__exit__()
        # Expected failures and signals are in the result; anything else (SystemExit...) goes on.
        return exc is None or isinstance(exc, (Exception, Interrupted))

    def execute(self) -> RunResult:
        """Run every phase inside the guard and return the result."""
        with self:
            try:
                self.phases()
            finally:
                # Shielded before the block ends: a first signal between the phases' end and
                # __exit__ would otherwise raise out of __exit__ before its teardown.
                self.guard.shield()
        assert self.result is not None
        return self.result

    def _stopped_by(self, exc: BaseException | None) -> None:
        """Record what ended the phases (a signal, an error the user can act on, or a bug) and say so."""
        if exc is None:
            return
        if isinstance(exc, OSError) and exc.errno is not None:
            # A full disk (ENOSPC) or an unwritable artefacts folder: the environment, not a bug.
            where = f" {exc.filename}" if exc.filename else ""
            exc = EnvironmentProblem(f"cannot write{where}: {exc.strerror} (errno {exc.errno})")
        traceback_file = None
        if not isinstance(exc, (Interrupted, HarnessError)):
            traceback_file = self._write_traceback(exc)
        stop = Stop(exc, self.phase, traceback_file)
        self.stops.append(stop)
        if isinstance(exc, Interrupted):
            return
        self.log.harness(f"ERROR: {stop_message(stop)}")
        if isinstance(exc, HarnessError):
            self.save_service_logs()

    def _write_traceback(self, exc: BaseException) -> Path | None:
        """A bug of the harness: its traceback in artefacts/<run>/internal-error.txt, for the bug report."""
        path = self.artefacts / "internal-error.txt"
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text("".join(traceback.format_exception(exc)), encoding="utf-8")
        except OSError:
            return None
        return path

    def _decide(self) -> Outcome:
        """The outcome from what the run recorded (harness.outcome: the one place it is decided)."""
        counts = None if self.analysis is None else Counts.from_analysis(self.analysis)
        signals = [SignalSeen(n, phase) for n, phase in zip(self.guard.received, self.guard.received_in, strict=False)]
        return decide(
            judgement=self.judgement,
            stops=self.stops,
            signals=signals,
            cleanup=self.cleanup,
            summary=self.summary,
            counts=counts,
            analysis=self.analysis,
            rules_failed=self.rules_failed,
        )

    def _build_result(self, ended_in: str, outcome: Outcome) -> RunResult:
        """RunResult from the phases' records and the decided outcome."""
        if self.analysis is None and self.odoo_log.result().lines:
            self.analysis = self.odoo_log.result()  # stopped during the tests: what the log showed so far
        analysis, repository = self.analysis, github.repository(self.config.root)
        return RunResult(
            module=self.module,
            project=self.project,
            exit_code=int(outcome.exit_code),
            message=outcome.message,
            phase=ended_in,
            port=self.port,
            summary=self.summary,
            counts=None if analysis is None else Counts.from_analysis(analysis),
            failed_tests=[] if analysis is None else failed_tests(analysis, self.config, repository),
            reasons=outcome.reasons,
            signal=signal_name(self.guard.received[0]) if self.guard.received else None,
            started_at=self.started_at,
            seconds=round(time.monotonic() - self.started, 3),
            phases=list(self.clock.phases),
            odoo_exit=self.odoo_exit,
            cleanup=self.cleanup,
            db_cache=self.cache_report(),
            artefacts=self.artefacts,
            log_file=self.config.log_file,
            junit_file=self.artefacts / "junit.xml",
            selection=self.selection.describe() if self.selection else None,
            extras=dict(self.extras),
            notes=list(self.notes),
        )

    def _write_failed(self, problem: str) -> RunResult | None:
        """An artefact the disk did not take (after the teardown): a stop of its own, exit 3; the result again."""
        self.stops.append(Stop(EnvironmentProblem(problem), self.phase, None))
        self.log.harness(f"ERROR: {problem}")
        if self.result is not None:
            self.result = self._build_result(self.result.phase, self._decide())
        return self.result

    def _publish(self, result: RunResult) -> RunResult:
        """junit.xml and result.json on every path, then the final block (and CI's annotations)."""
        return report.publish(
            self.log,
            result,
            analysis=self.analysis,
            judgement=self.judgement,
            test_seconds=self.test_seconds,
            secrets=self.secrets,
            ci=self.ci,
            on_write_error=self._write_failed,
        )


def run_module(
    config: Config,
    module: str,
    *,
    echo: TextIO | None = None,
    extra_env: Mapping[str, str] | None = None,
) -> RunResult:
    """Run `module`'s tests in a fresh environment; never raise for expected failures, return a RunResult."""
    return GuardedRun(config, module, echo=echo, extra_env=extra_env).execute()
