"""Real third-party suites: OCA 18.0 addons from their published wheels, through the harness and under plain Odoo.

Each addon runs twice on the same real Odoo 18 image: plain Odoo the way OCA's CI runs one addon
(`-i NAME --test-tags /NAME` on a fresh database, odoo-test-helper importable), and the harness
with a `test-requirements.txt` naming odoo-test-helper (built into the requirements image). The
two must agree: same exit (pass/fail), same test counts. The wheels are downloaded at test time
with pip (tests/oca_wheels.py pins the versions); nothing is committed.
"""

from __future__ import annotations

import json
import secrets
import sys
import time
from pathlib import Path

import pytest

from harness import proc
from tests import oca_wheels
from tests.integration.conftest import PREFIX, Child, cli_run, project_of, projects_of, wait_until_gone
from tests.integration.test_real_odoo import CACHE_DIR, ensure_real_images, real_env
from tools.images import ODOO_ALIAS, POSTGRES_ALIAS

pytestmark = pytest.mark.integration

# One that imports odoo_test_helper (FakeModelLoader) and one that does not; both small.
MODULES = ["base_time_window", "base_cron_exclusion"]
TIMEOUT = 900.0


@pytest.fixture(scope="module")
def oca(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """The addons folder, a test-requirements.txt and odoo-test-helper for plain Odoo; the real images."""
    ensure_real_images()
    root = tmp_path_factory.mktemp("oca")
    try:
        addons = oca_wheels.addons_folder(MODULES, root / "addons")
        helper = oca_wheels.test_helper_folder()
    except RuntimeError as exc:  # no index reachable from this machine
        pytest.skip(f"cannot download the OCA wheels: {exc}")
    requirements = root / "test-requirements.txt"
    requirements.write_text(f"# as OCA's repositories name it\n{oca_wheels.TEST_HELPER}\n", encoding="utf-8")
    return {"addons": addons, "helper": helper, "requirements": requirements}


@pytest.fixture(scope="module")
def plain(oca: dict[str, Path]) -> dict[str, tuple[int, tuple[int, int, int] | None]]:
    """{module: (exit, (failed, errors, tests))} under plain Odoo, one fresh database each, OCA-style."""
    name = f"{PREFIX}-agent-test-plain-{secrets.token_hex(4)}"
    label = ["--label", f"com.docker.compose.project={name}"]
    db = f"{name}-db"
    outcomes: dict[str, tuple[int, tuple[int, int, int] | None]] = {}
    proc.run(["docker", "network", "create", *label, name], timeout=60)
    try:
        env = ["-e", "POSTGRES_USER=odoo", "-e", "POSTGRES_PASSWORD=odoo", "-e", "POSTGRES_DB=postgres"]
        started = proc.run(
            ["docker", "run", "-d", *label, "--name", db, "--network", name, *env, POSTGRES_ALIAS], timeout=120
        )
        assert started.ok, started.output
        ready = ["docker", "exec", db, "pg_isready", "-U", "odoo", "-d", "postgres", "-h", "127.0.0.1"]
        deadline = time.monotonic() + 120
        while not proc.run(ready, timeout=30).ok:
            assert time.monotonic() < deadline, "PostgreSQL never became ready"
            time.sleep(0.5)
        for module in MODULES:
            argv = oca_wheels.plain_odoo_argv(
                module, image=ODOO_ALIAS, network=name, db_host=db, addons=oca["addons"],
                python_path=oca["helper"], database=f"oca_{module}",
            )  # fmt: skip
            result = proc.run([argv[0], argv[1], *label, *argv[2:]], timeout=TIMEOUT)
            outcomes[module] = (result.returncode, oca_wheels.odoo_counts(result.output))
    finally:
        proc.run(["docker", "rm", "-f", "-v", db], timeout=120)
        proc.run(["docker", "network", "rm", name], timeout=60)
    return outcomes


def harness_run(module: str, oca: dict[str, Path], tmp_path: Path) -> tuple[int, dict]:
    env = real_env(
        tmp_path, oca["addons"], HARNESS_REQUIREMENTS=str(oca["requirements"]), HARNESS_DB_CACHE_DIR=str(CACHE_DIR)
    )
    run = cli_run(module, env)
    code = run.finish(timeout=TIMEOUT)
    result = json.loads((Path(env["HARNESS_ARTEFACTS_DIR"]) / project_of(run) / "result.json").read_text())
    return code, {**result, "output": run.output}


@pytest.mark.parametrize("module", MODULES)
def test_an_oca_addon_gives_the_verdict_and_counts_of_plain_odoo(
    module: str, oca: dict[str, Path], plain: dict, tmp_path: Path
) -> None:
    plain_exit, plain_counts = plain[module]
    code, result = harness_run(module, oca, tmp_path)
    counts = result["counts"] or {}
    assert plain_counts is not None, f"plain Odoo printed no test summary for {module} (exit {plain_exit})"
    failed, errors, tests = plain_counts
    assert (code == 0) == (plain_exit == 0), result["output"]
    assert (counts.get("failures"), counts.get("errors"), counts.get("tests")) == (failed, errors, tests)
    assert tests == oca_wheels.PINNED[module].tests  # the pinned release still has the tests it had
    # The requirements image: built by the first of these runs, reused by the next in well under a second.
    phases = {p["name"]: p["seconds"] for p in result["phases"]}
    assert "requirements" in phases
    if module != MODULES[0]:
        assert "requirements image hub-harness-req:" in result["output"] and " reused " in result["output"]
        assert phases["requirements"] < 1.0, phases


def test_an_unresolvable_requirement_is_exit_3_naming_it_and_its_file(oca: dict[str, Path], tmp_path: Path) -> None:
    requirements = tmp_path / "test-requirements.txt"
    requirements.write_text(f"{oca_wheels.TEST_HELPER}\nhub-harness-no-such-package-{secrets.token_hex(3)}\n")
    env = real_env(tmp_path, oca["addons"], HARNESS_REQUIREMENTS=str(requirements))
    run = cli_run(MODULES[0], env)
    assert run.finish(timeout=TIMEOUT) == 3, run.output
    assert "hub-harness-no-such-package-" in run.output and f"{requirements}:2" in run.output


def test_the_addons_in_one_command_give_their_single_verdicts(
    oca: dict[str, Path], plain: dict, tmp_path: Path, client: object
) -> None:
    """`python -m harness run A B -j 1` (grouped: one environment, a database each; with `-j 2` the two
    would run apart): every row is the module's plain-Odoo verdict and counts, and every job's
    process ended with the code its results add up to."""
    env = real_env(
        tmp_path, oca["addons"], HARNESS_REQUIREMENTS=str(oca["requirements"]), HARNESS_DB_CACHE_DIR=str(CACHE_DIR)
    )
    run = Child([sys.executable, "-m", "harness", "run", *MODULES, "-j", "1"], env)
    code = run.finish(timeout=TIMEOUT)
    assert code == 0, run.output
    assert "ERROR:" not in run.output, run.output
    ends = [line for line in run.lines if line.startswith("[harness] end ")]
    assert ends and all(line.endswith(": exit 0") for line in ends), ends
    assert any("one environment for " in line for line in run.lines), run.output
    summary = json.loads(next(Path(env["HARNESS_ARTEFACTS_DIR"]).glob("*batch-*/summary.json")).read_text())
    assert summary["exit_code"] == 0 and summary["problems"] == []
    for row in summary["modules"]:
        plain_exit, (failed, errors, tests) = plain[row["module"]]
        assert (row["exit_code"], row["failures"], row["errors"], row["tests"]) == (plain_exit, failed, errors, tests)
    projects = projects_of(run)
    assert projects, run.output
    for project in projects:
        left, _ = wait_until_gone(client, project, 10)
        assert left.empty, left.describe()
