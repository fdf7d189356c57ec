"""Validation demonstrations (the work order's section 9): one registry, each judged and written as proof.

`DEMONSTRATIONS` is the one list: the CLI's `validate` names, the noxfile's `validate_*`
sessions and PROOF.md's headings are all made from it.
"""

from __future__ import annotations

import dataclasses
import os
import shlex
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from datetime import datetime, timezone
from pathlib import Path

from harness import docker_cli, engine, ports, proc
from harness.config import Config
from harness.errors import ExitCode
from harness.hashing import content_hash
from harness.modules import check_module
from harness.odoo_command import known_secrets, redact_text, shown_setting
from harness.phases import PHASE_MARK
from harness.proof import HARNESS_TAG, tail
from harness.result import RunResult
from harness.run import run_module
from harness.validation.report import Demonstration, proof_markdown, write_proof_folder

LOG_TAIL = 100
INJECTED_TEST = '''from odoo.tests import TransactionCase


class TestHarnessInjectedFailure(TransactionCase):
    """Injected by `nox -s validate_failure` into a temporary copy; never in the source tree."""

    def test_injected_failure(self):
        self.assertEqual(True, False)
'''
# Keeps odoo from ever serving: the same override works for the real and the stand-in image.
NEVER_READY_OVERRIDE = """services:
  odoo:
    entrypoint: ["sleep", "infinity"]
    command: []
"""
# How long the healthcheck-timeout demonstration waits: short, so the proof is quick.
HEALTHCHECK_DEMO_TIMEOUT = 15.0
CHILD_TIMEOUT = 600.0
INTERRUPT_PHASES = ("up", "readiness", "tests")


@dataclasses.dataclass(frozen=True)
class Options:
    """What the command line may tell a demonstration."""

    interrupt_phase: str = "tests"


def cleanup_check(config: Config) -> tuple[str, bool]:
    """The work order's cleanup proof: `docker ps -a --filter name=<prefix>-agent-test`, plus networks and volumes."""
    name_filter = f"name={config.project_prefix.rstrip('-')}"
    commands = (
        ["ps", "-a", "--filter", name_filter],
        ["network", "ls", "--filter", name_filter],
        ["volume", "ls", "--filter", name_filter],
    )
    lines: list[str] = []
    empty = True
    for args in commands:
        result = docker_cli.run(args, timeout=config.command_timeout, check=False)
        rows = result.stdout.strip().splitlines()
        lines.append(f"$ docker {shlex.join(args)}")
        lines.extend(rows or ["(no output)"])
        # The first row is the table header; anything more is a leftover.
        empty = empty and result.ok and len(rows) <= 1
    return "\n".join(lines), empty


def _folder(config: Config, name: str) -> Path:
    stamp = datetime.now(timezone.utc).strftime("%Y%m%dT%H%M%SZ")
    folder = config.validation_dir / f"{stamp}-{name}"
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def _collect(demo: Demonstration, config: Config, observed_exit: int | None) -> None:
    """Record the exit code, keep the test log and its tail, and check that nothing was left."""
    assert demo.folder is not None
    demo.observed_exit = observed_exit
    if config.log_file.is_file():
        shutil.copy2(config.log_file, demo.folder / config.log_file.name)
    demo.log_tail = tail(config.log_file, LOG_TAIL)
    demo.cleanup_check, empty = cleanup_check(config)
    demo.expect(
        empty, f"`docker ps -a --filter name={config.project_prefix.rstrip('-')}` (and networks, volumes) empty"
    )


def _finish_run(demo: Demonstration, config: Config, result: RunResult) -> None:
    """A run made in this process: its evidence, its artefacts and its own cleanup check."""
    assert demo.folder is not None
    if result.artefacts is not None and result.artefacts.is_dir():
        shutil.copytree(result.artefacts, demo.folder / "run", dirs_exist_ok=True)
    if result.cleanup is not None:
        demo.expect(result.cleanup.clean, f"the run's own check: nothing with label {result.project}")
    _collect(demo, config, result.exit_code)


