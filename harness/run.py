"""The guarded run: one module's tests in a fresh Compose project, torn down exactly once, always.

    with GuardedRun(config, module) as run:   # arms the signal guard
        run.phases()                          # preflight, port, up, readiness, tests, verdict
    run.result                                # built by the run itself when the block ends

Leaving the block, however it ends, shields signals, tears the project down once, releases the
port and writes the result. `run_module` is that, in one call.
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Mapping
from datetime import datetime, timezone
from types import TracebackType
from typing import Any, TextIO

from harness import compose as compose_mod
from harness import engine, odoo_command, ports, proc, watchdog
from harness import verdict as verdict_mod
from harness.cleanup import CleanupReport, remove_owner, sweep, teardown, write_owner
from harness.compose import Compose
from harness.config import Config
from harness.errors import SIGNAL_EXIT_CODES, EnvironmentProblem, ExitCode, HarnessError, Interrupted
from harness.junit import write_junit
from harness.modules import check_module
from harness.naming import project_name
from harness.odoo_log import LogAnalyser
from harness.proof import ProofLog, write_json
from harness.readiness import health_url, wait_until_ready
from harness.result import PhaseClock, RunResult
from harness.signals import SignalGuard, signal_name

# The line prefix other tools (validate_interrupt, CI) read to follow a run.
PHASE_MARK = "phase:"


def compose_env(config: Config, port: int) -> dict[str, str]:
    """What docker-compose.agent.yml reads from the environment for one run."""
    return {
        "ODOO_PORT": str(port),
        "HARNESS_ADDONS_PATH": str(config.addons_path),
        "HARNESS_DB_USER": config.db_user,
        "HARNESS_DB_PASSWORD": config.db_password,
    }


class GuardedRun:
    """One module's run; a context manager whose exit always cleans up and writes the result."""

    def __init__(
        self, config: Config, module: str, *, echo: TextIO | None = None, extra_env: Mapping[str, str] | None = None
    ) -> None:
        self.config = config
        self.module = module
        self.extra_env = dict(extra_env or {})
        # The name is sanitised, so even a module name that fails its check has a folder for its report.
        self.project = project_name(config.prefix, module)
        self.artefacts = config.artefacts_dir / self.project
        self.log = ProofLog([], echo)  # files are opened by preflight: failing to open them is exit 3
        self.guard = SignalGuard()
        self.clock = PhaseClock()
        self.phase = "preflight"
        self.started = time.monotonic()
        self.started_at = datetime.now(timezone.utc).isoformat(timespec="seconds")
        self.client: Any = None
        self.lease: ports.PortLease | None = None
        self.port: int | None = None
        self.compose: Compose | None = None
        self.watchdog: watchdog.Watchdog | None = None
        # Fed each line as Odoo prints it: the analysis never holds the whole log. Only the summary
        # of the test database counts (build_test_command's `-d` is config.db_name).
        self.odoo_log = LogAnalyser(module, config.db_name)
        self.test_seconds = 0.0
        self.timed_out = False
        self.odoo_exit: int | None = None
        # The outcome so far: the verdict sets it, a failure or a signal overrides it.
        self.exit_code: int = ExitCode.PASSED
        self.message = ""
        self.summary = ""
        self.reasons: tuple[str, ...] = ()
        self.cleanup: CleanupReport | None = None
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
        report = self.cleanup
        if report is not None and not report.clean and self.exit_code == ExitCode.PASSED:
            self.exit_code = ExitCode.ENVIRONMENT
            self.message = f"cleanup left resources behind: {report.leftovers.describe()}"

    def _build_result(self, ended_in: str) -> RunResult:
        return RunResult(
            module=self.module,
            project=self.project,
            exit_code=int(self.exit_code),
            message=self.message,
            phase=ended_in,
            port=self.port,
            summary=self.summary,
            reasons=self.reasons,
            signal=signal_name(self.guard.received[0]) if self.guard.received else None,
            started_at=self.started_at,
            seconds=round(time.monotonic() - self.started, 3),
            phases=list(self.clock.phases),
            odoo_exit=self.odoo_exit,
            cleanup=self.cleanup,
            artefacts=self.artefacts,
            log_file=self.config.log_file,
        )

    def _publish(self, result: RunResult) -> None:
        """result.json and the run's last lines."""
        for reason in result.reasons:
            self.log.harness(f"rule failed: {reason}")
        if result.summary:
            self.log.harness(f"summary: {result.summary}")
        try:
            write_json(self.artefacts / "result.json", result.to_json())
        except OSError as exc:
            self.log.harness(f"could not write {self.artefacts / 'result.json'}: {exc.strerror}")
        self.log.harness(f"RESULT: exit {result.exit_code}: {result.message}")

    # --- the phases

    def phases(self) -> None:
        """Every phase in order; the first failure raises out of the block."""
        self.preflight()
        self.start_environment()
        self.wait_ready()
        self.run_tests()
        self.judge()
        self.save_service_logs()

    def enter(self, phase: str, detail: str = "") -> None:
        """Record, time and announce a phase; readers follow `[harness] phase: NAME`."""
        self.phase = phase
        self.clock.enter(phase)
        self.log.harness(f"{PHASE_MARK} {phase}{' (' + detail + ')' if detail else ''}")
        write_json(self.artefacts / "state.json", {"phase": phase, "project": self.project, "module": self.module})

    def connect(self) -> Any:
        """The engine client, created once."""
        if self.client is None:
            self.client = engine.connect(self.config.command_timeout)
        return self.client

    def preflight(self) -> None:
        """A fresh proof log, the module checks before Docker is touched, then the sweep of dead runs' projects."""
        for path in (self.config.log_file, self.artefacts / self.config.log_file.name):
            self.log.add(path)
        self.enter("preflight")
        check_module(self.config.addons_path, self.module)
        self.log.harness(f"module {self.module} found in {self.config.addons_path}")
        self.log.harness(f"project {self.project}; artefacts in {self.artefacts}")
        sweep(self.config, self.connect(), log=self.log.harness)

    def choose_port(self, tried: set[int]) -> int:
        """Lease a free host port from the range (exit 3 when none is)."""
        self.enter("port")
        self.lease = ports.acquire_port(
            self.config.ports,
            self.config.lock_dir,
            host=self.config.publish_host,
            docker_published=lambda: engine.published_ports(self.connect()),
            skip=tried,
            range_text=self.config.port_range_text,
        )
        self.log.harness(f"port {self.lease.port} leased (lock {self.lease.lock_path})")
        return self.lease.port

    def start_environment(self) -> None:
        """`compose up`, retrying with another port when an outside process took ours."""
        tried: set[int] = set()
        for attempt in range(1, self.config.up_attempts + 1):
            self.port = port = self.choose_port(tried)
            env = {**compose_env(self.config, port), **self.extra_env}
            self.compose = Compose(self.project, self.config.compose_files, env)
            if self.watchdog is None:
                # Armed before the first resource exists: from here on a dead run is torn down for us.
                write_owner(self.config, self.compose)
                self.watchdog = watchdog.start(self.compose, self.config.root, self.artefacts / "watchdog.log")
            # Every docker process of the project is reported to the watchdog, which stops them if we die.
            self.compose = dataclasses.replace(self.compose, on_spawn=self.watchdog.track)
            self.enter("up", f"attempt {attempt}, port {port}")
            result = self.compose.up(self.config.up_timeout, on_line=lambda text: self.log.harness(f"compose: {text}"))
            if result.ok:
                return
            if not compose_mod.is_port_clash(result.output):
                hint = compose_mod.up_failure_hint(result.output)
                raise EnvironmentProblem(
                    f"docker compose up failed (exit {result.returncode}); "
                    + (hint if hint else "see the compose output above")
                )
            self.log.harness(f"port {port} was taken before Docker could bind it; tearing down and retrying")
            self.compose.down(self.config.stop_timeout, self.config.down_timeout)
            tried.add(port)
            self.release_port()
        raise EnvironmentProblem(
            f"docker compose up lost its port {self.config.up_attempts} times; ports tried: {sorted(tried)}"
        )

    def wait_ready(self) -> None:
        """Until /web/health answers 200 or Docker says healthy; fail fast on exit or unhealthy."""
        assert self.lease is not None
        url = health_url(self.config.publish_host, self.lease.port)  # the engine's host for tcp:// / ssh://
        self.enter("readiness", url)
        seconds = wait_until_ready(
            url=url,
            service=self.config.odoo_service,
            state=lambda: engine.service_state(self.connect(), self.project, self.config.odoo_service),
            timeout=self.config.ready_timeout,
            poll=self.config.ready_poll_interval,
            progress=self.log.harness,
            progress_interval=self.config.progress_interval,
        )
        self.log.harness(f"{self.config.odoo_service} ready after {seconds:.1f} s")

    def run_tests(self) -> None:
        """Stream the module's test run to the console and the proof logs."""
        assert self.compose is not None
        command = odoo_command.build_test_command(self.config, self.module)
        shown = odoo_command.redact(command, [self.config.db_password])
        self.enter("tests", " ".join(shown))
        (self.artefacts / "command.txt").write_text(
            " ".join(self.compose.exec_argv(self.config.odoo_service, shown)) + "\n"
        )

        def on_line(line: str) -> None:
            self.odoo_log.feed(line)
            self.log.line(line)

        outcome = proc.stream(
            self.compose.exec_argv(self.config.odoo_service, command),
            on_line,
            timeout=self.config.test_timeout,
            env=self.compose.environment(),
            poll=self.config.ready_poll_interval,
            on_spawn=self.compose.on_spawn,
        )
        self.test_seconds = outcome.seconds
        self.timed_out = outcome.timed_out
        self.odoo_exit = outcome.returncode
        if outcome.timed_out:
            self.log.harness(f"the test phase outlived its timeout of {self.config.test_timeout:.0f} s and was stopped")

    def judge(self) -> None:
        """The verdict from Odoo's exit code and log: exit code, message, summary, failed rules; junit.xml."""
        analysis = self.odoo_log.result()
        verdict = verdict_mod.judge(self.odoo_exit, analysis, self.module, timed_out=self.timed_out)
        self.summary = verdict_mod.summary_line(self.module, analysis, self.test_seconds)
        write_junit(
            self.artefacts / "junit.xml",
            self.module,
            analysis,
            self.test_seconds,
            verdict=verdict,
            secrets=[self.config.db_password],
        )
        if verdict.passed:
            self.exit_code, self.message = ExitCode.PASSED, f"PASSED: {self.summary}"
        else:
            self.exit_code, self.message = ExitCode.TESTS_FAILED, f"FAILED: {self.summary}"
            self.reasons = verdict.reasons

    # --- failure evidence and teardown

    def save_service_logs(self) -> None:
        """Keep every service's log before the teardown destroys it."""
        if self.compose is None:
            return
        folder = self.artefacts / "services"
        try:
            folder.mkdir(parents=True, exist_ok=True)
            for service in self.compose.services(self.config.command_timeout):
                (folder / f"{service}.log").write_text(self.compose.logs(service, self.config.command_timeout))
            self.log.harness(f"service logs saved in {folder}")
        except HarnessError as exc:
            self.log.harness(f"could not save service logs: {exc.message}")
        except OSError as exc:
            self.log.harness(f"could not save service logs in {folder}: {exc.strerror}")

    def release_port(self) -> None:
        """Give the port back to other runs."""
        if self.lease is not None:
            self.lease.release()
            self.lease = None

    def clean_up(self) -> CleanupReport | None:
        """Exactly once: down, verify by label, disarm the watchdog."""
        if self.compose is None:
            return None
        self.enter("teardown", f"docker compose -p {self.project} down -v --remove-orphans")
        report = teardown(self.compose, self.connect, self.config)
        self.log.harness(
            f"cleanup of {self.project} took {report.seconds:.1f} s; "
            + ("nothing left" if report.clean else f"LEFT BEHIND: {report.leftovers.describe()} {report.error}")
        )
        if report.clean:
            remove_owner(self.config, self.project)
            if self.watchdog is not None:
                self.watchdog.disarm()
        return report


def run_module(
    config: Config,
    module: str,
    *,
    echo: TextIO | None = None,
    extra_env: Mapping[str, str] | None = None,
) -> RunResult:
    """Run `module`'s tests in a fresh environment; never raise for expected failures, return a RunResult."""
    return GuardedRun(config, module, echo=echo, extra_env=extra_env).execute()
