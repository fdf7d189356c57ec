"""Grouped runs: several modules with the same dependencies tested in one environment, each in its own database.

    python -m harness run-group a b c      (what `run a b c` starts for modules sharing a cache entry)

One Compose project, one `up`, one readiness wait, one teardown; then, for each module in turn,
a fresh database copied from the cache entry's (`CREATE DATABASE ... TEMPLATE`, plus its
filestore) and the very test command a single run gives that module, with only `-d` changed.
So each module starts from the same database content as its single run, its install cannot
touch another module's database, and its verdict comes from its own test process's exit code and
log through the same judge: it is the single run's verdict. Every module gets its own result.json
and junit.xml (artefacts/<project>/<module>/); the guarded run's teardown covers them all.
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import TextIO

from harness import dbcache, dbcache_steps, github, odoo_command, report, requirements
from harness.compose import Compose, compose_env
from harness.config import Config
from harness.dependencies import Unresolvable, dependency_closure, image_manifests, user_manifests
from harness.errors import EnvironmentProblem, ExitCode
from harness.modules import check_module
from harness.naming import project_name
from harness.odoo_log import LogAnalyser, LogAnalysis
from harness.outcome import Outcome, SignalSeen, Stop, decide, decide_member
from harness.records import PhaseTime, utc_stamp
from harness.result import Counts, RunResult, failed_tests
from harness.run import GuardedRun
from harness.verdict import Judgement, judge

# The key of modules that share an environment without a cache entry (the cache is off).
UNCACHED = "uncached"


@dataclasses.dataclass
class ModuleRun:
    """One module's test process inside the group: what its single run would have known."""

    module: str
    database: str
    artefacts: Path
    started_at: str
    analyser: LogAnalyser
    seconds: float = 0.0
    odoo_exit: int | None = None
    timed_out: bool = False
    analysis: LogAnalysis | None = None
    judgement: Judgement | None = None
    phase: PhaseTime | None = None


def cache_groups(config: Config, modules: Sequence[str]) -> dict[str, str]:
    """{module: key}: modules with the same key start from the same cache entry (their dependency closure).

    A module whose closure cannot be computed has no key (it runs alone, as a single run would
    go uncached). With the cache off every module shares one key: each gets a new database anyway.
    """
    if not config.db_cache:
        return {module: group_key(UNCACHED, _requirement_lines(config, module)) for module in modules}
    compose = Compose(f"{config.project_prefix}plan", config.compose_files, compose_env(config, config.port_range[0]))
    images = dbcache.service_images(dbcache_steps.resolved_config(compose, config))
    odoo_ref = images.get(config.odoo_service)
    odoo_id = dbcache.image_id(odoo_ref, config.command_timeout) if odoo_ref else None
    if not odoo_ref or odoo_id is None:
        return {}
    try:
        manifests = {**image_manifests(odoo_ref, odoo_id, config), **user_manifests(config.addons_path)}
    except Unresolvable:
        return {}
    keys: dict[str, str] = {}
    for module in modules:
        try:
            closure = ",".join(dependency_closure(module, manifests))
            keys[module] = group_key(closure, _requirement_lines(config, module))
        except Unresolvable:
            continue
    return keys


def group_key(closure: str, requirement_lines: Iterable[str]) -> str:
    """What modules must share to share an environment: the dependency closure and the requirement lines.

    The group's odoo image is built for its first module's requirements (its manifests'
    external_dependencies): a module that needs other packages would fail to install in it
    where its single run, on its own image, would not. Order and duplicates do not count.
    """
    lines = sorted({line.strip() for line in requirement_lines if line.strip()})
    return "|".join([closure, *lines])


def _requirement_lines(config: Config, module: str) -> list[str]:
    """The lines a single run of `module` asks pip for beyond the requirement files (which all share)."""
    return [r.line for r in requirements.manifest_requirements(config, module)]


