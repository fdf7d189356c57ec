"""Fixtures for integration tests: the real engine, real `docker compose`, stand-in images."""

from __future__ import annotations

import contextlib
import os
import queue
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from harness import dbcache, engine, report
from harness.cleanup import sweep
from harness.config import Config, load_config
from tools.images import ensure_images, postgres_spec, standin_spec

ROOT = Path(__file__).resolve().parents[2]
ADDONS = ROOT / "tests" / "fixtures" / "addons"
STANDIN = ROOT / "tests" / "fixtures" / "standin"
COMPOSE_FILES = (ROOT / "docker-compose.agent.yml", STANDIN / "compose.override.yml")
FAULTS_OVERRIDE = STANDIN / "faults.override.yml"
# Test-only code that wraps the run's phase hook in a child run (see fault_pause()).
FAULT_INJECTION = Path(__file__).resolve().parent / "fault_injection"
# A prefix of the tests' own: their sweep can never touch a developer's real runs. Two test
# sessions on one engine at once (say the stand-in tests beside the real-Odoo matrix) each set
# HARNESS_TEST_PREFIX, so neither counts the other's live projects as its own leftovers.
PREFIX = os.environ.get("HARNESS_TEST_PREFIX", "hit")
MATRIX: list[tuple[str, str, str, str]] = []
VERDICTS: list[tuple[str, str, str, str, str]] = []
# case, real Odoo exit, harness exit cached, harness exit uncached, what the cache did for the cached run
CACHE_STATES: list[tuple[str, str, str, str, str]] = []


@pytest.fixture(scope="session")
def images() -> dict[str, str]:
    """The stand-in images, built once or reused by content hash ({alias: content reference})."""
    return ensure_images([postgres_spec(), standin_spec()])


@pytest.fixture(scope="session")
def client() -> object:
    """A Docker SDK client for checks."""
    return engine.connect(60)


def _cache_images(client: object) -> dict[str, str]:
    """This user's database cache entry images on the engine: {image ID: its cache folder label}."""
    mine = [f"{dbcache.LABEL}=1", f"{dbcache.LABEL}.owner={dbcache.cache_owner()}"]
    found = client.images.list(filters={"label": mine})  # type: ignore[attr-defined]
    return {image.id: image.labels.get(f"{dbcache.LABEL}.dir", "") for image in found}


@pytest.fixture(scope="session", autouse=True)
def no_cache_images_left() -> Iterator[None]:
    """The suites' database cache folders are temporary: the entry images they built go with the session.

    Left behind, every integration session added some fifteen entry images (80 MB and more each)
    that no later reap removes (a reap takes only its own folder's). Only images that appeared
    during this session, of this user and not of the user's own db_cache_dir, go; one a container
    still runs on stays (no force).
    """
    try:
        client = engine.connect(60)
        before = set(_cache_images(client))
    except Exception:  # noqa: BLE001 - no engine: the tests say so themselves
        yield
        return
    yield
    try:
        own = dbcache.cache_dir_label(load_config(ROOT))
        left = {image_id for image_id, folder in _cache_images(client).items() if folder != own} - before
    except Exception:  # noqa: BLE001 - tidying must never fail the session
        return
    for image_id in left:
        # In use or already gone: not the session's to force.
        with contextlib.suppress(Exception):
            client.images.remove(image_id, force=False, noprune=False)  # type: ignore[attr-defined]


def fault_pause(phase: str, seconds: float) -> dict[str, str]:
    """Environment that makes a child run pause `seconds` on entering `phase` (fault_injection/sitecustomize.py)."""
    path = [str(FAULT_INJECTION), str(ROOT), os.environ.get("PYTHONPATH", "")]
    return {"FAULT_PAUSE": f"{phase}:{seconds:g}", "PYTHONPATH": os.pathsep.join(p for p in path if p)}


def standin_env(tmp_path: Path, compose_files: tuple[Path, ...] = COMPOSE_FILES, **extra: str) -> dict[str, str]:
    """HARNESS_* variables that point a run at the stand-in and keep its files in `tmp_path`."""
    env = {
        "HARNESS_ROOT": str(ROOT),
        "HARNESS_PREFIX": PREFIX,
        "HARNESS_ADDONS_PATH": str(ADDONS),
        "HARNESS_COMPOSE_FILES": os.pathsep.join(str(p) for p in compose_files),
        "HARNESS_LOG_FILE": str(tmp_path / "proof_of_execution_tests.log"),
        "HARNESS_ARTEFACTS_DIR": str(tmp_path / "artefacts"),
        "HARNESS_VALIDATION_DIR": str(tmp_path / "validation"),
        "HARNESS_READY_TIMEOUT": "120",
        # The stand-in serves the lifecycle tests; the database cache is tested on real Odoo.
        "HARNESS_DB_CACHE": "0",
    }
    env.update(extra)
    return env


