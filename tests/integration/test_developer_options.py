"""The developer options on real Odoo 18: --tests, --failed, --keep-db-on-failure, --browser, --coverage.

One real environment per run; the fixture modules are tests/fixtures/addons/fixture_select (several
tests, two failing) and fixture_tour (a tour that passes and one that fails).
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from tests.integration.conftest import Child, prefix_leftovers, project_of
from tests.integration.test_real_odoo import real_env, real_images  # noqa: F401 - a fixture
from tools.images import POSTGRES_ALIAS

# Real Odoo 18 and PostgreSQL images, built or reused once per session (test_real_odoo.real_images).
pytestmark = [pytest.mark.integration, pytest.mark.usefixtures("real_images")]
# odoo/tests/result.py: "... INFO harness_test odoo.addons.m.tests.test_x: Starting TestX.test_y ... ".
STARTING = re.compile(r" INFO \S+ odoo\.addons\.\w+\.tests\S*: Starting (\w+\.\w+) \.\.\.")


def run(module: str, env: dict[str, str], *options: str) -> tuple[int, Child, dict]:
    """`python -m harness run MODULE OPTIONS...` to its end: exit code, the child, its result.json ({} if none)."""
    child = Child([sys.executable, "-m", "harness", "run", module, *options], env)
    code = child.finish(timeout=900)
    result_file = Path(env["HARNESS_ARTEFACTS_DIR"]) / project_of(child) / "result.json"
    return code, child, json.loads(result_file.read_text()) if result_file.is_file() else {}


def started(child: Child) -> list[str]:
    """The tests Odoo started, in order (`TestItem.test_boom`)."""
    return [found[1] for line in child.lines if (found := STARTING.search(line))]


def test_tests_failed_and_a_selection_that_matches_nothing(tmp_path: Path, client: object) -> None:
    env = real_env(tmp_path)
    # The whole module: six tests, two of them fail; the failing database is kept.
    code, child, result = run("fixture_select", env, "--keep-db-on-failure")
    assert code == 1, child.output
    assert sorted(t["name"] for t in result["failed_tests"]) == ["TestItem.test_boom", "TestOther.test_broken"]
    assert result["counts"]["tests"] == 6 and result["selection"] is None
    kept = result["extras"]["kept_database"]
    assert f"[harness] restore        {kept['restore_command']}" in child.output
    listing = subprocess.run(
        ["docker", "run", "--rm", "--network", "none", "-v", f"{Path(kept['dump']).parent}:/kept:ro",
         POSTGRES_ALIAS, "pg_restore", "--list", "/kept/database.dump"],
        capture_output=True, text=True, timeout=120, check=True,
    ).stdout  # fmt: skip
    assert "TABLE public res_partner" in listing and "TABLE public ir_module_module" in listing
    assert Path(kept["filestore"]).stat().st_size > 0 and Path(kept["dump"]).with_name("restore-db.sh").is_file()

    # --failed reruns exactly those two.
    code, child, result = run("fixture_select", env, "--failed")
    assert code == 1, child.output
    assert sorted(started(child)) == ["TestItem.test_boom", "TestOther.test_broken"], child.output
    assert result["counts"]["tests"] == 2
    assert "--test-tags /fixture_select:TestItem.test_boom,/fixture_select:TestOther.test_broken" in result["selection"]

    # One test by Class.method: that one runs, and its verdict is its own.
    code, child, result = run("fixture_select", env, "--tests", "TestItem.test_boom")
    assert code == 1 and started(child) == ["TestItem.test_boom"], child.output
    assert result["counts"] == {"tests": 1, "failures": 1, "errors": 0, "skipped": 0}
    code, child, result = run("fixture_select", env, "--tests", "TestItem.test_ok,TestLate", "--keep-db-on-failure")
    assert code == 0 and sorted(started(child)) == ["TestItem.test_ok", "TestLate.test_late"], child.output
    assert "kept_database" not in result["extras"]  # a pass keeps nothing

    # A selection that matches nothing: exit 2 before Docker, naming it and the module's classes.
    code, child, result = run("fixture_select", env, "--tests", "TestNope")
    assert code == 2, child.output
    assert (
        "the selection TestNope (--test-tags /fixture_select:TestNope) matches no test of fixture_select"
        in (result["message"])
    )
    assert "TestItem (test_ok, test_boom, test_partner)" in result["message"]
    assert result["cleanup"] is None
    assert prefix_leftovers(client) == []


def test_coverage_of_traction_is_a_cobertura_report_of_its_files(tmp_path: Path, client: object) -> None:
    from tests.integration.conftest import ROOT

    env = real_env(tmp_path, ROOT / "addons")
    code, child, result = run("traction", env, "--coverage", "--fail-under", "50")
    assert code == 0, child.output
    coverage = result["extras"]["coverage"]
    assert re.search(r"\[harness\] coverage +\d+\.\d % of \d+ file", child.output), child.output
    xml = ET.parse(coverage["xml"])
    rates = {c.get("filename"): float(c.get("line-rate")) for c in xml.iter("class")}
    models = sorted(name for name in rates if "/models/" in name)
    assert models == ["addons/traction/models/__init__.py", "addons/traction/models/traction_group.py",
                      "addons/traction/models/traction_issue.py"]  # fmt: skip
    assert all(rates[name] > 0 for name in models), rates
    # diff-cover, a Cobertura reader, takes the report as it is (against HEAD: no changed line).
    report = tmp_path / "diff.json"
    subprocess.run(
        [sys.executable, "-m", "diff_cover.diff_cover_tool", coverage["xml"], "--compare-branch", "HEAD",
         "--format", f"json:{report}"],
        cwd=ROOT, check=True, timeout=120, capture_output=True,
    )  # fmt: skip
    assert json.loads(report.read_text())["report_name"] == "XML"
    assert Path(coverage["html"]).is_file() and coverage["percent"] > 50
    assert prefix_leftovers(client) == []


def test_browser_tours_pass_fail_with_a_screenshot_and_skip_without_a_browser(tmp_path: Path, client: object) -> None:
    env = real_env(tmp_path)
    # With --browser (the browser image built once per content, then reused): the tour that passes.
    code, child, result = run("fixture_tour", env, "--browser", "--tests", "TestTourPass")
    assert code == 0, child.output
    assert "tour succeeded" in child.output and result["counts"]["skipped"] == 0, child.output
    assert re.search(r"\[harness\] browser image hub-harness-browser:[0-9a-f]{24} (built|reused)", child.output)

    # The tour that fails: exit 1, and the screenshot Odoo took of the page is in the artefacts.
    code, child, result = run("fixture_tour", env, "--browser", "--tests", "TestTourFail")
    assert code == 1, child.output
    assert [t["name"] for t in result["failed_tests"]] == ["TestTourFail.test_tour_fail"]
    assert "fixture_tour: this step fails on purpose" in child.output
    shots = [Path(p) for p in result["extras"]["browser_files"]]
    assert shots and all(p.suffix == ".png" and p.read_bytes().startswith(b"\x89PNG") for p in shots), shots
    assert re.search(r"\[harness\] screenshots +\d+ file\(s\) in \S+/browser", child.output), child.output

    # Without --browser the same module passes, and says its tours were skipped for want of a browser.
    code, child, result = run("fixture_tour", env)
    assert code == 0, child.output
    assert "[harness] browser        2 tests skipped: no browser; run with --browser" in child.output
    assert sorted(result["extras"]["browser_skipped"]) == ["TestTourFail.test_tour_fail", "TestTourPass.test_tour_pass"]
    assert result["counts"] == {"tests": 3, "failures": 0, "errors": 0, "skipped": 2}
    assert prefix_leftovers(client) == []
