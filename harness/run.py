"""The guarded run: one module's tests in a fresh Compose project, torn down exactly once, always."""

from __future__ import annotations

import dataclasses
import signal
import threading
import time
from collections.abc import Callable, Mapping
from datetime import datetime, timezone
from pathlib import Path
from types import FrameType
from typing import Any, TextIO

from harness import compose as compose_mod
from harness import engine, odoo_command, ports, proc, watchdog
from harness import verdict as verdict_mod
from harness.cleanup import CleanupReport, remove_owner, sweep, teardown, write_owner
from harness.compose import Compose
from harness.config import Config
from harness.errors import EnvironmentProblem, ExitCode, HarnessError, Interrupted
from harness.junit import write_junit
from harness.modules import check_module
from harness.naming import project_name, validate_module_name
from harness.odoo_log import LogAnalyser
from harness.proof import ProofLog, write_json
from harness.readiness import health_url, wait_until_ready

HANDLED_SIGNALS = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)
# The line prefix other tools (validate_interrupt, CI) read to follow a run.
PHASE_MARK = "phase:"


class SignalGuard:
    """While active, the first SIGINT/SIGTERM/SIGHUP raises Interrupted; later ones are only recorded.

    `shield()` turns raising off for the cleanup, so a second Ctrl+C cannot abort it.
    """

    def __init__(self) -> None:
        self.received: list[int] = []
        # Where the run was when each signal came: set by the run, read by the handler.
        self.where: Callable[[], str] = lambda: ""
        self.received_in: list[str] = []
        self.shielded = False
        self._previous: dict[int, Any] = {}

    def __enter__(self) -> SignalGuard:
        # Handlers can only be installed from the main thread; elsewhere the caller owns signals.
        if threading.current_thread() is threading.main_thread():
            for sig in HANDLED_SIGNALS:
                self._previous[sig] = signal.signal(sig, self._handle)
        return self

    def _handle(self, signum: int, frame: FrameType | None) -> None:
        self.received.append(signum)
        self.received_in.append(self.where())
        if not self.shielded:
            self.shielded = True
            raise Interrupted(signum)

    def shield(self) -> None:
        """From now on signals are recorded, never raised."""
        self.shielded = True

    def __exit__(self, *exc: object) -> None:
        for sig, previous in self._previous.items():
            signal.signal(sig, previous)


@dataclasses.dataclass
class RunResult:
    """Everything a caller (nox, the CLI, validation) needs to know about one run."""

    module: str
    project: str
    exit_code: int
    message: str
    phase: str
    port: int | None = None
    summary: str = ""
    reasons: tuple[str, ...] = ()
    signal: str | None = None
    seconds: float = 0.0
    artefacts: Path | None = None
    log_file: Path | None = None
    cleanup: CleanupReport | None = None
    started_at: str = ""
    phase_times: dict[str, float] = dataclasses.field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        """A JSON-ready dict for result.json."""
        data = dataclasses.asdict(self)
        data["cleanup"] = (
            None
            if self.cleanup is None
            else {
                "clean": self.cleanup.clean,
                "seconds": round(self.cleanup.seconds, 2),
                "forced": self.cleanup.forced,
                "leftovers": self.cleanup.leftovers.describe(),
                "down_returncode": self.cleanup.down_returncode,
                "error": self.cleanup.error,
            }
        )
        return data


def compose_env(config: Config, port: int) -> dict[str, str]:
    """What docker-compose.agent.yml reads from the environment for one run."""
    return {
        "ODOO_PORT": str(port),
        "HARNESS_ADDONS_PATH": str(config.addons_path),
        "HARNESS_DB_USER": config.db_user,
        "HARNESS_DB_PASSWORD": config.db_password,
    }


