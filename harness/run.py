"""The guarded run: one module's tests in a fresh Compose project, torn down exactly once, always.

    with GuardedRun(config, module) as run:   # arms the signal guard
        run.phases()                          # preflight, port, up, readiness, tests, verdict
    run.result                                # built by the run itself when the block ends

Leaving the block, however it ends, shields signals, tears the project down once, releases the
port and writes the result (junit.xml, result.json, the final block). `run_module` is that, in one call.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from types import TracebackType
from typing import TextIO

from harness import github, report
from harness.config import Config
from harness.errors import SIGNAL_EXIT_CODES, ExitCode, HarnessError, Interrupted
from harness.phases import RunPhases
from harness.result import Counts, RunResult, failed_tests
from harness.signals import SignalGuard, signal_name


class GuardedRun(RunPhases):
    """One module's run; a context manager whose exit always cleans up and writes the result."""

    def __init__(
        self, config: Config, module: str, *, echo: TextIO | None = None, extra_env: Mapping[str, str] | None = None
    ) -> None:
        super().__init__(config, module, echo=echo, extra_env=extra_env)
        self.guard = SignalGuard()
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
            self._absorb(exc)
            ended_in = self.phase
            try:
                self.cleanup = self.clean_up()
            except Exception as bug:  # noqa: BLE001 - a bug of ours must not skip the result
                self._absorb(bug)
            finally:
                self.release_port()
            self.clock.stop()
            self._settle()
            self.result = self._build_result(ended_in)
            self._publish(self.result)
        finally:
            self.log.close()
            self.guard.__exit__()
        # Expected failures and signals are in the result; anything else (SystemExit...) goes on.
        return exc is None or isinstance(exc, (Exception, Interrupted))

    def execute(self) -> RunResult:
        """Run every phase inside the guard and return the result."""
        with self:
            self.phases()
        assert self.result is not None
        return self.result

    def _absorb(self, exc: BaseException | None) -> None:
        """Turn what ended the phases into the outcome: a signal, an error the user can act on, or a bug."""
        if exc is None:
            return
        if isinstance(exc, Interrupted):
            self.exit_code = exc.exit_code
            self.message = f"interrupted by {signal_name(exc.signum)} during phase {self.phase}"
            return
        if isinstance(exc, HarnessError):
            self.exit_code, self.message = exc.exit_code, exc.message
            self.log.harness(f"ERROR: {exc.message}")
            self.save_service_logs()
            return
        self.exit_code, self.message = ExitCode.ENVIRONMENT, f"internal error: {exc!r}"
        self.log.harness(f"ERROR: {self.message}")

    def _settle(self) -> None:
        """A signal that came while handling an error still decides the exit code; a leak fails a pass."""
        if self.guard.received and self.exit_code not in SIGNAL_EXIT_CODES.values():
            first = self.guard.received[0]
            self.exit_code = SIGNAL_EXIT_CODES[first]
            self.message = (
                f"interrupted by {signal_name(first)} during phase {self.guard.received_in[0]}; {self.message}"
            )
        cleanup = self.cleanup
        if cleanup is not None and not cleanup.clean and self.exit_code in (ExitCode.PASSED, ExitCode.NO_TESTS):
            self.exit_code = ExitCode.ENVIRONMENT
            self.message = f"cleanup left resources behind: {cleanup.leftovers.describe()}"

    def _build_result(self, ended_in: str) -> RunResult:
        if self.analysis is None and self.odoo_log.result().lines:
            self.analysis = self.odoo_log.result()  # stopped during the tests: what the log showed so far
        analysis, repository = self.analysis, github.repository(self.config.root)
        return RunResult(
            module=self.module,
            project=self.project,
            exit_code=int(self.exit_code),
            message=self.message,
            phase=ended_in,
            port=self.port,
            summary=self.summary,
            counts=None if analysis is None else Counts.from_analysis(analysis),
            failed_tests=[] if analysis is None else failed_tests(analysis, self.config, repository),
            reasons=self.reasons,
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

    def _publish(self, result: RunResult) -> None:
        """junit.xml and result.json on every path, then the final block (and CI's annotations)."""
        report.publish(
            self.log,
            result,
            analysis=self.analysis,
            verdict=self.verdict,
            test_seconds=self.test_seconds,
            secrets=self.secrets,
            ci=self.ci,
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
