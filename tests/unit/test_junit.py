"""harness.junit: the JUnit XML report, read back with ElementTree."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from pathlib import Path

from harness.junit import INSTALL_CASE, NO_TESTS_CASE, write_junit
from harness.odoo_log import analyse_log
from harness.verdict import judge
from tests.unit.odoo_logs import analyse


def report(tmp_path: Path, name: str, module: str, exit_code: int | None = 0, **kwargs: object) -> ET.Element:
    """Write the report of fixture `name` and return its <testsuite>."""
    analysis = analyse(name, module)
    path = tmp_path / "artefacts" / "junit.xml"
    verdict = judge(exit_code, analysis, module) if exit_code is not None else None
    write_junit(path, module, analysis, 12.5, verdict=verdict, **kwargs)  # type: ignore[arg-type]
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
    write_junit(path, "traction", analysis, 1.0, verdict=verdict, secrets=[password, "odoo"])
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
