"""harness.junit: the JUnit XML report, read back with ElementTree and with junitparser (as CI does)."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from pathlib import Path

import junitparser
import pytest
from junitparser import Failure, JUnitXml, Skipped

from harness.junit import INSTALL_CASE, NO_TESTS_CASE, STOPPED_CASE, write_junit, write_stopped_junit
from harness.odoo_log import analyse_log
from harness.verdict import judge
from tests.unit.odoo_logs import DB, LOGS, analyse


def report(tmp_path: Path, name: str, module: str, exit_code: int | None = 0, **kwargs: object) -> ET.Element:
    """Write the report of fixture `name` and return its <testsuite>."""
    analysis = analyse(name, module)
    path = tmp_path / "artefacts" / "junit.xml"
    verdict = judge(exit_code, analysis, module) if exit_code is not None else None
    write_junit(path, module, analysis, 12.5, judgement=verdict, **kwargs)  # type: ignore[arg-type]
    root = ET.parse(path).getroot()
    assert root.tag == "testsuites"
    (suite,) = root.findall("testsuite")
    for key in ("tests", "failures", "errors", "skipped", "time"):
        assert root.get(key) == suite.get(key)
    return suite


def counts(suite: ET.Element) -> tuple[int, int, int, int]:
    return tuple(int(suite.get(key, "-1")) for key in ("tests", "failures", "errors", "skipped"))  # type: ignore[return-value]


def cases(suite: ET.Element) -> list[tuple[str | None, str | None]]:
    return [(case.get("classname"), case.get("name")) for case in suite.findall("testcase")]


def properties(suite: ET.Element) -> dict[str, str | None]:
    return {prop.get("name", ""): prop.get("value") for prop in suite.iter("property")}


def test_passing_run(tmp_path: Path) -> None:
    suite = report(tmp_path, "probe_pass", "probe_pass")
    assert suite.get("name") == "probe_pass"
    assert suite.get("time") == "12.500"
    assert counts(suite) == (3, 0, 0, 0)
    classname = "odoo.addons.probe_pass.tests.test_item"
    assert cases(suite) == [
        (f"{classname}.TestAtInstall", "test_at_install"),
        (f"{classname}.TestItem", "test_create"),
        (f"{classname}.TestItem", "test_search"),
    ]
    assert all(len(case) == 0 for case in suite.findall("testcase"))
    assert properties(suite)["verdict"] == "passed"
    assert properties(suite)["odoo.tests.stats"] == "7"
    assert suite.find("system-err") is None


def test_failing_test_carries_its_traceback(tmp_path: Path) -> None:
    suite = report(tmp_path, "probe_fail", "probe_fail", exit_code=1)
    assert counts(suite) == (2, 1, 0, 0)
    (failure,) = suite.iter("failure")
    assert failure.get("message") == "AssertionError: True != False"
    assert failure.get("type") == "AssertionError"
    assert "self.assertEqual(True, False)" in (failure.text or "")
    failing = [case.get("name") for case in suite.findall("testcase") if case.find("failure") is not None]
    assert failing == ["test_injected_failure"]
    result = properties(suite)["odoo.tests.result"]
    assert result == "1 failed, 0 error(s) of 2 tests when loading database 'odoo'"


def test_erroring_test_is_an_error(tmp_path: Path) -> None:
    suite = report(tmp_path, "probe_error", "probe_error", exit_code=1)
    assert counts(suite) == (1, 0, 1, 0)
    (error,) = suite.iter("error")
    assert (error.get("message"), error.get("type")) == ("RuntimeError: boom", "RuntimeError")


def test_uninstallable_module_gets_a_synthetic_failing_case(tmp_path: Path) -> None:
    suite = report(tmp_path, "probe_importerror", "probe_importerror", exit_code=255)
    assert counts(suite) == (1, 1, 0, 0)
    assert cases(suite) == [("probe_importerror", INSTALL_CASE)]
    (failure,) = suite.iter("failure")
    assert "exit code 255" in (failure.get("message") or "")
    assert "Failed to initialize database" in (failure.text or "")
    assert "does_not_exist_anywhere" in (failure.text or "")
    assert "Failed to initialize database" in (suite.findtext("system-err") or "")


def test_missing_module_is_not_an_empty_green_suite(tmp_path: Path) -> None:
    suite = report(tmp_path, "no_such_module", "no_such_module", exit_code=0)
    assert counts(suite) == (1, 1, 0, 0)
    assert cases(suite) == [("no_such_module", INSTALL_CASE)]
    assert "invalid module names" in (suite.find("testcase/failure").text or "")  # type: ignore[union-attr]


def test_without_a_verdict_the_log_decides(tmp_path: Path) -> None:
    suite = report(tmp_path, "probe_importerror", "probe_importerror", exit_code=None)
    assert cases(suite) == [("probe_importerror", INSTALL_CASE)]
    assert report(tmp_path, "probe_pass", "probe_pass", exit_code=None).find("testcase/failure") is None


def test_other_modules_tests_give_a_synthetic_case(tmp_path: Path) -> None:
    suite = report(tmp_path, "synthetic_foreign_tests", "traction")
    assert cases(suite) == [("traction", NO_TESTS_CASE)]


def test_skip_setupclass_and_subtests(tmp_path: Path) -> None:
    skipped = report(tmp_path, "synthetic_skipped", "probe_skip")
    assert counts(skipped) == (2, 0, 0, 1)
    (skip,) = skipped.iter("skipped")
    assert skip.get("message") == "Chrome executable not found"

    setup = report(tmp_path, "synthetic_setupclass_error", "probe_setup", exit_code=1)
    assert ("odoo.addons.probe_setup.tests.test_item.TestBroken", "setUpClass") in cases(setup)
    assert counts(setup) == (2, 0, 1, 0)

    sub = report(tmp_path, "synthetic_subtest_fail", "probe_sub", exit_code=1)
    assert counts(sub) == (2, 1, 0, 0)
    (failure,) = sub.iter("failure")
    assert "(value=2)" in (failure.text or "") and "(value=4)" in (failure.text or "")


def test_no_password_and_no_control_characters(tmp_path: Path) -> None:
    password = "Sup3r-S3cret"
    lines = [
        "2026-11-24 12:00:00,000 42 INFO x odoo.addons.traction.tests.test_a: Starting TestA.test_a ... ",
        "2026-11-24 12:00:00,000 42 ERROR x odoo.addons.traction.tests.test_a: ERROR: TestA.test_a",
        "Traceback (most recent call last):",
        f'  File "/mnt/extra-addons/traction/tests/test_a.py", line 3, in test_a  # {password}',
        f"psycopg2.OperationalError: password=odoo and {password} rejected \x00\x07\x1b[31mred\x1b[0m \ufffe",
        " ",
        "2026-11-24 12:00:01,000 42 INFO x odoo.tests.stats: traction: 1 tests 0.01s 1 queries ",
        "2026-11-24 12:00:01,000 42 ERROR x odoo.tests.result: "
        "0 failed, 1 error(s) of 1 tests when loading database 'x' ",
    ]
    analysis = analyse_log(lines, "traction", "x")
    path = tmp_path / "junit.xml"
    verdict = judge(1, analysis, "traction")
    write_junit(path, "traction", analysis, 1.0, judgement=verdict, secrets=[password, "odoo"])
    text = path.read_text(encoding="utf-8")
    assert password not in text
    assert "password=***" in text
    assert "\x1b" not in text and "[31m" not in text
    suite = ET.parse(path).getroot().find("testsuite")
    assert suite is not None
    assert cases(suite) == [("odoo.addons.traction.tests.test_a.TestA", "test_a")]  # "odoo" left intact
    (error,) = suite.iter("error")
    message = error.get("message") or ""
    assert message.startswith("psycopg2.OperationalError: password=*** and *** rejected red")


# --------------------------------------------------------------------------------------------
# Read back as a CI system does, with junitparser
# --------------------------------------------------------------------------------------------


def read_suite(path: Path) -> junitparser.TestSuite:
    """The one <testsuite> of the report, checked to agree with its own test cases."""
    xml = JUnitXml.fromfile(str(path))
    (suite,) = list(xml)
    cases = list(suite)
    assert suite.tests == len(cases)
    assert suite.failures == sum(case.is_failure for case in cases)
    assert suite.errors == sum(case.is_error for case in cases)
    assert suite.skipped == sum(case.is_skipped for case in cases)
    return suite


def ci_failed(suite: junitparser.TestSuite) -> bool:
    """How a CI reader decides: any failure or error fails the report."""
    return suite.failures + suite.errors > 0


def written(tmp_path: Path, name: str, module: str, exit_code: int) -> junitparser.TestSuite:
    analysis = analyse(name, module)
    path = tmp_path / f"{name}.xml"
    write_junit(path, module, analysis, 4.0, judgement=judge(exit_code, analysis, module))
    return read_suite(path)


def test_junitparser_reads_a_passing_run_as_passed(tmp_path: Path) -> None:
    suite = written(tmp_path, "probe_pass", "probe_pass", 0)
    assert not ci_failed(suite)
    assert [(case.classname, case.name) for case in suite] == [
        ("odoo.addons.probe_pass.tests.test_item.TestAtInstall", "test_at_install"),
        ("odoo.addons.probe_pass.tests.test_item.TestItem", "test_create"),
        ("odoo.addons.probe_pass.tests.test_item.TestItem", "test_search"),
    ]
    assert all(case.is_passed for case in suite)
    assert suite.time == 4.0


def test_junitparser_reads_a_failure_with_its_traceback(tmp_path: Path) -> None:
    suite = written(tmp_path, "probe_fail", "probe_fail", 1)
    assert ci_failed(suite)
    (failed,) = [case for case in suite if case.is_failure]
    (failure,) = failed.result
    assert isinstance(failure, Failure)
    assert (failure.message, failure.type) == ("AssertionError: True != False", "AssertionError")
    assert "Traceback (most recent call last):" in (failure.text or "")


def test_junitparser_reads_a_skip_and_the_run_still_passes(tmp_path: Path) -> None:
    suite = written(tmp_path, "synthetic_skipped", "probe_skip", 0)
    assert not ci_failed(suite)
    (skipped,) = [case for case in suite if case.is_skipped]
    assert skipped.name == "test_tour"
    assert isinstance(skipped.result[0], Skipped) and skipped.result[0].message == "Chrome executable not found"


def test_junitparser_counts_an_all_skipped_module_as_failed(tmp_path: Path) -> None:
    suite = written(tmp_path, "synthetic_all_skipped", "probe_allskip", 0)
    assert ci_failed(suite)
    assert suite.skipped == 2
    (synthetic,) = [case for case in suite if case.is_failure]
    assert "nothing was tested" in (synthetic.result[0].message or "")


STOPS = [
    (1, "tests", "Failure", "TESTS_FAILED", "Odoo stopped before it could count the tests"),
    (2, "preflight", "Error", "USAGE", "module 'tracton' not found in addons; closest: traction"),
    (3, "port", "Error", "ENVIRONMENT", "No available ports in range 8090-8100"),
    (3, "readiness", "Error", "ENVIRONMENT", "odoo never answered /web/health within 300 s"),
    (129, "up", "Error", "SIGHUP", "interrupted by SIGHUP during phase up"),
    (130, "tests", "Error", "SIGINT", "interrupted by SIGINT during phase tests"),
    (143, "readiness", "Error", "SIGTERM", "interrupted by SIGTERM during phase readiness"),
]


@pytest.mark.parametrize(("exit_code", "phase", "element", "kind", "reason"), STOPS)
def test_every_stopped_run_is_a_failed_report(
    tmp_path: Path, exit_code: int, phase: str, element: str, kind: str, reason: str
) -> None:
    path = tmp_path / "junit.xml"
    write_stopped_junit(path, "traction", phase, reason, exit_code, seconds=1.5)
    suite = read_suite(path)
    assert ci_failed(suite)
    (case,) = list(suite)
    assert (case.classname, case.name) == ("traction", f"{STOPPED_CASE}{phase}")
    (result,) = case.result
    assert type(result).__name__ == element
    assert result.type == kind
    assert result.message == f"exit {exit_code} ({kind}) in phase {phase}: {reason}"
    assert {p.name: p.value for p in suite.properties()} == {
        "verdict": "failed",
        "phase": phase,
        "exit_code": str(exit_code),
    }


def test_a_run_stopped_during_the_tests_keeps_the_tests_seen_so_far(tmp_path: Path) -> None:
    # SIGINT right after probe_fail's FAIL block: the log has its tests but no summary yet.
    text = (LOGS / "probe_fail.log").read_text(encoding="utf-8").splitlines()
    cut = next(i for i, line in enumerate(text) if line.startswith("AssertionError")) + 1
    analysis = analyse_log(text[:cut], "probe_fail", DB)
    path = tmp_path / "junit.xml"
    reason = "interrupted by SIGINT during phase tests"
    write_stopped_junit(path, "probe_fail", "tests", reason, 130, analysis=analysis, secrets=["odoo"])
    suite = read_suite(path)
    # test_ok (started after the cut) is not there; the FAIL block is, and so is the stop.
    assert [case.name for case in suite] == ["test_injected_failure", f"{STOPPED_CASE}tests"]
    assert [type(case.result[0]).__name__ for case in suite] == ["Failure", "Error"]
    assert {p.name: p.value for p in suite.properties()}["odoo.tests.result"] == "absent"


def test_exit_0_is_not_a_stopped_run(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="exit code 0"):
        write_stopped_junit(tmp_path / "junit.xml", "traction", "tests", "passed", 0)
    assert not (tmp_path / "junit.xml").exists()
