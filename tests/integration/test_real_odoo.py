"""The verdict matrix on real Odoo 18: fixture modules run through the harness, in real containers.

The images are the project's own (tools/images.py): real Odoo 18 built from the source archive
or tree named by HARNESS_ODOO_SOURCE, and PostgreSQL 15. Each case asserts the harness's exit
code, Odoo's own exit code and the rule that decided the verdict.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import subprocess
import sys
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
    CACHE_STATES,
    ROOT,
    Child,
    cli_run,
    nox_run,
    prefix_leftovers,
    project_of,
    record,
    record_verdict,
    standin_env,
    write_test_module,
)
from tests.integration.test_fault_matrix import signal_row
from tools.images import (
    ODOO_ALIAS,
    POSTGRES17_ALIAS,
    POSTGRES_ALIAS,
    ensure_images,
    odoo_source_from_env,
    odoo_spec,
    postgres17_spec,
    postgres_spec,
)

pytestmark = pytest.mark.integration

REAL_COMPOSE = (ROOT / "docker-compose.agent.yml",)
# One database cache for the session's real runs: the first run of each key builds, the rest hit.
# (Named, not created: the harness creates it when a run first needs it.)
CACHE_DIR = Path(tempfile.gettempdir()) / f"harness-test-dbcache-{os.getpid()}"
# Cases the cache stays off for, saying why: dependencies that cannot be resolved, and a module
# that auto-installs (installing its dependencies would install it too).
UNCACHEABLE = {"missing dependency", "auto-install module"}
# A db image whose entrypoint ignores PGDATA (tests/fixtures/postgres_ignores_pgdata).
PGDATA_IGNORING = ROOT / "tests" / "fixtures" / "postgres_ignores_pgdata"


@dataclass(frozen=True)
class Case:
    """One row of the verdict matrix."""

    name: str
    module: str
    harness_exit: int
    odoo_exit: int | None  # None: Odoo never ran (the harness stopped before Docker)
    rule: str  # a text the deciding reason (or the pass summary) must contain
    addons: Path = ADDONS
    message: str = ""  # a text result.json's message (the final block's reason) must contain


CASES = [
    Case("passing module", "fixture_pass", 0, 0, "fixture_pass: 3 tests, 0 failures, 0 errors"),
    Case("failing assertion", "fixture_fail", 1, 1, "odoo.tests.result reports 1 failed"),
    Case("erroring test", "fixture_error", 1, 1, "0 failed, 1 error(s)"),
    Case("test import error", "fixture_importerror", 1, 255, "could not be installed"),
    Case("module not in the addons path", "fixture_absent", 2, None, "not found in addons path"),
    Case("module with no tests", "fixture_notests", 5, 0, "fixture_notests: 0 tests", message="has no tests package"),
    Case("all tests skipped", "fixture_allskipped", 1, 0, "skipped"),
    Case("view ParseError at install", "fixture_parseerror", 1, 255, "could not be installed"),
    Case("missing dependency", "fixture_missingdep", 1, 255, "fixture_no_such_dependency"),
    Case("installable: False", "fixture_uninstallable", 2, None, "says installable: False"),
    Case("depends on mail", "fixture_mail", 0, 0, "fixture_mail: 2 tests, 0 failures, 0 errors"),
    Case("logs ERROR, tests pass", "fixture_logs_error", 0, 0, "fixture_logs_error: 3 tests, 0 failures"),
    Case("traction", "traction", 0, 0, "traction: 6 tests, 0 failures, 0 errors", ROOT / "addons"),
    Case("auto-install module", "fixture_autoinstall", 0, 0, "fixture_autoinstall: 1 test, 0 failures, 0 errors"),
    Case("post_install-only failure", "fixture_postinstall", 1, 1, "1 failed, 0 error(s) of 2 tests"),
    Case(
        "failing setUpClass",
        "fixture_setupclass",
        1,
        1,
        "0 failed, 1 error(s) of 0 tests: TestBroken.setUpClass (AttributeError",
        message="TestBroken.setUpClass failed: AttributeError: type object 'TestBroken' has no attribute",
    ),
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
    extra.setdefault("POSTGRES_IMAGE", POSTGRES_ALIAS)  # a case may run on another db image
    return standin_env(
        tmp_path,
        REAL_COMPOSE,
        HARNESS_ADDONS_PATH=str(addons),
        ODOO_IMAGE=ODOO_ALIAS,
        # Generous: a busy shared machine (load 20 on 2 cores) took over 180 s to start Odoo; the wait
        # ends as soon as Odoo answers, so this costs nothing when it is quick.
        HARNESS_READY_TIMEOUT="900",
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
        assert case.message in outcome.result["message"], outcome.result["message"]
        # The cache's own word: a hit was checked, never just claimed.
        assert outcome.result["db_cache"]["state"] in ("hit", "built", "uncached"), outcome.result["db_cache"]


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
    if case.odoo_exit is not None:
        assert uncached.result["db_cache"]["state"] == "uncached"
        state = cached.result["db_cache"]["state"]
        assert state == ("uncached" if case.name in UNCACHEABLE else state) and state in ("hit", "built", "uncached")
        if case.name not in UNCACHEABLE:
            assert state in ("hit", "built"), cached.result["db_cache"]
        CACHE_STATES.append((case.name, str(uncached.odoo_exit), str(cached.harness_exit), str(uncached.harness_exit),
                             state))  # fmt: skip
    if case.name == "failing setUpClass":
        junit = (Path(uncached.result["junit_file"])).read_text()
        assert 'classname="odoo.addons.fixture_setupclass.tests.test_item.TestBroken" name="setUpClass"' in junit
        (failed,) = uncached.result["failed_tests"]
        assert (failed["name"], failed["file"], failed["line"]) == (
            "TestBroken.setUpClass", "tests/fixtures/addons/fixture_setupclass/tests/test_item.py", 8
        )  # fmt: skip
    assert prefix_leftovers(client) == []


def test_a_db_image_that_ignores_pgdata_is_found_unusable_and_runs_go_uncached(
    real_images: dict[str, str], tmp_path: Path, client: object
) -> None:
    image = f"hub-harness-test/postgres-ignores-pgdata:{os.environ.get('HARNESS_TEST_PREFIX', 'hit')}"
    built = subprocess.run(
        ["docker", "build", "-q", "--network", "none", "--build-arg", f"BASE={POSTGRES_ALIAS}", "-t", image,
         str(PGDATA_IGNORING)],
        capture_output=True, text=True, timeout=600, check=False, env={**os.environ, "DOCKER_BUILDKIT": "0"},
    )  # fmt: skip
    assert built.returncode == 0, built.stderr
    cache = tmp_path / "cache"
    case = next(c for c in CASES if c.module == "fixture_pass")
    outcomes = [
        run_case(case, tmp_path / f"run{i}", POSTGRES_IMAGE=image, HARNESS_DB_CACHE_DIR=str(cache)) for i in (1, 2)
    ]
    for outcome in outcomes:
        assert_case(case, outcome)
        assert outcome.result["db_cache"]["state"] == "uncached", outcome.result["db_cache"]
        assert "database cache hit" not in outcome.output
        assert "the db image ignores PGDATA: its cluster is in /var/lib/postgresql/data" in outcome.output
    first, second = outcomes
    assert "database cache miss: this run builds" in first.output  # found out before installing anything
    assert "is unusable" in first.result["db_cache"]["reason"]
    # The second run knows it from the first: it says so and does not try to build again.
    assert "database cache not used: entry" in second.output and "is unusable" in second.output
    assert "database cache miss" not in second.output
    assert prefix_leftovers(client) == []


def test_the_cache_builds_and_hits_on_postgresql_17(
    real_images: dict[str, str], tmp_path: Path, client: object
) -> None:
    # Debian trixie's PostgreSQL 17, built the way the project builds its own (reused by content).
    ensure_images([postgres17_spec()])
    version = subprocess.run(
        ["docker", "run", "--rm", "--network", "none", "--entrypoint", "postgres", POSTGRES17_ALIAS, "--version"],
        capture_output=True, text=True, timeout=120, check=True,
    ).stdout  # fmt: skip
    assert "(PostgreSQL) 17." in version, version
    cache = tmp_path / "cache"
    case = next(c for c in CASES if c.module == "fixture_pass")
    first, second = (
        run_case(case, tmp_path / name, POSTGRES_IMAGE=POSTGRES17_ALIAS, HARNESS_DB_CACHE_DIR=str(cache))
        for name in ("build", "hit")
    )
    for outcome in (first, second):
        assert_case(case, outcome)
    assert first.result["db_cache"]["state"] == "built", first.result["db_cache"]
    assert second.result["db_cache"]["state"] == "hit", second.result["db_cache"]
    assert "init db" not in second.output  # the test process started from the entry's database
    assert prefix_leftovers(client) == []


def test_a_dependency_changed_between_two_runs_is_seen_by_the_second(
    real_images: dict[str, str], tmp_path: Path, client: object
) -> None:
    addons = tmp_path / "addons"
    lib = addons / "fixture_dep_lib"
    (lib / "models").mkdir(parents=True)
    (lib / "__manifest__.py").write_text(
        repr({"name": "lib", "version": "18.0.1.0.0", "depends": ["base"], "license": "LGPL-3"})
    )
    (lib / "__init__.py").write_text("from . import models\n")
    (lib / "models" / "__init__.py").write_text("from . import partner\n")
    partner = lib / "models" / "partner.py"

    def set_default(value: str) -> None:
        partner.write_text(
            "from odoo import fields, models\n\n\nclass ResPartner(models.Model):\n"
            "    _inherit = 'res.partner'\n\n"
            f"    harness_flavour = fields.Char(default={value!r})\n"
        )

    flavour = (
        "from odoo.tests import TransactionCase\n\n\nclass TestFlavour(TransactionCase):\n"
        "    def test_flavour(self):\n"
        "        self.assertEqual(self.env['res.partner'].create({'name': 'x'}).harness_flavour, 'vanilla')\n"
    )
    write_test_module(addons, "fixture_dep_user", ["fixture_dep_lib"], {"test_flavour": flavour})
    cache = tmp_path / "cache"
    set_default("vanilla")
    passing = Case("dependency as it was", "fixture_dep_user", 0, 0, "fixture_dep_user: 1 test, 0 failures", addons)
    first = run_case(passing, tmp_path / "first", HARNESS_DB_CACHE_DIR=str(cache))
    assert_case(passing, first)
    assert first.result["db_cache"]["state"] == "built", first.result["db_cache"]
    set_default("chocolate")  # the dependency's code changes: the entry built from it no longer fits
    failing = Case("dependency changed", "fixture_dep_user", 1, 1, "'chocolate' != 'vanilla'", addons)
    second = run_case(failing, tmp_path / "second", HARNESS_DB_CACHE_DIR=str(cache))
    assert_case(failing, second)
    assert second.result["db_cache"]["state"] == "built", second.result["db_cache"]  # a new key, a new entry
    assert first.result["db_cache"]["key"] != second.result["db_cache"]["key"]
    assert prefix_leftovers(client) == []


def test_nox_over_a_folder_with_a_module_without_tests_skips_it_and_ends_0(
    real_images: dict[str, str], tmp_path: Path, client: object
) -> None:
    addons = tmp_path / "addons"
    for module in ("fixture_notests", "fixture_pass"):
        shutil.copytree(ADDONS / module, addons / module)
    env = real_env(tmp_path, addons, HARNESS_DB_CACHE_DIR=str(tmp_path / "cache"))
    run = Child([sys.executable, "-m", "nox", "--no-color", "-s", "tests"], env)
    code = run.finish(timeout=1800)
    assert code == 0, run.output
    assert "* tests(module='fixture_notests'): skipped (exit 5 (no tests)" in run.output, run.output
    assert "* tests(module='fixture_pass'): success" in run.output
    assert "NO TESTS  fixture_notests  (exit 5)" in run.output
    # The work order's script hands the 5 on (through `nox -s "tests(module='fixture_notests')"`).
    script = Child(
        ["bash", "scripts/run-tests.sh", "fixture_notests"],
        {**env, "RUN_TESTS_WITH": "nox", "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}"},
    )
    assert script.finish(timeout=1800) == 5, script.output
    assert "database cache hit" in script.output  # the folder's first run built the entry
    assert prefix_leftovers(client) == []


def test_four_first_runs_of_one_key_build_it_once(real_images: dict[str, str], tmp_path: Path, client: object) -> None:
    cache = tmp_path / "cache"
    cases = [c for c in CASES if c.module in ("fixture_pass", "fixture_fail", "fixture_error", "fixture_notests")]
    runs = [
        (case, cli_run(case.module, real_env(tmp_path / case.module, HARNESS_DB_CACHE_DIR=str(cache))))
        for case in cases
    ]
    started = time.monotonic()
    outputs, codes = [], []
    for _, run in runs:
        codes.append(run.finish(timeout=900))
        outputs.append(run.output)
    builds = [o for o in outputs if "database cache miss: this run builds" in o]
    waited = [o for o in outputs if "another run is building this entry" in o]
    record(
        "4 first runs of one cache key at once, real Odoo (second builders)",
        codes,
        "none" if not prefix_leftovers(client) else "LEFT",
        time.monotonic() - started,
        f"{len(builds)} built the entry, {len(waited)} waited for it ('another run is building this entry'), "
        "then each its own verdict",
    )
    for (case, run), code in zip(runs, codes, strict=True):
        assert code == case.harness_exit, run.output
    assert sum("database cache entry built" in o for o in outputs) == 1
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


@pytest.mark.parametrize("signame", ["SIGINT", "SIGTERM", "SIGKILL"])
def test_a_signal_during_real_odoo_tests_ends_clean(
    real_images: dict[str, str], tmp_path: Path, client: object, signame: str
) -> None:
    """The fault matrix's signal rows on real Odoo 18: Odoo's own handling of the first signal included."""
    env = real_env(tmp_path)
    run = nox_run("fixture_slow", env)
    run.wait_for(": Starting TestItem.test_slow", timeout=600)
    signal_row(f"{signame} during tests, real Odoo", run, env, client, signame, timeout=300)
