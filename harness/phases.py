"""The run's phases, in order: preflight, port, up, readiness, database, tests (then judged); teardown.

Each phase records what happened (ports, the Compose handle, Odoo's exit, the rules' judgement);
none decides the exit code: harness.outcome.decide does, from these records, once the run ends.
`GuardedRun` (harness.run) wraps the phases in the signal guard. Every phase starts with `enter`,
which times it and announces `[harness] phase: NAME`.
"""

from __future__ import annotations

import contextlib
import dataclasses
import tarfile
import time
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from typing import Any, TextIO

from harness import (
    addons_path,
    browser,
    coverage_report,
    dbcache_steps,
    dbcache_tidy,
    engine,
    github,
    keepdb,
    odoo_command,
    ports,
    proc,
    requirements,
    selection,
    watchdog,
)
from harness import compose as compose_mod
from harness.cleanup import remove_owner, sweep, teardown, unknown_leftovers, write_owner
from harness.compose import Compose, compose_env
from harness.config import Config
from harness.dbcache import service_images
from harness.errors import EnvironmentProblem, HarnessError
from harness.modules import check_module, has_tests
from harness.naming import project_name
from harness.odoo_log import LogAnalyser, LogAnalysis
from harness.proof import ProofLog, write_json
from harness.readiness import health_url, wait_until_ready
from harness.records import CacheReport, CleanupReport, PhaseClock, utc_stamp
from harness.report import shown_path
from harness.result import Counts
from harness.signals import killed_by_signal
from harness.verdict import Judgement, judge

# The line prefix other tools (validate_interrupt, CI) read to follow a run.
PHASE_MARK = "phase:"
# Odoo silent this long during the tests: say the run is still waiting for it.
SILENCE_REPORT = 30.0
# How long a test process killed by a signal is followed by looks at its container: an engine
# shutting down kills the processes in its containers before its API stops saying "running".
KILLED_SETTLE = 5.0
KILLED_SETTLE_POLL = 0.5