def success(config: Config, demo: Demonstration, options: Options) -> None:
    """A normal run: exit 0, the passing summary, nothing left."""
    result = run_module(config, config.validation_module)
    _finish_run(demo, config, result)
    demo.expect(result.exit_code == ExitCode.PASSED, f"exit code 0 (got {result.exit_code})")
    demo.expect(bool(result.summary) and "0 failures, 0 errors" in result.summary, f"summary: {result.summary!r}")


def failure(config: Config, demo: Demonstration, options: Options) -> None:
    """A failing test injected into a temporary copy of the module; the source tree stays byte-for-byte."""
    module = config.validation_module
    folder = check_module(config.addons_path, module).parent
    before = content_hash([("addons", folder)])
    with tempfile.TemporaryDirectory(prefix="harness-validate-") as tmp:
        addons = Path(tmp) / "addons"
        shutil.copytree(folder, addons, ignore=shutil.ignore_patterns("__pycache__"))
        tests = addons / module / "tests"
        tests.mkdir(exist_ok=True)
        (tests / "test_harness_injected_failure.py").write_text(INJECTED_TEST, encoding="utf-8")
        init = tests / "__init__.py"
        init.write_text(
            (init.read_text(encoding="utf-8") if init.exists() else "")
            + "\nfrom . import test_harness_injected_failure\n",
            encoding="utf-8",
        )
        os.chmod(addons, 0o755)  # the container's user must read the copy
        # The copy takes the place of the module's folder; the other folders stay as configured.
        copied = tuple(addons if p == folder else p for p in config.addons_path)
        dependencies = tuple(addons if p == folder else p for p in config.dependency_addons)
        result = run_module(config.with_overrides(addons_path=copied, dependency_addons=dependencies), module)
    after = content_hash([("addons", folder)])
    _finish_run(demo, config, result)
    demo.expect(result.exit_code not in (ExitCode.PASSED,), f"non-zero exit code (got {result.exit_code})")
    demo.expect(result.exit_code == ExitCode.TESTS_FAILED, "exit code 1: the tests failed, not the environment")
    # The whole log, not its tail: real Odoo prints a hundred lines and more after a FAIL block.
    log = demo.folder / config.log_file.name if demo.folder is not None else config.log_file
    lines = log.read_text(encoding="utf-8", errors="replace").splitlines() if log.is_file() else []
    at = next((i for i, line in enumerate(lines) if "FAIL:" in line and "test_injected_failure" in line), None)
    demo.expect(at is not None, "the log shows `FAIL: TestHarnessInjectedFailure.test_injected_failure`")
    if at is not None:
        end = next((i for i in range(at, len(lines)) if lines[i].startswith("AssertionError")), at)
        demo.excerpt = lines[at : end + 1]
    demo.expect(before == after, f"source tree unchanged: sha256 {before[:16]}… before and {after[:16]}… after")


def _read_until_phase(child: subprocess.Popen[str], phase: str, echo: Callable[[str], None]) -> bool:
    """Echo the child's output until it reports `phase`; False if it ended first.

    For `tests`, also until Odoo's first line: then the test process really runs in the container.
    """
    assert child.stdout is not None
    marker = f"{HARNESS_TAG} {PHASE_MARK} {phase}"
    reached = False
    for line in child.stdout:
        echo(line.rstrip("\n"))
        if line.startswith(marker):
            reached = True
            if phase != "tests":
                return True
        elif reached and not line.startswith(HARNESS_TAG):
            return True
    return False


