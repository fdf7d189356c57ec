"""What a run leaves for people and CI, on the stand-in: junit.xml on every exit path (read with
junitparser, as CI reporters read it) and the final block of the proof log."""

from __future__ import annotations

import signal
from pathlib import Path

import pytest
from junitparser import JUnitXml

from harness.report import STATS_NOTE
from tests.integration.conftest import COMPOSE_FILES, cli_run, nox_run, project_of, standin_env

pytestmark = pytest.mark.integration

RULE = "=" * 64


def final_block(env: dict[str, str]) -> dict[str, list[str]]:
    """The proof log's final block: label -> its text lines (continuation rows appended)."""
    lines = [line.removeprefix("[harness] ") for line in Path(env["HARNESS_LOG_FILE"]).read_text().splitlines()]
    assert lines[-1] == RULE, lines[-5:]
    start = len(lines) - 1 - lines[-2::-1].index(RULE) - 1
    rows: dict[str, list[str]] = {}
    label = ""
    for line in lines[start + 1 : -1]:
        head = line[:15].strip()
        label = head or label
        rows.setdefault(label, []).append(line[15:])
    return rows


def junit(env: dict[str, str], project: str) -> JUnitXml:
    return JUnitXml.fromfile(str(Path(env["HARNESS_ARTEFACTS_DIR"]) / project / "junit.xml"))


def counted_failed(report: JUnitXml) -> int:
    """Failures plus errors, as a CI reader adds them up."""
    return sum(suite.failures + suite.errors for suite in report)


def cases(report: JUnitXml) -> list:
    return [case for suite in report for case in suite]


def test_a_pass_writes_the_real_cases_and_a_green_final_block(env: dict[str, str]) -> None:
    run = cli_run("fixture_pass", env)
    assert run.finish() == 0, run.output
    project = project_of(run)
    report = junit(env, project)
    assert counted_failed(report) == 0
    assert len(cases(report)) == 3 and all(case.is_passed for case in cases(report))
    block = final_block(env)
    assert block["result"] == ["PASSED  fixture_pass  (exit 0)"]
    # The second line says which count "tests" is (odoo.tests.stats, a few lines up, counts more).
    assert block["tests"] == ["3 tests, 0 failures, 0 errors, 0 skipped", STATS_NOTE]
    phases = block["phases"][0]
    for name in ("preflight", "port", "up", "readiness", "tests", "teardown"):
        assert f"{name} " in phases
    assert block["cleanup"][0].startswith("nothing left (")
    assert block["junit"][0].endswith(f"{project}/junit.xml")
    assert block["log"][0].endswith("proof_of_execution_tests.log")
    assert "reason" not in block and "first failure" not in block


def test_a_failure_writes_failing_cases_and_names_the_first_failure(env: dict[str, str]) -> None:
    run = nox_run("fixture_fail", env)
    assert run.finish() == 1, run.output
    report = junit(env, project_of(run))
    assert counted_failed(report) >= 1
    failed = [case for case in cases(report) if not case.is_passed]
    assert [case.name for case in failed] == ["test_injected_failure"]
    block = final_block(env)
    assert block["result"] == ["FAILED  fixture_fail  (exit 1)"]
    assert block["reason"] == ["1 of 2 tests failed"]
    first = block["first failure"]
    assert first[0] == "TestItem.test_injected_failure"
    assert first[1] == "AssertionError: True != False"
    assert first[2] == "tests/fixtures/addons/fixture_fail/tests/test_item.py:9"  # mapped from /mnt/extra-addons


def test_exit_2_writes_a_failing_report(env: dict[str, str]) -> None:
    run = cli_run("no_such_module", env)
    assert run.finish() == 2, run.output
    report = junit(env, project_of(run))
    assert counted_failed(report) == 1
    (case,) = cases(report)
    assert case.name == "stopped-in-preflight"
    assert "exit 2" in case.result[0].message and "not found in addons path" in case.result[0].message


def test_exit_3_writes_a_failing_report_naming_the_phase(images: object, tmp_path: Path) -> None:
    broken = tmp_path / "missing-image.override.yml"
    broken.write_text("services:\n  odoo:\n    image: hub-harness/does-not-exist:none\n    pull_policy: never\n")
    env = standin_env(tmp_path, (*COMPOSE_FILES, broken))
    run = cli_run("fixture_pass", env)
    assert run.finish() == 3, run.output
    report = junit(env, project_of(run))
    assert counted_failed(report) == 1
    assert [case.name for case in cases(report)] == ["stopped-in-up"]
    assert final_block(env)["result"] == ["ENVIRONMENT ERROR  fixture_pass  (exit 3)"]


def test_an_interrupt_writes_a_failing_report_with_the_tests_seen_so_far(env: dict[str, str]) -> None:
    run = nox_run("fixture_slow", env)
    run.wait_for(": Starting Test")
    run.signal_group(signal.SIGINT)
    assert run.finish(timeout=120) == 130, run.output
    report = junit(env, project_of(run))
    assert counted_failed(report) >= 1
    names = [case.name for case in cases(report)]
    assert names[-1] == "stopped-in-tests" and len(names) >= 2  # a started test, then where it stopped
    block = final_block(env)
    assert block["result"] == ["INTERRUPTED  fixture_slow  (exit 130)"]
    assert block["reason"] == ["interrupted by SIGINT during phase tests"]
    assert block["tests"][0].endswith("so far (stopped in phase tests)")


def test_under_github_actions_odoo_is_grouped_tests_annotated_and_summarised(
    env: dict[str, str], tmp_path: Path
) -> None:
    summary = tmp_path / "step-summary.md"
    ci = {"GITHUB_ACTIONS": "true", "GITHUB_STEP_SUMMARY": str(summary), "GITHUB_WORKSPACE": env["HARNESS_ROOT"]}
    run = cli_run("fixture_fail", {**env, **ci})
    assert run.finish() == 1, run.output
    opened = run.lines.index("::group::Odoo: fixture_fail's tests")
    closed = run.lines.index("::endgroup::", opened)
    assert any("FAIL: TestItem.test_injected_failure" in line for line in run.lines[opened:closed])
    assert (
        "::error file=tests/fixtures/addons/fixture_fail/tests/test_item.py,line=9,"
        "title=fixture_fail%3A failure in TestItem.test_injected_failure::AssertionError: True != False"
    ) in run.lines
    assert "| `fixture_fail` | ❌ FAILED | 1 | 2 | 1 | 0 | 0 |" in summary.read_text()
    assert "::" not in Path(env["HARNESS_LOG_FILE"]).read_text()  # workflow commands stay on the console
