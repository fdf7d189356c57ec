"""The verdict matrix on real Odoo 18: fixture modules run through the harness, in real containers.

The images are the project's own (tools/images.py): real Odoo 18 built from the source archive
or tree named by HARNESS_ODOO_SOURCE, and PostgreSQL 15. Each case asserts the harness's exit
code, Odoo's own exit code and the rule that decided the verdict.
"""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import tempfile
import time
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pytest

from harness import engine
from tests.integration.conftest import (
    ADDONS,
    ROOT,
    Child,
    cli_run,
    prefix_leftovers,
    project_of,
    record_verdict,
    standin_env,
)
from tools.images import ODOO_ALIAS, POSTGRES_ALIAS, ensure_images, odoo_source_from_env, odoo_spec, postgres_spec

pytestmark = pytest.mark.integration

REAL_COMPOSE = (ROOT / "docker-compose.agent.yml",)
# One database cache for the session's real runs: the first run of each key builds, the rest hit.
# (Named, not created: the harness creates it when a run first needs it.)
CACHE_DIR = Path(tempfile.gettempdir()) / f"harness-test-dbcache-{os.getpid()}"
# Cases whose dependencies cannot be resolved: the cache stays off and says why.
UNCACHEABLE = {"missing dependency"}


@dataclass(frozen=True)
class Case:
    """One row of the verdict matrix."""

    name: str
    module: str
    harness_exit: int
    odoo_exit: int | None  # None: Odoo never ran (the harness stopped before Docker)
    rule: str  # a text the deciding reason (or the pass summary) must contain
    addons: Path = ADDONS


CASES = [
    Case("passing module", "fixture_pass", 0, 0, "fixture_pass: 3 tests, 0 failures, 0 errors"),
    Case("failing assertion", "fixture_fail", 1, 1, "odoo.tests.result reports 1 failed"),
    Case("erroring test", "fixture_error", 1, 1, "0 failed, 1 error(s)"),
    Case("test import error", "fixture_importerror", 1, 255, "could not be installed"),
    Case("module not in the addons path", "fixture_absent", 2, None, "not found in addons path"),
    Case("module with no tests", "fixture_notests", 1, 0, "0 tests"),
    Case("all tests skipped", "fixture_allskipped", 1, 0, "skipped"),
    Case("view ParseError at install", "fixture_parseerror", 1, 255, "could not be installed"),
    Case("missing dependency", "fixture_missingdep", 1, 255, "fixture_no_such_dependency"),
    Case("installable: False", "fixture_uninstallable", 2, None, "says installable: False"),
    Case("depends on mail", "fixture_mail", 0, 0, "fixture_mail: 2 tests, 0 failures, 0 errors"),
    Case("logs ERROR, tests pass", "fixture_logs_error", 0, 0, "fixture_logs_error: 3 tests, 0 failures"),
    Case("traction", "traction", 0, 0, "traction: 6 tests, 0 failures, 0 errors", ROOT / "addons"),
]


@pytest.fixture(scope="session")
def real_images() -> dict[str, str]:
    """Real Odoo 18 and PostgreSQL images, built once from HARNESS_ODOO_SOURCE or reused by content."""
    return ensure_real_images()


def ensure_real_images() -> dict[str, str]:
    """Build or reuse the real images; without a source, use images already built, else fail clearly."""
    if os.environ.get("HARNESS_ODOO_SOURCE"):
        return ensure_images([postgres_spec(), odoo_spec(odoo_source_from_env())])
    client = engine.connect(60)
    missing = [alias for alias in (ODOO_ALIAS, POSTGRES_ALIAS) if not client.images.list(name=alias)]
    if missing:
        pytest.fail(
            f"no real Odoo 18 images ({', '.join(missing)}) and no HARNESS_ODOO_SOURCE to build them: "
            "run `nox -s images -- --odoo-source PATH` with an Odoo 18 source archive or tree"
        )
    return {}