@pytest.fixture
def env(images: dict[str, str], tmp_path: Path) -> dict[str, str]:
    """The default stand-in environment variables for one test."""
    return standin_env(tmp_path)


def config_from(env: dict[str, str]) -> Config:
    """The Config a run with `env` would load."""
    return load_config(ROOT, env={**os.environ, **env})


class Child:
    """A harness run in a child process of its own session, its output collected line by line."""

    def __init__(self, argv: list[str], env: dict[str, str]) -> None:
        self.started = time.monotonic()
        self.process = subprocess.Popen(
            argv,
            cwd=ROOT,
            env={**os.environ, **env, "PYTHONUNBUFFERED": "1"},
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            start_new_session=True,
        )
        self.lines: list[str] = []
        self._queue: queue.Queue[str | None] = queue.Queue()
        threading.Thread(target=self._pump, daemon=True).start()

    def _pump(self) -> None:
        assert self.process.stdout is not None
        for line in self.process.stdout:
            self._queue.put(line.rstrip("\n"))
        self._queue.put(None)

    def wait_for(self, text: str, timeout: float = 120) -> str:
        """Block until a line containing `text` appears; fail the test if the run ends or time runs out."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                line = self._queue.get(timeout=0.1)
            except queue.Empty:
                continue
            if line is None:
                pytest.fail(f"run ended before printing {text!r}:\n" + "\n".join(self.lines[-40:]))
            self.lines.append(line)
            if text in line:
                return line
        pytest.fail(f"no line with {text!r} within {timeout} s:\n" + "\n".join(self.lines[-40:]))

    def signal_group(self, sig: int) -> None:
        """Send `sig` to the child's whole process group, as a terminal does."""
        os.killpg(self.process.pid, sig)

    def finish(self, timeout: float = 300) -> int:
        """Wait for the exit code and collect the rest of the output."""
        code = self.process.wait(timeout=timeout)
        while True:
            line = self._queue.get(timeout=10)
            if line is None:
                break
            self.lines.append(line)
        return code

    @property
    def output(self) -> str:
        """Everything printed so far."""
        return "\n".join(self.lines)


def nox_run(module: str, env: dict[str, str]) -> Child:
    """`nox -s "tests(module='MODULE')"` as a user types it."""
    return Child([sys.executable, "-m", "nox", "--no-color", "-s", f"tests(module='{module}')"], env)


def cli_run(module: str, env: dict[str, str]) -> Child:
    """`python -m harness run MODULE`."""
    return Child([sys.executable, "-m", "harness", "run", module], env)


def write_test_module(addons: Path, name: str, depends: list[str], tests: dict[str, str]) -> Path:
    """A module written by a test: its manifest, an empty __init__, and tests/<file>.py for each entry."""
    module = addons / name
    (module / "tests").mkdir(parents=True)
    manifest = {"name": name, "version": "18.0.1.0.0", "depends": depends, "license": "LGPL-3"}
    (module / "__manifest__.py").write_text(repr(manifest) + "\n")
    (module / "__init__.py").write_text("")
    (module / "tests" / "__init__.py").write_text("".join(f"from . import {file}\n" for file in tests))
    for file, source in tests.items():
        (module / "tests" / f"{file}.py").write_text(source)
    return module


def slow_run_in_its_tests(tmp_path: Path, **extra: str) -> tuple[dict[str, str], Child, str]:
    """`python -m harness run fixture_slow` on the stand-in, once its tests run: (env, run, project)."""
    env = standin_env(tmp_path, **extra)
    run = cli_run("fixture_slow", env)
    run.wait_for(": Starting Test")
    return env, run, project_of(run)


PROJECT_MARK = "[harness] project "


def projects_of(child: Child) -> list[str]:
    """Every compose project a command announced (several for a command over several modules), sorted."""
    return sorted({line.split(PROJECT_MARK, 1)[1].split(";", 1)[0] for line in child.lines if PROJECT_MARK in line})


def project_of(child: Child) -> str:
    """The compose project a run announced."""
    for line in child.lines:
        if PROJECT_MARK in line:
            return line.split(PROJECT_MARK, 1)[1].split(";", 1)[0]
    raise AssertionError("the run never announced its project:\n" + child.output)