class GuardedRun:
    """One run's state; `execute()` drives the phases and always ends in `_finish()`."""

    def __init__(self, config: Config, module: str, echo: TextIO | None, extra_env: Mapping[str, str]) -> None:
        self.config = config
        self.module = module
        self.extra_env = dict(extra_env)
        self.started = time.monotonic()
        self.started_at = datetime.now(timezone.utc).isoformat(timespec="seconds")
        self.project = project_name(config.prefix, module)
        self.artefacts = config.artefacts_dir / self.project
        self.phase = "preflight"
        self.log = ProofLog([config.log_file], echo)
        self.client: Any = None
        self.lease: ports.PortLease | None = None
        self.compose: Compose | None = None
        self.watchdog: watchdog.Watchdog | None = None
        # Fed each line as Odoo prints it: the analysis never holds the whole log. Only the summary
        # of the test database counts (build_test_command's `-d` is config.db_name).
        self.odoo_log = LogAnalyser(module, config.db_name)
        self.test_seconds = 0.0
        self.timed_out = False
        self.odoo_exit: int | None = None
        self.phase_times: dict[str, float] = {}

    # --- phases

    def enter(self, phase: str, detail: str = "") -> None:
        """Record and announce a phase; readers follow `[harness] phase: NAME`."""
        self.phase = phase
        self.phase_times[phase] = time.time()
        self.log.harness(f"{PHASE_MARK} {phase}{' (' + detail + ')' if detail else ''}")
        write_json(self.artefacts / "state.json", {"phase": phase, "project": self.project, "module": self.module})
        pause_phase, _, seconds = self.config.fault_pause.partition(":")
        if pause_phase == phase:
            self.log.harness(f"fault injection: pausing {seconds} s in phase {phase}")
            time.sleep(float(seconds or 0))

    def connect(self) -> Any:
        """The engine client, created once."""
        if self.client is None:
            self.client = engine.connect(self.config.command_timeout)
        return self.client

    def preflight(self) -> None:
        """Module checks before Docker is touched, then the sweep of dead runs' projects."""
        check_module(self.config.addons_path, self.module)
        self.log.add(self.artefacts / self.config.log_file.name)
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
            port = self.choose_port(tried)
            env = {**compose_env(self.config, port), **self.extra_env}
            self.compose = Compose(self.project, self.config.compose_files, env)
            if self.watchdog is None:
                # Armed before the first resource exists: from here on a dead run is torn down for us.
                write_owner(self.config, self.compose)
                self.watchdog = watchdog.start(self.compose, self.config.root, self.artefacts / "watchdog.log")
            # Every docker process of the project is reported to the watchdog, which stops them if we die.
            self.compose = dataclasses.replace(self.compose, on_spawn=self.watchdog.track)
            self.enter("up", f"attempt {attempt}, port {port}")
            result = self.compose.up(self.config.up_timeout)
            for text in result.output.splitlines():
                self.log.harness(f"compose: {text}")
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

    def judge(self) -> tuple[int, str, str, tuple[str, ...]]:
        """Exit code, message, summary line and failed rules, from Odoo's exit code and log."""
        analysis = self.odoo_log.result()
        verdict = verdict_mod.judge(self.odoo_exit, analysis, self.module, timed_out=self.timed_out)
        summary = verdict_mod.summary_line(self.module, analysis, self.test_seconds)
        write_junit(
            self.artefacts / "junit.xml",
            self.module,
            analysis,
            self.test_seconds,
            verdict=verdict,
            secrets=[self.config.db_password],
        )
        if verdict.passed:
            return ExitCode.PASSED, f"PASSED: {summary}", summary, ()
        return ExitCode.TESTS_FAILED, f"FAILED: {summary}", summary, verdict.reasons

    # --- failure evidence and teardown

    def save_service_logs(self) -> None:
        """Keep every service's log before the teardown destroys it."""
        if self.compose is None:
            return
        folder = self.artefacts / "services"
        folder.mkdir(parents=True, exist_ok=True)
        try:
            for service in self.compose.services(self.config.command_timeout):
                (folder / f"{service}.log").write_text(self.compose.logs(service, self.config.command_timeout))
            self.log.harness(f"service logs saved in {folder}")
        except HarnessError as exc:
            self.log.harness(f"could not save service logs: {exc.message}")

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
    guard = SignalGuard()
    with guard:
        try:
            validate_module_name(module)
            run = GuardedRun(config, module, echo, extra_env or {})
        except HarnessError as exc:
            return _refused(config, module, exc, echo)
        except Interrupted as exc:  # before anything existed: nothing to clean up
            return RunResult(
                module=module,
                project="",
                exit_code=int(exc.exit_code),
                phase="preflight",
                message=f"interrupted by {signal.Signals(exc.signum).name} before the run started",
            )
        guard.where = lambda: run.phase
        exit_code: int = ExitCode.PASSED
        message = ""
        summary = ""
        reasons: tuple[str, ...] = ()
        report: CleanupReport | None = None
        try:
            run.preflight()
            run.start_environment()
            run.wait_ready()
            run.run_tests()
            exit_code, message, summary, reasons = run.judge()
            run.save_service_logs()
        except Interrupted as exc:
            exit_code = exc.exit_code
            message = f"interrupted by {signal.Signals(exc.signum).name} during phase {run.phase}"
        except HarnessError as exc:
            # From here on a signal is only recorded: an Interrupted raised inside this
            # handler would escape the try and skip the result.
            guard.shield()
            exit_code, message = exc.exit_code, exc.message
            run.log.harness(f"ERROR: {exc.message}")
            run.save_service_logs()
        except Exception as exc:  # a bug of ours: still clean up, and say so
            guard.shield()
            exit_code, message = ExitCode.ENVIRONMENT, f"internal error: {exc!r}"
            run.log.harness(f"ERROR: {message}")
        finally:
            guard.shield()
            last_phase = run.phase
            try:
                report = run.clean_up()
            finally:
                run.release_port()
        if guard.received and exit_code not in {ExitCode.SIGINT, ExitCode.SIGTERM, ExitCode.SIGHUP}:
            first = guard.received[0]
            exit_code = Interrupted(first).exit_code
            message = f"interrupted by {signal.Signals(first).name} during phase {guard.received_in[0]}; {message}"
        if report is not None and not report.clean and exit_code == ExitCode.PASSED:
            exit_code, message = ExitCode.ENVIRONMENT, f"cleanup left resources behind: {report.leftovers.describe()}"
        result = RunResult(
            module=module,
            project=run.project,
            exit_code=int(exit_code),
            message=message,
            phase=last_phase,
            port=None if run.compose is None else int(run.compose.env["ODOO_PORT"]),
            summary=summary,
            reasons=reasons,
            signal=signal.Signals(guard.received[0]).name if guard.received else None,
            seconds=round(time.monotonic() - run.started, 2),
            artefacts=run.artefacts,
            log_file=config.log_file,
            cleanup=report,
            started_at=run.started_at,
            phase_times=run.phase_times,
        )
        for reason in reasons:
            run.log.harness(f"rule failed: {reason}")
        if summary:
            run.log.harness(f"summary: {summary}")
        write_json(run.artefacts / "result.json", result.to_json())
        run.log.harness(f"RESULT: exit {result.exit_code}: {message}")
        run.log.close()
        return result


def _refused(config: Config, module: str, exc: HarnessError, echo: TextIO | None) -> RunResult:
    """A run stopped before anything started (bad module name): say why, in a fresh proof log too."""
    try:
        log = ProofLog([config.log_file], echo)
    except HarnessError as log_error:
        log = ProofLog([], echo)
        log.harness(f"ERROR: {log_error.message}")
    log.harness(f"ERROR: {exc.message}")
    log.harness(f"RESULT: exit {int(exc.exit_code)}: nothing was started")
    log.close()
    return RunResult(
        module=module,
        project="",
        exit_code=int(exc.exit_code),
        message=exc.message,
        phase="preflight",
        log_file=config.log_file,
    )