def real_env(tmp_path: Path, addons: Path = ADDONS, **extra: str) -> dict[str, str]:
    """HARNESS_* variables for a run on the real images (the database cache in the session's folder)."""
    extra.setdefault("HARNESS_DB_CACHE_DIR", str(CACHE_DIR))
    extra.setdefault("HARNESS_DB_CACHE", "1")
    return standin_env(
        tmp_path,
        REAL_COMPOSE,
        HARNESS_ADDONS_PATH=str(addons),
        ODOO_IMAGE=ODOO_ALIAS,
        POSTGRES_IMAGE=POSTGRES_ALIAS,
        HARNESS_READY_TIMEOUT="180",
        **extra,
    )


@dataclass(frozen=True)
class Outcome:
    """What one run said: the parts of the verdict that must not depend on the cache."""

    harness_exit: int
    odoo_exit: int | None
    decided_by: str
    output: str
    seconds: float
    result: dict

    @property
    def verdict(self) -> tuple[int, int | None, tuple[str, ...]]:
        """Exit codes and the failed rules (their first sentence: counts and times may differ)."""
        rules = tuple(reason.split(":")[0] for reason in self.result.get("reasons", ()))
        return self.harness_exit, self.odoo_exit, rules


def run_case(case: Case, tmp_path: Path, **extra: str) -> Outcome:
    """Run one case through the CLI."""
    return start_case(case, tmp_path, **extra)()


def start_case(case: Case, tmp_path: Path, **extra: str) -> Callable[[], Outcome]:
    """Start one case through the CLI; the returned function waits for it and reads its outcome."""
    env = real_env(tmp_path, case.addons, **extra)
    started = time.monotonic()
    run = cli_run(case.module, env)
    return lambda: _outcome(case, env, run, run.finish(timeout=900), time.monotonic() - started)


def _outcome(case: Case, env: dict[str, str], run: Child, code: int, seconds: float) -> Outcome:
    result: dict = {}
    if case.odoo_exit is not None:
        result_file = Path(env["HARNESS_ARTEFACTS_DIR"]) / project_of(run) / "result.json"
        result = json.loads(result_file.read_text())
    decided_by = "; ".join(result.get("reasons", ())) or result.get("summary", "") or run.output
    # The run's own total: two runs started together are waited for one after the other.
    seconds = float(result.get("seconds", seconds))
    return Outcome(code, result.get("odoo_exit"), decided_by, run.output, seconds, result)


def assert_case(case: Case, outcome: Outcome) -> None:
    """The expected exit codes and rule, a clean teardown, and real Odoo's version line."""
    assert outcome.harness_exit == case.harness_exit, outcome.output
    assert case.rule in (outcome.decided_by if case.odoo_exit is not None else outcome.output), outcome.output
    if case.odoo_exit is not None:
        assert outcome.odoo_exit == case.odoo_exit, outcome.output
        assert outcome.result["cleanup"]["clean"] is True
        assert "Odoo version 18.0" in outcome.output


@pytest.mark.parametrize("case", CASES, ids=[c.module for c in CASES])
def test_verdict_on_real_odoo_with_and_without_the_cache(
    real_images: dict[str, str], tmp_path: Path, client: object, case: Case
) -> None:
    # Both at once: two cores, and a CI budget; each run has its own project, port and database.
    waiting = [start_case(case, tmp_path / "uncached", HARNESS_DB_CACHE="0"), start_case(case, tmp_path / "cached")]
    uncached, cached = (wait() for wait in waiting)
    record_verdict(case.name, uncached.odoo_exit, uncached.harness_exit, uncached.decided_by, uncached.seconds)
    assert_case(case, uncached)
    record_verdict(f"{case.name} (cache)", cached.odoo_exit, cached.harness_exit, cached.decided_by, cached.seconds)
    assert_case(case, cached)
    assert cached.verdict == uncached.verdict
    if case.odoo_exit is not None and case.name not in UNCACHEABLE:
        assert "database cache hit" in cached.output or "database cache miss" in cached.output, cached.output
    assert prefix_leftovers(client) == []