class GroupRun(GuardedRun):
    """One environment, the modules' tests one after the other, each in its own copy of the database."""

    def __init__(self, config: Config, modules: Sequence[str], *, echo: TextIO | None = None) -> None:
        if len(modules) < 1:
            raise ValueError("a group needs at least one module")
        super().__init__(config, modules[0], echo=echo)
        self.modules = tuple(modules)
        self.project = project_name(config.prefix, f"group-{modules[0]}")
        self.artefacts = config.artefacts_dir / self.project
        self.runs: list[ModuleRun] = []
        self.results: list[RunResult] = []

    def phases(self) -> None:
        """Preflight for every module, one environment, then each module's tests in its own database."""
        self.preflight()
        for module in self.modules[1:]:
            check_module(self.config.addons_path, module)
        self.log.harness(f"one environment for {len(self.modules)} modules: {', '.join(self.modules)}")
        self.start_environment()
        self.ready_with_database()
        for index, module in enumerate(self.modules, start=1):
            self.test_module(module, f"{self.config.db_name}_{index}")
        self.save_service_logs()

    def test_module(self, module: str, database: str) -> None:
        """A fresh copy of the prepared database, then the module's own test command against it."""
        assert self.compose is not None
        run = ModuleRun(
            module, database, self.artefacts / module, utc_stamp(time.time()), LogAnalyser(module, database)
        )
        self.runs.append(run)
        self.enter("database", f"{module}: a copy of the prepared database as {database}")
        if self._prepared():
            copy_database(self.compose, self.config, database)
        command = odoo_command.build_test_command(self.config, module, database=database)
        shown = odoo_command.redact(command, self.secrets)
        self.enter("tests", f"{module}: " + " ".join(shown))
        run.artefacts.mkdir(parents=True, exist_ok=True)
        (run.artefacts / "command.txt").write_text(
            " ".join(self.compose.exec_argv(self.config.odoo_service, shown)) + "\n"
        )
        started = time.monotonic()
        with open(run.artefacts / "odoo.log", "w", encoding="utf-8") as own_log:

            def on_line(line: str) -> None:
                run.analyser.feed(line)
                own_log.write(line + "\n")
                self.log.line(line)

            outcome = self.stream_tests(module, command, on_line)
        run.seconds, run.odoo_exit, run.timed_out = outcome.seconds, outcome.returncode, outcome.timed_out
        run.phase = PhaseTime("tests", run.started_at, round(time.monotonic() - started, 3))
        run.analysis = run.analyser.result()
        run.judgement = judge(run.odoo_exit, run.analysis, module, timed_out=run.timed_out)
        self.log.harness(f"{module}: {'passed' if run.judgement.passed else 'FAILED'} (Odoo exit {run.odoo_exit})")

    def _prepared(self) -> bool:
        """Whether the test database holds the dependencies: a cache hit, or a build that completed.

        Otherwise (cache off, or a failed build, whose database was dropped) each module's test
        command creates its own new database, as an uncached single run does.
        """
        plan = None if self.cache is None else self.cache.plan
        if plan is None or plan.mode not in ("hit", "build"):
            return False
        return plan.mode == "hit" or (plan.folder is not None and (plan.folder / dbcache.ENTRY_FILE).is_file())

    # --- the results: one per module, written after the one teardown

    def _publish(self, result: RunResult) -> RunResult:
        """Each module's junit.xml, result.json and final block; then the group's line. Returns the group's result."""
        for module in self.modules:
            run = next((r for r in self.runs if r.module == module), None)
            module_result, analysis, judgement, seconds = self._module_result(module, run, result)

            def refused(problem: str, module: str = module, run: ModuleRun | None = run) -> RunResult:
                # A report the disk did not take is this module's exit 3, as in its single run.
                self.log.harness(f"ERROR: {problem}")
                return self._module_result(module, run, result, write_problem=problem)[0]

            self.results.append(
                report.publish(
                    self.log,
                    module_result,
                    analysis=analysis,
                    judgement=judgement,
                    test_seconds=seconds,
                    secrets=self.secrets,
                    ci=self.ci,
                    on_write_error=refused,
                )
            )
        self.log.harness(f"group {self.project}: {result.message or 'every module ran'} (exit {result.exit_code})")
        return result

    def _module_result(
        self, module: str, run: ModuleRun | None, group: RunResult, write_problem: str | None = None
    ) -> tuple[RunResult, LogAnalysis | None, Judgement | None, float]:
        """A module's RunResult: its own verdict once its test process ended, else how the group ended."""
        shared = [phase for phase in group.phases if phase.name not in ("database", "tests")]
        folder = self.artefacts / module
        judgement = run.judgement if run is not None else None
        if run is not None and judgement is None:
            run.analysis = run.analyser.result()  # stopped during its tests: what its log showed so far
        analysis = run.analysis if run is not None else None
        summary = ""
        if judgement is not None:
            assert run is not None and analysis is not None
            summary = f"{module}: {Counts.from_analysis(analysis).describe()} in {run.seconds:.1f} s"
        group_outcome = Outcome(ExitCode(group.exit_code), group.headline, group.message, group.reasons)
        outcome = decide_member(
            judgement,
            group=group_outcome,
            started=run is not None,
            summary=summary,
            counts=None if analysis is None else Counts.from_analysis(analysis),
            analysis=analysis,
            cleanup=group.cleanup,
            stops=() if write_problem is None else (Stop(EnvironmentProblem(write_problem), "report"),),
        )
        result = RunResult(
            module=module,
            project=self.project,
            exit_code=int(outcome.exit_code),
            message=outcome.message,
            phase="tests" if run is not None else group.phase,
            port=group.port,
            summary=summary,
            counts=None if analysis is None else Counts.from_analysis(analysis),
            failed_tests=[]
            if analysis is None
            else failed_tests(analysis, self.config, github.repository(self.config.root)),
            reasons=outcome.reasons,
            signal=group.signal,
            started_at=group.started_at,
            seconds=run.seconds if run is not None else 0.0,
            # The environment's phases, this module's tests in place of the others', then the teardown.
            phases=[
                *(phase for phase in shared if phase.name != "teardown"),
                *([run.phase] if run is not None and run.phase is not None else []),
                *(phase for phase in shared if phase.name == "teardown"),
            ],
            odoo_exit=run.odoo_exit if run is not None else None,
            cleanup=group.cleanup,
            artefacts=folder,
            log_file=self.config.log_file,
            junit_file=folder / "junit.xml",
        )
        return result, analysis, judgement, run.seconds if run is not None else 0.0

    def _decide(self) -> Outcome:
        """The group's own outcome: the environment's (a module's failing tests are not the group's)."""
        signals = [SignalSeen(n, phase) for n, phase in zip(self.guard.received, self.guard.received_in, strict=False)]
        return decide(judgement=None, stops=self.stops, signals=signals, cleanup=self.cleanup, judged=False)


