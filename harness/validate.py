"""Validation demonstrations (the work order's section 9), each judged and written as proof."""

from __future__ import annotations

import dataclasses
import hashlib
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

from harness import engine, ports, proc
from harness.config import Config
from harness.errors import ExitCode
from harness.proof import HARNESS_TAG, tail, write_json
from harness.run import PHASE_MARK, RunResult, run_module

ALL = ("success", "failure", "interrupt", "port_exhaustion", "healthcheck_timeout")
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


@dataclasses.dataclass
class Demonstration:
    """One demonstration's outcome and where its proof lies."""

    name: str
    title: str
    command: str
    expected: str
    exit_code: int | None = None
    ok: bool = False
    checks: list[str] = dataclasses.field(default_factory=list)
    failures: list[str] = dataclasses.field(default_factory=list)
    seconds: float = 0.0
    folder: Path | None = None
    log_tail: list[str] = dataclasses.field(default_factory=list)
    cleanup_check: str = ""

    def expect(self, condition: bool, what: str) -> None:
        """Record one check; the demonstration passes only when all of them hold."""
        (self.checks if condition else self.failures).append(what)


def cleanup_check(config: Config) -> tuple[str, bool]:
    """The work order's cleanup proof: `docker ps -a --filter name=<prefix>-agent-test`, plus networks and volumes."""
    name_filter = f"name={config.prefix}-agent-test"
    commands = (
        ["docker", "ps", "-a", "--filter", name_filter],
        ["docker", "network", "ls", "--filter", name_filter],
        ["docker", "volume", "ls", "--filter", name_filter],
    )
    lines: list[str] = []
    empty = True
    for argv in commands:
        result = proc.run(argv, timeout=config.command_timeout)
        rows = result.stdout.strip().splitlines()
        lines.append(f"$ {shlex.join(argv)}")
        lines.extend(rows or ["(no output)"])
        # The first row is the table header; anything more is a leftover.
        empty = empty and result.ok and len(rows) <= 1
    return "\n".join(lines), empty


def tree_hash(root: Path) -> str:
    """A SHA-256 over every file's relative path and bytes under `root`."""
    digest = hashlib.sha256()
    for path in sorted(p for p in root.rglob("*") if p.is_file() and "__pycache__" not in p.parts):
        digest.update(str(path.relative_to(root)).encode())
        digest.update(b"\0")
        digest.update(path.read_bytes())
        digest.update(b"\0")
    return digest.hexdigest()


def _folder(config: Config, name: str) -> Path:
    stamp = datetime.now(timezone.utc).strftime("%Y%m%dT%H%M%SZ")
    folder = config.validation_dir / f"{stamp}-{name}"
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def _collect(demo: Demonstration, config: Config, exit_code: int | None) -> None:
    """Record the exit code, keep the test log and its tail, and check that nothing was left."""
    assert demo.folder is not None
    demo.exit_code = exit_code
    if config.log_file.is_file():
        shutil.copy2(config.log_file, demo.folder / config.log_file.name)
    demo.log_tail = tail(config.log_file, LOG_TAIL)
    demo.cleanup_check, empty = cleanup_check(config)
    demo.expect(empty, f"`docker ps -a --filter name={config.prefix}-agent-test` (and networks, volumes) empty")


def _finish_run(demo: Demonstration, config: Config, result: RunResult) -> None:
    """A run made in this process: its evidence, its artefacts and its own cleanup check."""
    assert demo.folder is not None
    if result.artefacts is not None and result.artefacts.is_dir():
        shutil.copytree(result.artefacts, demo.folder / "run", dirs_exist_ok=True)
    if result.cleanup is not None:
        demo.expect(result.cleanup.clean, f"the run's own check: nothing with label {result.project}")
    _collect(demo, config, result.exit_code)


def success(config: Config, demo: Demonstration) -> None:
    """A normal run: exit 0, the passing summary, nothing left."""
    result = run_module(config, config.validation_module)
    _finish_run(demo, config, result)
    demo.expect(result.exit_code == ExitCode.PASSED, f"exit code 0 (got {result.exit_code})")
    demo.expect(bool(result.summary) and "0 failures, 0 errors" in result.summary, f"summary: {result.summary!r}")