def test_four_first_runs_of_one_key_build_it_once(real_images: dict[str, str], tmp_path: Path, client: object) -> None:
    cache = tmp_path / "cache"
    cases = [c for c in CASES if c.module in ("fixture_pass", "fixture_fail", "fixture_error", "fixture_notests")]
    runs = [
        (case, cli_run(case.module, real_env(tmp_path / case.module, HARNESS_DB_CACHE_DIR=str(cache))))
        for case in cases
    ]
    outputs = []
    for case, run in runs:
        code = run.finish(timeout=900)
        outputs.append(run.output)
        assert code == case.harness_exit, run.output
    builds = [o for o in outputs if "database cache miss: this run builds" in o]
    assert len(builds) == 1, "\n\n".join(outputs)
    assert sum("another run is building this entry" in o for o in outputs) == 3
    entries = [p for p in cache.iterdir() if p.is_dir()]
    assert len(entries) == 1 and (entries[0] / "entry.json").is_file()
    assert prefix_leftovers(client) == []
    # The next run of the key uses the entry.
    again = run_case(cases[0], tmp_path / "again", HARNESS_DB_CACHE_DIR=str(cache))
    assert again.harness_exit == 0 and "database cache hit" in again.output, again.output


def _rpc(port: int, method: str, *args: object) -> dict:
    """One JSON-RPC call to the `db` service of the Odoo server a run published."""
    body = {"jsonrpc": "2.0", "method": "call", "params": {"service": "db", "method": method, "args": list(args)}}
    request = urllib.request.Request(
        f"http://127.0.0.1:{port}/jsonrpc",
        data=json.dumps(body).encode(),
        headers={"Content-Type": "application/json"},
    )
    with urllib.request.urlopen(request, timeout=30) as response:
        return json.loads(response.read())


def test_the_database_manager_refuses_create_and_drop(real_images: dict[str, str], tmp_path: Path) -> None:
    # A live environment: a run whose test lasts a minute, probed while it tests.
    env = real_env(tmp_path)
    run = cli_run("fixture_slow", env)
    try:
        run.wait_for("phase: tests", timeout=300)
        port = int(re.findall(r"port (\d+) leased", run.output)[-1])
        server = subprocess.run(
            ["docker", "ps", "-q", "--filter", f"label=com.docker.compose.project={project_of(run)}",
             "--filter", "label=com.docker.compose.service=odoo"],
            capture_output=True, text=True, timeout=60, check=True,
        ).stdout.strip()  # fmt: skip
        conf = subprocess.run(
            ["docker", "exec", server, "cat", "/etc/odoo/harness-server.conf"],
            capture_output=True, text=True, timeout=60, check=True,
        ).stdout  # fmt: skip
        master = re.search(r"^admin_passwd = (\S+)$", conf, re.MULTILINE)
        assert master and len(master[1]) >= 24 and "list_db = False" in conf, conf
        for password in ("admin", "", master[1]):
            created = _rpc(port, "create_database", password, "harness_intruder", False, "en_US", "admin")
            assert "error" in created and "AccessDenied" in json.dumps(created["error"]), created
            dropped = _rpc(port, "drop", password, "harness_test")
            assert "error" in dropped and "AccessDenied" in json.dumps(dropped["error"]), dropped
        # The database list is refused too, so nothing names the database under test.
        listed = _rpc(port, "list")
        assert "error" in listed, listed
    finally:
        run.signal_group(signal.SIGINT)
        assert run.finish(timeout=300) == 130, run.output
    # The run's master password never reaches its artefacts.
    for path in Path(env["HARNESS_ARTEFACTS_DIR"]).rglob("*"):
        if path.is_file():
            assert master[1] not in path.read_text(errors="replace"), path