def copy_database(compose: Compose, config: Config, database: str) -> None:
    """`CREATE DATABASE database TEMPLATE db_name` and a copy of the template's filestore beside it."""
    create = f'CREATE DATABASE "{database}" TEMPLATE "{config.db_name}"'
    argv = ["psql", "-v", "ON_ERROR_STOP=1", "-U", config.db_user, "-d", "postgres", "-c", create]
    result = compose.run("exec", "-T", config.db_service, *argv, timeout=config.command_timeout)
    if not result.ok:
        raise EnvironmentProblem(f"could not copy the prepared database as {database}: {result.output.strip()[-300:]}")
    source, target = f"{dbcache.FILESTORE_ROOT}/{config.db_name}", f"{dbcache.FILESTORE_ROOT}/{database}"
    copy = ["sh", "-c", 'if [ -d "$1" ]; then cp -a "$1" "$2"; fi', "copy", source, target]
    result = compose.run("exec", "-T", config.odoo_service, *copy, timeout=config.command_timeout)
    if not result.ok:
        raise EnvironmentProblem(
            f"could not copy the prepared filestore for {database}: {result.output.strip()[-300:]}"
        )


def run_group(config: Config, modules: Sequence[str], *, echo: TextIO | None = None) -> list[RunResult]:
    """Run the group inside the guard; one RunResult per module, in the order given."""
    run = GroupRun(config, modules, echo=echo)
    run.execute()
    return run.results