def interrupt(config: Config, demo: Demonstration, options: Options) -> None:
    """SIGINT to a child run once it reports `phase`: exit 130, the log says where, nothing left."""
    phase = options.interrupt_phase
    module = (
        config.validation_module
        if phase != "tests"
        else (config.validation_interrupt_module or config.validation_module)
    )
    argv = [sys.executable, "-m", "harness", "run", module]
    env = {**os.environ, "HARNESS_ROOT": str(config.root), "PYTHONUNBUFFERED": "1"}
    demo.command = f"{shlex.join(argv)}  # then SIGINT to its process group at phase {phase!r}"
    # A session of its own: the SIGINT below reaches the run's group only, as a terminal's would.
    child = proc.spawn(argv, env=env, cwd=config.root, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    try:
        reached = _read_until_phase(child, phase, print)
        demo.expect(reached, f"the run reported `{PHASE_MARK} {phase}` before ending")
        if reached:
            os.killpg(child.pid, signal.SIGINT)  # what Ctrl+C does: the whole foreground group
            print(f"{HARNESS_TAG} validate: sent SIGINT to process group {child.pid} at phase {phase}", flush=True)
        assert child.stdout is not None
        for line in child.stdout:
            print(line.rstrip("\n"), flush=True)
        child.wait(timeout=CHILD_TIMEOUT)
    finally:
        if child.poll() is None:
            proc.stop(child)
    assert demo.folder is not None
    _collect(demo, config, child.returncode)
    demo.expect(child.returncode == ExitCode.SIGINT, f"exit code 130 (got {child.returncode})")
    # The log ends with the final block; its reason line says which signal stopped which phase.
    said = next((line for line in reversed(demo.log_tail) if "interrupted by SIGINT" in line), "")
    demo.expect(f"during phase {phase}" in said, f"the log's final block says: {said!r}")


def port_exhaustion(config: Config, demo: Demonstration, options: Options) -> None:
    """Every port of the range held by listening sockets: exit 3 with the message, no container created."""
    free = [p for p in config.ports if ports.port_is_bindable(p, config.publish_host)]
    client = engine.connect(config.command_timeout)
    since = int(time.time()) - 1
    with ports.hold_ports(free, config.publish_host):
        result = run_module(config, config.validation_module)
    until = int(time.time()) + 1
    _finish_run(demo, config, result)
    demo.expect(result.exit_code == ExitCode.ENVIRONMENT, f"exit code 3 (got {result.exit_code})")
    demo.expect(
        f"No available ports in range {config.port_range_text}" in result.message, f"message: {result.message!r}"
    )
    created = [
        event
        for event in client.events(
            since=since,
            until=until,
            decode=True,
            filters={"type": "container", "event": "create", "label": f"{engine.PROJECT_LABEL}={result.project}"},
        )
    ]
    demo.expect(not created, f"the engine saw {len(created)} container create event(s) for {result.project}")


def healthcheck_timeout(config: Config, demo: Demonstration, options: Options) -> None:
    """Odoo never ready, a short timeout: exit 3, service logs saved, nothing left."""
    assert demo.folder is not None
    override = demo.folder / "never-ready.override.yml"
    override.write_text(NEVER_READY_OVERRIDE, encoding="utf-8")
    timeout = min(config.ready_timeout, HEALTHCHECK_DEMO_TIMEOUT)
    result = run_module(
        config.with_overrides(compose_files=(*config.compose_files, override), ready_timeout=timeout),
        config.validation_module,
    )
    _finish_run(demo, config, result)
    demo.expect(result.exit_code == ExitCode.ENVIRONMENT, f"exit code 3 (got {result.exit_code})")
    demo.expect("not ready after" in result.message, f"message: {result.message!r}")
    logs = sorted((demo.folder / "run" / "services").glob("*.log"))
    demo.expect(len(logs) >= 2, f"service logs saved: {', '.join(p.name for p in logs) or 'none'}")


@dataclasses.dataclass(frozen=True)
class Spec:
    """One demonstration: its PROOF.md heading, what proves it, its one-line summary and its code."""

    name: str
    title: str
    expected: str
    summary: str
    run: Callable[[Config, Demonstration, Options], None]
    takes_phase: bool = False  # `-- --phase=up|readiness|tests`

    @property
    def session(self) -> str:
        """The nox session that runs it alone."""
        return f"validate_{self.name}"


DEMONSTRATIONS: dict[str, Spec] = {
    spec.name: spec
    for spec in (
        Spec(
            "success",
            "9.1 Successful Test Run",
            "exit 0, passing summary, nothing left",
            "A normal run of the configured module: exit 0, passing summary, nothing left.",
            success,
        ),
        Spec(
            "failure",
            "9.2 Intentional Failure Demonstration",
            "exit 1, FAIL line in the log, source unchanged, nothing left",
            "A failing test injected into a temporary copy of the module: non-zero, FAIL line, source unchanged.",
            failure,
        ),
        Spec(
            "interrupt",
            "9.3 Interrupted Execution Test",
            "exit 130, log ends saying interrupted in which phase, nothing left",
            "SIGINT once the run reports a phase (`-- --phase=up|readiness|tests`): exit 130, nothing left.",
            interrupt,
            takes_phase=True,
        ),
        Spec(
            "port_exhaustion",
            "9.4 Port Allocation Test",
            "exit 3 with `No available ports in range`, no container created",
            "Every port of the range held: exit 3 with the port message, no container created.",
            port_exhaustion,
        ),
        Spec(
            "healthcheck_timeout",
            "9.4a Healthcheck Timeout (optional)",
            "exit 3, service logs saved, nothing left",
            "Odoo never ready, short timeout: exit 3, service logs saved, nothing left.",
            healthcheck_timeout,
        ),
    )
}


def run_one(config: Config, name: str, options: Options) -> Demonstration:
    """Run one demonstration, judge it, and write its folder under validation/."""
    spec = DEMONSTRATIONS[name]
    session = spec.session + (f" -- --phase={options.interrupt_phase}" if spec.takes_phase else "")
    # The HARNESS_* settings in force belong to the command: without them nobody could repeat it.
    # A password's value is never written (command.txt, result.json, PROOF.md): `***` stands for it.
    settings = " ".join(shown_setting(k, v) for k, v in sorted(os.environ.items()) if k.startswith("HARNESS_"))
    command = f"{settings} nox -s {session}".strip()
    demo = Demonstration(name, spec.title, command, spec.expected, folder=_folder(config, name))
    print(f"{HARNESS_TAG} validate: {spec.title}: expecting {spec.expected}", flush=True)
    started = time.monotonic()
    try:
        spec.run(config, demo, options)
    except Exception as exc:  # the demonstration itself broke: a failed proof, not a crash
        demo.failures.append(f"the demonstration raised {exc!r}")
    demo.seconds = round(time.monotonic() - started, 1)
    demo.ok = not demo.failures
    write_proof_folder(demo, known_secrets(config))
    verdict = "PROVEN" if demo.ok else "NOT PROVEN"
    print(f"{HARNESS_TAG} validate: {name}: {verdict} (exit {demo.observed_exit}, {demo.seconds} s)", flush=True)
    for failed in demo.failures:
        print(f"{HARNESS_TAG} validate:   failed check: {failed}", flush=True)
    return demo


def run_validations(config: Config, names: list[str], *, interrupt_phase: str = "tests") -> int:
    """Run the named demonstrations (all when none), write PROOF.md for a full run; 0 only if all were proven."""
    unknown = sorted(set(names) - set(DEMONSTRATIONS))
    if unknown:
        known = ", ".join(DEMONSTRATIONS)
        print(f"unknown demonstration(s): {', '.join(unknown)}; known: {known}", file=sys.stderr)
        return ExitCode.USAGE
    options = Options(interrupt_phase=interrupt_phase)
    demos = [run_one(config, name, options) for name in (names or DEMONSTRATIONS)]
    if not names:
        proof = redact_text(proof_markdown(config, demos), known_secrets(config))
        (config.validation_dir / "PROOF.md").write_text(proof, encoding="utf-8")
        print(f"{HARNESS_TAG} validate: wrote {config.validation_dir / 'PROOF.md'}", flush=True)
    for demo in demos:
        print(f"{HARNESS_TAG} validate: {demo.name:20} {'PROVEN' if demo.ok else 'NOT PROVEN'}", flush=True)
    return ExitCode.PASSED if all(d.ok for d in demos) else ExitCode.TESTS_FAILED