def failure(config: Config, demo: Demonstration) -> None:
    """A failing test injected into a temporary copy of the module; the source tree stays byte-for-byte."""
    module = config.validation_module
    before = tree_hash(config.addons_path)
    with tempfile.TemporaryDirectory(prefix="harness-validate-") as tmp:
        addons = Path(tmp) / "addons"
        shutil.copytree(config.addons_path, addons, ignore=shutil.ignore_patterns("__pycache__"))
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
        result = run_module(config.with_overrides(addons_path=addons), module)
    after = tree_hash(config.addons_path)
    _finish_run(demo, config, result)
    demo.expect(result.exit_code not in (ExitCode.PASSED,), f"non-zero exit code (got {result.exit_code})")
    demo.expect(result.exit_code == ExitCode.TESTS_FAILED, "exit code 1: the tests failed, not the environment")
    demo.expect(
        any("FAIL:" in line and "test_injected_failure" in line for line in demo.log_tail),
        "the log shows `FAIL: TestHarnessInjectedFailure.test_injected_failure`",
    )
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


def interrupt(config: Config, demo: Demonstration, phase: str) -> None:
    """SIGINT to a child run once it reports `phase`: exit 130, the log says where, nothing left."""
    module = (
        config.validation_module
        if phase != "tests"
        else (config.validation_interrupt_module or config.validation_module)
    )
    argv = [sys.executable, "-m", "harness", "run", module]
    env = {**os.environ, "HARNESS_ROOT": str(config.root), "PYTHONUNBUFFERED": "1"}
    demo.command = f"{shlex.join(argv)}  # then SIGINT to its process group at phase {phase!r}"
    child = subprocess.Popen(
        argv,
        cwd=config.root,
        env=env,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,
    )
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
    last = demo.log_tail[-1] if demo.log_tail else ""
    demo.expect("interrupted by SIGINT" in last and f"phase {phase}" in last, f"the log ends with: {last!r}")


def port_exhaustion(config: Config, demo: Demonstration) -> None:
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


def healthcheck_timeout(config: Config, demo: Demonstration) -> None:
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


TITLES = {
    "success": ("9.1 Successful Test Run", "exit 0, passing summary, nothing left"),
    "failure": (
        "9.2 Intentional Failure Demonstration",
        "exit 1, FAIL line in the log, source unchanged, nothing left",
    ),
    "interrupt": (
        "9.3 Interrupted Execution Test",
        "exit 130, log ends saying interrupted in which phase, nothing left",
    ),
    "port_exhaustion": ("9.4 Port Allocation Test", "exit 3 with `No available ports in range`, no container created"),
    "healthcheck_timeout": ("9.4a Healthcheck Timeout (optional)", "exit 3, service logs saved, nothing left"),
}


def run_one(config: Config, name: str, *, interrupt_phase: str = "tests") -> Demonstration:
    """Run one demonstration, judge it, and write its folder under validation/."""
    title, expected = TITLES[name]
    session = f"validate_{name}" + (f" -- --phase={interrupt_phase}" if name == "interrupt" else "")
    # The HARNESS_* settings in force belong to the command: without them nobody could repeat it.
    settings = " ".join(f"{k}={shlex.quote(v)}" for k, v in sorted(os.environ.items()) if k.startswith("HARNESS_"))
    command = f"{settings} nox -s {session}".strip()
    demo = Demonstration(name, title, command, expected, folder=_folder(config, name))
    print(f"{HARNESS_TAG} validate: {title}: expecting {expected}", flush=True)
    started = time.monotonic()
    try:
        if name == "interrupt":
            interrupt(config, demo, interrupt_phase)
        else:
            {
                "success": success,
                "failure": failure,
                "port_exhaustion": port_exhaustion,
                "healthcheck_timeout": healthcheck_timeout,
            }[name](config, demo)
    except Exception as exc:  # the demonstration itself broke: a failed proof, not a crash
        demo.failures.append(f"the demonstration raised {exc!r}")
    demo.seconds = round(time.monotonic() - started, 1)
    demo.ok = not demo.failures
    write_proof_folder(demo)
    verdict = "PROVEN" if demo.ok else "NOT PROVEN"
    print(f"{HARNESS_TAG} validate: {name}: {verdict} (exit {demo.exit_code}, {demo.seconds} s)", flush=True)
    for failed in demo.failures:
        print(f"{HARNESS_TAG} validate:   failed check: {failed}", flush=True)
    return demo