def prefix_leftovers(client: object) -> list[str]:
    """Projects of the tests' prefix still on the engine."""
    return [p.name for p in engine.list_projects(client, f"{PREFIX}-agent-test-")]


def wait_until_gone(client: object, project: str, timeout: float) -> tuple[engine.Resources, float]:
    """Poll until nothing carries the project's label; return what is left and the seconds waited."""
    started = time.monotonic()
    while True:
        left = engine.project_resources(client, project)
        if left.empty or time.monotonic() - started > timeout:
            return left, time.monotonic() - started
        time.sleep(0.25)


@pytest.fixture(autouse=True)
def nothing_left_behind(request: pytest.FixtureRequest) -> Iterator[None]:
    """After every test: no project of the tests' prefix may remain (then sweep, so one leak fails one test)."""
    yield
    if not {"images", "env", "real_images"} & set(request.fixturenames):
        return
    docker_client = engine.connect(60)
    left = prefix_leftovers(docker_client)
    if left:
        config = load_config(ROOT, env={**os.environ, "HARNESS_PREFIX": PREFIX, "HARNESS_REAP_MAX_AGE": "0"})
        sweep(config, docker_client, log=lambda _: None)
        pytest.fail(f"test left compose projects behind: {left}")


def record(case: str, exit_code: object, leftovers: str, seconds: float, saw: str = "") -> None:
    """One row of the fault matrix printed at the end of the session; `saw`: what the user read (seen())."""
    MATRIX.append((case, str(exit_code), leftovers, f"{seconds:.1f}", saw or "-"))


# The final block's lines that say how a run ended (harness/report.py lays them out at this width).
SEEN_LABELS = ("result", "reason", "cleanup")


def seen(output: str, limit: int = 240) -> str:
    """What the user read at the end of a run: the final block's result, reason and cleanup lines.

    A run killed before its final block (SIGKILL) shows none: then its last harness line.
    """
    lines = output.splitlines()
    picked = [
        " ".join(line[len("[harness] ") :].split())
        for line in lines[-60:]
        for label in SEEN_LABELS
        if line.startswith(f"[harness] {label:<{report.LABEL_WIDTH}}")
    ]
    if not picked:
        last = next((line for line in reversed(lines) if line.startswith("[harness] ")), "")
        picked = [" ".join(last[len("[harness] ") :].split())] if last else []
    text = "; ".join(picked)
    return text if len(text) <= limit else text[: limit - 3] + "..."


def record_verdict(case: str, odoo_exit: object, harness_exit: int, rule: str, seconds: float) -> None:
    """One row of the real-Odoo verdict matrix printed at the end of the session."""
    odoo = "-" if odoo_exit is None else str(odoo_exit)
    VERDICTS.append((case, odoo, str(harness_exit), " ".join(rule.split())[:160], f"{seconds:.1f}"))


def markdown_table(header: tuple[str, ...], rows: list[tuple[str, ...]]) -> str:
    """Rows as a Markdown table."""
    lines = ["| " + " | ".join(header) + " |", "|" + " --- |" * len(header)]
    lines += ["| " + " | ".join(cell.replace("|", "\\|") for cell in row) + " |" for row in rows]
    return "\n".join(lines)


def matrix_table() -> str:
    """The fault matrix as a Markdown table."""
    return markdown_table(("case", "exit code", "leftovers", "seconds", "what the user saw"), MATRIX)


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    """Print the fault and verdict matrices and keep copies in artefacts/."""
    tables = [
        ("fault matrix", "fault-matrix.md", matrix_table() if MATRIX else ""),
        (
            "verdict matrix (real Odoo 18)",
            "verdict-matrix.md",
            markdown_table(("case", "Odoo exit", "harness exit", "decided by", "seconds"), VERDICTS)
            if VERDICTS
            else "",
        ),
        (
            "verdict with and without the database cache (real Odoo 18)",
            "cache-matrix.md",
            markdown_table(
                ("case", "real Odoo exit", "harness exit cached", "harness exit uncached", "cache state"), CACHE_STATES
            )
            if CACHE_STATES
            else "",
        ),
    ]
    for title, name, table in tables:
        if not table:
            continue
        terminalreporter.write_sep("=", title)
        terminalreporter.write_line(table)
        out = ROOT / "artefacts" / name
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(table + "\n", encoding="utf-8")


SIGNALS = {"SIGINT": signal.SIGINT, "SIGTERM": signal.SIGTERM, "SIGHUP": signal.SIGHUP, "SIGKILL": signal.SIGKILL}