class RunPhases:
    """One module's run: what it knows so far, and one method per phase."""

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
        self.use_secrets(odoo_command.known_secrets(config))
        self.clock = PhaseClock()
        self.phase = "preflight"
        self.started = time.monotonic()
        self.started_at = utc_stamp(time.time())
        self.client: Any = None
        self.lease: ports.PortLease | None = None
        self.port: int | None = None
        self.compose: Compose | None = None
        self.watchdog: watchdog.Watchdog | None = None
        self.cache: dbcache_steps.CacheUse | None = None  # decided once, before the first `up`
        # Packages the test image needs beyond the repository's (harness/requirements.py), and the
        # compose override that puts the odoo service on the image built with them (decided once).
        self.extra_requirements: list[requirements.Requirement] = []
        self.image_files: tuple[Path, ...] | None = None
        # Fed each line as Odoo prints it: the analysis never holds the whole log. Only the summary
        # of the test database counts (build_test_command's `-d` is config.db_name).
        self.odoo_log = LogAnalyser(module, config.db_name)
        self.test_seconds = 0.0
        self.timed_out = False
        self.odoo_exit: int | None = None
        self.analysis: LogAnalysis | None = None  # once the tests phase began
        self.judgement: Judgement | None = None  # once the rules judged the test run
        self.summary = ""  # `MODULE: N tests, ... in S s`, with the judgement
        self.rules_failed: list[str] = []  # the run's own rules beyond the judgement's (the coverage floor)
        self.ci = github.enabled()
        self.cleanup: CleanupReport | None = None
        self.selection: selection.Selection | None = None  # --tests / --failed, checked in preflight
        self.extras: dict[str, Any] = {}  # what a developer option left: a kept database, coverage...
        self.notes: list[tuple[str, str]] = []  # and the rows it adds to the final block
        # Artefact writes a full disk refused (state.json, service logs): exit 3 after the teardown.
        self.write_problems: list[str] = []
        self.module_dir: Path | None = None  # with --coverage: the folder measured

    def phases(self) -> None:
        """Every phase in order; the first failure raises out of the block."""
        self.preflight()
        self.start_environment()
        self.ready_with_database()
        self.run_tests()
        self.judge()
        self.measure_coverage()
        self.keep_database()
        self.keep_browser_files()
        self.save_service_logs()

    def enter(self, phase: str, detail: str = "") -> None:
        """Record, time and announce a phase; readers follow `[harness] phase: NAME`."""
        self.phase = phase
        self.clock.enter(phase)
        self.log.harness(f"{PHASE_MARK} {phase}{' (' + detail + ')' if detail else ''}")
        try:
            write_json(self.artefacts / "state.json", {"phase": phase, "project": self.project, "module": self.module})
        except OSError as exc:
            # A full disk or an unwritable folder must never stop a phase, least of all the teardown;
            # the run ends with exit 3 for it after the teardown (GuardedRun).
            problem = f"could not record the phase in {self.artefacts / 'state.json'}: {exc.strerror}"
            self.write_problems.append(problem)
            self.log.harness(problem)

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
        self.log.harness(f"project {self.project}; artefacts in {self.artefacts}")
        found = check_module(self.config.addons_path, self.module)
        self.log.harness(f"module {self.module} found in {found.parent}")
        if self.config.tests:
            self.selection = selection.select(self.config.tests, self.module, found)
            self.log.harness(f"selection: {self.selection.describe()}")
        if self.config.coverage:
            self.module_dir = found
            self.extra_requirements.append(coverage_report.requirement())
        sweep(self.config, self.connect(), log=self.log.harness, verbose=False)
        # Before this run plans its cache use: entries of past days, half-built ones, the cap.
        dbcache_tidy.tidy(self.config, self.log.harness)

    def choose_port(self, tried: set[int]) -> int:
        """Lease a free host port from the range (exit 3 when none is)."""
        self.enter("port")
        self.lease = ports.wait_for_port(
            lambda: ports.acquire_port(
                self.config.ports,
                self.config.lock_dir,
                host=self.config.publish_host,
                docker_published=lambda: engine.published_ports(self.connect()),
                skip=tried,
                range_text=self.config.port_range_text,
            ),
            wait=self.config.port_wait,
            on_wait=self.log.harness,
        )
        self.log.harness(f"port {self.lease.port} leased (lock {self.lease.lock_path})")
        return self.lease.port

    def start_environment(self) -> None:
        """`compose up`, retrying with another port when an outside process took ours."""
        tried: set[int] = set()
        self.prepare_image()
        for attempt in range(1, self.config.up_attempts + 1):
            self.port = port = self.choose_port(tried)
            env = {**compose_env(self.config, port), **self.extra_env}
            self.use_secrets(odoo_command.known_secrets(self.config, env))
            self.compose = Compose(self.project, (*self.config.compose_files, *self.override_files()), env)
            if self.cache is None:
                self.cache = dbcache_steps.prepare(
                    self.config, self.module, self.compose, self.artefacts, self.log.harness
                )
            self.compose = dataclasses.replace(self.compose, files=(*self.compose.files, *self.cache.files))
            if self.watchdog is None:
                # Armed before the first resource exists: from here on a dead run is torn down for us.
                write_owner(self.config, self.compose)
                self.watchdog = watchdog.start(self.compose, self.config.root, self.artefacts / "watchdog.log")
            # Every docker process of the project is reported to the watchdog, which stops them if we die.
            self.compose = dataclasses.replace(self.compose, on_spawn=self.watchdog.track)
            self.enter("up", f"attempt {attempt}, port {port}")
            with self._ci_group(f"docker compose up ({self.project})"):
                result = self.compose.up(
                    self.config.up_timeout,
                    on_line=lambda text: self.log.harness(f"compose: {text}"),
                    on_idle=self._heartbeat(
                        "docker compose up (pulling images, starting containers)", self.config.up_timeout
                    ),
                )
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
            # Only the port goes back: the cache build lock stays held, as this run still means to
            # build its entry (released, a second run could start building the same key).
            if self.lease is not None:
                self.lease.release()
                self.lease = None
        raise EnvironmentProblem(
            f"docker compose up lost its port {self.config.up_attempts} times; ports tried: {sorted(tried)}"
        )

    def override_files(self) -> tuple[Path, ...]:
        """Compose files written for this run on top of the configured ones: addons folders, requirements image."""
        mounts = addons_path.override_file(self.config, self.artefacts / "addons.override.yml")
        return (*(() if mounts is None else (mounts,)), *(self.image_files or ()))

    def prepare_image(self) -> None:
        """Before a port is leased: the requirements image, built or reused (harness/requirements.py)."""
        if self.image_files is not None:
            return
        # No port yet: `config` only resolves the image names (ODOO_PORT must merely be set).
        probe = Compose(self.project, (*self.config.compose_files, *self.override_files()), compose_env(self.config, 0))
        wanted = requirements.for_module(self.config, self.module) or self.extra_requirements
        resolve = wanted or self.config.browser
        images = service_images(dbcache_steps.resolved_config(probe, self.config)) if resolve else {}
        service = self.config.odoo_service
        if self.config.browser and images.get(service):
            # The browser image is the base the requirements (if any) are installed on.
            self.enter("browser")
            images = {**images, service: browser.build_image(self.config, images[service], self.log.harness)}
        if wanted:
            self.enter("requirements")
        self.image_files = requirements.for_run(
            self.config, self.module, images, self.artefacts, self.log.harness, self.extra_requirements
        )
        if self.config.browser and not self.image_files and images.get(service):
            # No requirements image on top: the odoo service runs the browser image itself.
            target = self.artefacts / "browser.override.yml"
            self.image_files = (requirements.override_file(self.config, images[service], target),)

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

    def ready_with_database(self) -> None:
        """Readiness and the database phase, in the order that costs least.

        A cache hit's checks and filestore copy (about 0.5 s) need only the two containers, not
        Odoo's server: they run while the server boots, before the readiness wait, which is then
        that much shorter. A build (tens of seconds) waits for readiness first, so that a server
        that fails at boot is reported at once.
        """
        if self.cache is not None and self.cache.plan.mode == "hit":
            self.prepare_database()
            self.wait_ready()
        else:
            self.wait_ready()
            self.prepare_database()

    def prepare_database(self) -> None:
        """With the database cache: restore the entry's filestore, or build the entry (harness/dbcache.py)."""
        assert self.compose is not None
        if self.cache is None or not self.cache.plan.uses_cache:
            return
        mode = self.cache.plan.mode
        self.enter("database", f"cache {mode}: {self.cache.plan.image}")
        dbcache_steps.before_tests(
            self.compose,
            self.cache,
            self.config,
            on_line=lambda line: self.log.line(f"[cache] {line}"),
            log=self.log.harness,
        )

    def cache_report(self) -> CacheReport | None:
        """What the database cache did for this run (None: the run stopped before deciding)."""
        if self.cache is None:
            return None
        return CacheReport(self.cache.state, self.cache.why, self.cache.plan.key)

    def run_tests(self) -> None:
        """Stream the module's test run to the console and the proof logs."""
        assert self.compose is not None
        tags = self.selection.test_tags if self.selection else None
        command = odoo_command.build_test_command(self.config, self.module, test_tags=tags)
        if self.module_dir is not None:
            command = coverage_report.wrap(command, coverage_report.container_module_dir(self.config, self.module_dir))
        shown = odoo_command.redact(command, self.secrets)
        self.enter("tests", " ".join(shown))
        (self.artefacts / "command.txt").write_text(
            " ".join(self.compose.exec_argv(self.config.odoo_service, shown)) + "\n"
        )

        def on_line(line: str) -> None:
            self.odoo_log.feed(line)
            self.log.line(line)

        outcome = self.stream_tests(self.module, command, on_line)
        self.test_seconds = outcome.seconds
        self.timed_out = outcome.timed_out
        self.odoo_exit = outcome.returncode
        if outcome.timed_out:
            self.log.harness(f"the test phase outlived its timeout of {self.config.test_timeout:.0f} s and was stopped")

    def judge(self) -> None:
        """Record the rules' judgement of Odoo's exit code and log, and the summary line."""
        self.analysis = analysis = self.odoo_log.result()
        tested = has_tests(check_module(self.config.addons_path, self.module))
        self.judgement = judge(
            self.odoo_exit,
            analysis,
            self.module,
            timed_out=self.timed_out,
            selection=self.selection,
            has_tests=tested,
        )
        self.summary = f"{self.module}: {Counts.from_analysis(analysis).describe()} in {self.test_seconds:.1f} s"
        no_browser = browser.skipped_for_browser(analysis.skipped, self.module)
        note = browser.skip_note(len(no_browser), self.config.browser)
        if note is not None:
            self.log.harness(f"{note[1]} ({', '.join(s.name for s in no_browser[:5])})")
            self.extras["browser_skipped"] = [s.name for s in no_browser]
            self.notes.append(note)

    def measure_coverage(self) -> None:
        """--coverage: copy the data out, report it mapped to the repository; --fail-under has its own rule."""
        if self.module_dir is None or self.compose is None:
            return
        folder = self.artefacts / "coverage"
        folder.mkdir(parents=True, exist_ok=True)
        data = folder / ".coverage.container"
        failed = keepdb.exec_to_file(
            self.compose, self.config.odoo_service, ["cat", coverage_report.CONTAINER_DATA], data,
            self.config.command_timeout,
        )  # fmt: skip
        try:
            if failed:
                raise EnvironmentProblem(f"no coverage data in the container ({failed})")
            where = coverage_report.container_module_dir(self.config, self.module_dir)
            summary = coverage_report.report(data, self.module_dir, where, folder, self.config.root)
            if self.config.coverage_changed:
                summary = coverage_report.diff_coverage(
                    summary, self.config.coverage_changed, self.config.root, self.config.command_timeout
                )
        except HarnessError as exc:
            self.log.harness(f"coverage: {exc.message}")
            self.notes.append(("coverage", f"not measured: {exc.message}"))
            return
        self.log.harness(f"coverage {summary.percent:.1f} %: {summary.xml}, {summary.html}/index.html")
        self.extras["coverage"] = summary.to_json()
        self.notes += coverage_report.rows(summary, shown_path(summary.xml), shown_path(summary.html))
        below = coverage_report.rule(summary, self.config.fail_under)
        if below is not None:
            self.rules_failed.append(below)  # harness.outcome.decide: it fails a pass, and is a reason

    def keep_database(self) -> None:
        """--keep-db-on-failure: a failing verdict keeps the test database and filestore (harness/keepdb.py)."""
        judgement = self.judgement
        if not self.config.keep_db_on_failure or judgement is None or judgement.passed or self.compose is None:
            return
        try:
            kept = keepdb.keep(self.compose, self.config, self.artefacts, f"{self.module}_failed")
        except HarnessError as exc:  # the verdict stands; the user learns why there is no dump
            self.log.harness(f"could not keep the test database: {exc.message}")
            return
        self.log.harness(f"test database kept in {kept.dump}; restore it with: {kept.restore_command}")
        self.extras["kept_database"] = kept.to_json()
        self.notes += keepdb.rows(kept, shown_path(self.artefacts))

    def keep_browser_files(self) -> None:
        """--browser: copy Odoo's screenshots and screencasts (a failing tour's) into the artefacts."""
        if not self.config.browser or self.compose is None:
            return
        folder = self.artefacts / browser.ARTEFACTS_FOLDER
        archive = self.artefacts / "browser-files.tar"
        where = Path(browser.CONTAINER_FILES)
        failed = keepdb.exec_to_file(
            self.compose, self.config.odoo_service, ["tar", "-C", str(where.parent), "-cf", "-", where.name],
            archive, self.config.command_timeout,
        )  # fmt: skip
        try:
            if failed:
                # No folder: Odoo saved nothing (no tour failed).
                self.log.harness(f"browser: no screenshots in {where} ({failed})")
                return
            files = browser.extract_files(archive, folder)
        except (OSError, tarfile.TarError) as exc:
            self.log.harness(f"browser: could not keep the screenshots: {exc}")
            return
        finally:
            archive.unlink(missing_ok=True)
        if files:
            self.extras["browser_files"] = [str(p) for p in files]
            self.notes.append(("screenshots", f"{len(files)} file(s) in {shown_path(folder)}"))
            self.log.harness(f"browser: {len(files)} screenshot/screencast file(s) kept in {folder}")

    # --- progress

    def stream_tests(self, module: str, command: list[str], on_line: Callable[[str], None]) -> proc.StreamResult:
        """Run a test command in the Odoo service, each line to `on_line`, Odoo's output fenced for CI."""
        assert self.compose is not None
        with self._ci_group(f"Odoo: {module}'s tests", untrusted=True):
            outcome = proc.stream(
                self.compose.exec_argv(self.config.odoo_service, command),
                on_line,
                timeout=self.config.test_timeout,
                env=self.compose.environment(),
                poll=self.config.ready_poll_interval,
                on_spawn=self.compose.on_spawn,
                on_idle=self._heartbeat(f"Odoo to finish {module}'s tests", self.config.test_timeout, SILENCE_REPORT),
            )
        if outcome.returncode != 0 and not outcome.timed_out:
            self.check_environment_survived(module, outcome.returncode)
        return outcome

    def check_environment_survived(self, module: str, returncode: int | None = None) -> None:
        """A test process that ended because its environment did is exit 3, not the module's failure.

        An engine restarted or stopped mid-run (or a container killed under the tests) ends
        `compose exec` with a code of its own and a log cut short: judged as a failure, the run
        would blame the module. So a test process that did not exit 0 is followed by a look at
        the Odoo container: gone, not running, or an engine that does not answer is an
        EnvironmentProblem (teardown, then exit 3). A process killed by a signal (killed_by_signal) may
        have died of an engine on its way down whose API still says "running" for a moment: the
        look is repeated for KILLED_SETTLE seconds before the code is left to the module (Odoo's
        own 255, a registry that failed to load, is no signal and is judged at once).
        """
        deadline = time.monotonic() + (KILLED_SETTLE if killed_by_signal(returncode) else 0.0)
        while True:
            self._look_at_environment(module)
            if time.monotonic() >= deadline:
                return
            time.sleep(KILLED_SETTLE_POLL)

    def _look_at_environment(self, module: str) -> None:
        service = self.config.odoo_service
        try:
            state = engine.service_state(self.connect(), self.project, service)
        except Exception as exc:  # noqa: BLE001 - docker.errors.*, requests' connection errors
            raise EnvironmentProblem(
                f"the engine stopped answering while {module}'s tests ran ({type(exc).__name__}: {exc}); "
                "their result is not the module's: check the engine (`docker info`) and run again"
            ) from exc
        if state is None or state.status != "running":
            status = "gone" if state is None else f"{state.status} (exit code {state.exit_code})"
            raise EnvironmentProblem(
                f"the {service} container is {status} after {module}'s tests: the environment stopped under "
                "the test process (an engine restart, or the container was stopped or killed); its result is "
                "not the module's: run again"
            )

    def _heartbeat(self, what: str, timeout: float, every: float | None = None) -> Callable[[float], None]:
        """An on_idle callback: while a command prints nothing, say what the run waits for, every so often."""
        interval = self.config.progress_interval if every is None else every
        next_report = [interval]

        def report_silence(seconds: float) -> None:
            if seconds >= next_report[0]:
                self.log.harness(f"phase {self.phase}: waiting for {what}, {seconds:.0f} s of {timeout:.0f} s so far")
                next_report[0] = seconds + interval

        return report_silence

    def use_secrets(self, secrets: list[str]) -> None:
        """Hide these passwords from every line the run prints and every file it writes."""
        self.secrets = secrets
        self.log.redact = lambda text: odoo_command.redact_text(text, secrets)

    @contextlib.contextmanager
    def _ci_group(self, title: str, *, untrusted: bool = False) -> Iterator[None]:
        """Fold what is printed inside into one group of the CI log (GitHub Actions only).

        `untrusted` output (Odoo's) is also fenced by `::stop-commands::<token>`: only the
        harness's own lines are workflow commands.
        """
        stop, resume = github.stop_commands() if self.ci and untrusted else ("", "")
        if self.ci:
            self.log.console(github.group(title))
        if stop:
            self.log.console(stop)
        try:
            yield
        finally:
            if resume:
                self.log.console(resume)
            if self.ci:
                self.log.console(github.END_GROUP)

    # --- failure evidence and teardown

    def save_service_logs(self) -> None:
        """Keep every service's log before the teardown destroys it."""
        if self.compose is None:
            return
        folder = self.artefacts / "services"
        try:
            folder.mkdir(parents=True, exist_ok=True)
            for service in self.compose.services(self.config.command_timeout):
                text = self.compose.logs(service, self.config.command_timeout)
                (folder / f"{service}.log").write_text(odoo_command.redact_text(text, self.secrets))
            self.log.harness(f"service logs saved in {folder}")
        except HarnessError as exc:
            self.log.harness(f"could not save service logs: {exc.message}")
        except OSError as exc:
            self.write_problems.append(f"could not save service logs in {folder}: {exc.strerror}")
            self.log.harness(self.write_problems[-1])

    def release_port(self) -> None:
        """Give the port (and a database cache build lock) back to other runs."""
        if self.lease is not None:
            self.lease.release()
            self.lease = None
        if self.cache is not None:
            self.cache.release()

    def clean_up(self) -> CleanupReport | None:
        """Exactly once: down, verify by label, disarm the watchdog."""
        if self.compose is None:
            return None
        self.enter(
            "teardown", f"docker compose -p {self.project} down -v --remove-orphans -t {self.config.stop_timeout}"
        )
        try:
            report = teardown(self.compose, self.connect, self.config)
        except Exception as exc:  # noqa: BLE001 - whatever broke, the result must say the project may be left
            report = CleanupReport(
                self.project, None, unknown_leftovers(self.project), 0.0, False, f"teardown failed: {exc!r}"
            )
        self.log.harness(
            f"cleanup of {self.project} took {report.seconds:.1f} s; "
            + ("nothing left" if report.clean else f"LEFT BEHIND: {report.leftovers.describe()} {report.error}")
        )
        if report.clean:
            remove_owner(self.config, self.project)
            if self.watchdog is not None:
                self.watchdog.disarm()
        return report