def write_proof_folder(demo: Demonstration) -> None:
    """command.txt, exit_code.txt, cleanup.txt and result.json in the demonstration's folder."""
    assert demo.folder is not None
    (demo.folder / "command.txt").write_text(demo.command + "\n", encoding="utf-8")
    (demo.folder / "exit_code.txt").write_text(f"{demo.exit_code}\n", encoding="utf-8")
    (demo.folder / "cleanup.txt").write_text(demo.cleanup_check + "\n", encoding="utf-8")
    write_json(
        demo.folder / "result.json",
        {
            "name": demo.name,
            "title": demo.title,
            "command": demo.command,
            "expected": demo.expected,
            "exit_code": demo.exit_code,
            "proven": demo.ok,
            "checks": demo.checks,
            "failed_checks": demo.failures,
            "seconds": demo.seconds,
        },
    )


def proof_markdown(config: Config, demos: list[Demonstration]) -> str:
    """PROOF.md, laid out as the work order's section 9, ready to paste into an issue."""
    out = [
        "# Proof of Execution",
        "",
        f"Generated {datetime.now(timezone.utc).isoformat(timespec='seconds')} by `nox -s validate`.",
        "",
    ]
    for demo in demos:
        out += [
            f"## {demo.title}",
            "",
            "```bash",
            demo.command,
            f'echo "Exit code: $?"  # {demo.exit_code}',
            "```",
            "",
            f"**Result:** {'PROVEN' if demo.ok else 'NOT PROVEN'} — expected {demo.expected}; "
            f"exit code {demo.exit_code}; {demo.seconds} s.",
            "",
        ]
        out += [f"- [x] {check}" for check in demo.checks] + [f"- [ ] {failed}" for failed in demo.failures] + [""]
        out += [
            f"Last {len(demo.log_tail)} lines of `{config.log_file.name}`:",
            "",
            "```text",
            *demo.log_tail,
            "```",
            "",
        ]
        out += ["Cleanup verification:", "", "```text", demo.cleanup_check, "```", ""]
    out += ["## 9.5 Documentation Review", "", *documentation_review(config)]
    return "\n".join(out)


# The documents whose updated sections the work order's 9.5 shows: (file, heading that opens the section).
REVIEWED_DOCS = (
    ("README.md", "## Running Tests"),
    ("docs/onboarding_coder_agent.md", "### 9.1 Test Execution"),
    ("docs/work_order_template.md", "### 9.1 Test Execution"),
)


def section(path: Path, heading: str) -> list[str]:
    """The lines of `path` from `heading` to the next heading of the same or a higher level."""
    lines = path.read_text(encoding="utf-8").splitlines() if path.is_file() else []
    start = next((i for i, line in enumerate(lines) if line.lower().startswith(heading.lower())), None)
    if start is None:
        return [f"({path.name} has no section {heading!r})"]
    level = len(heading) - len(heading.lstrip("#"))
    in_code = False
    for index in range(start + 1, len(lines)):
        line = lines[index]
        if line.startswith("```"):
            in_code = not in_code  # a `#` comment inside a code block is no heading
        elif not in_code and line.startswith("#") and len(line) - len(line.lstrip("#")) <= level:
            return lines[start:index]
    return lines[start:]


def documentation_review(config: Config) -> list[str]:
    """9.5: the updated documentation sections, each under the command that shows it."""
    out: list[str] = []
    for name, heading in REVIEWED_DOCS:
        out += [f"From `{name}`:", "", "````markdown", *section(config.root / name, heading), "````", ""]
    return out


def run_validations(config: Config, names: list[str], *, interrupt_phase: str = "tests") -> int:
    """Run the named demonstrations (all when none), write PROOF.md for a full run; 0 only if all were proven."""
    unknown = sorted(set(names) - set(ALL))
    if unknown:
        print(f"unknown demonstration(s): {', '.join(unknown)}; known: {', '.join(ALL)}", file=sys.stderr)
        return ExitCode.USAGE
    demos = [run_one(config, name, interrupt_phase=interrupt_phase) for name in (names or ALL)]
    if not names:
        (config.validation_dir / "PROOF.md").write_text(proof_markdown(config, demos), encoding="utf-8")
        print(f"{HARNESS_TAG} validate: wrote {config.validation_dir / 'PROOF.md'}", flush=True)
    for demo in demos:
        print(f"{HARNESS_TAG} validate: {demo.name:20} {'PROVEN' if demo.ok else 'NOT PROVEN'}", flush=True)
    return ExitCode.PASSED if all(d.ok for d in demos) else ExitCode.TESTS_FAILED
