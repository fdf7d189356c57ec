"""Every outcome has its own word: NO TESTS (exit 5) and named setUpClass failures (no Docker)."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from pathlib import Path
from types import SimpleNamespace

import pytest

from harness import github
from harness.config import Config
from harness.errors import ExitCode
from harness.junit import NO_TESTS_PACKAGE_CASE, write_junit
from harness.modules import has_tests
from harness.odoo_log import analyse_log
from harness.report import rows
from harness.result import Counts, failed_tests
from harness.verdict import failure_message, judge
from tests.unit.odoo_logs import DB, analyse, line
from tests.unit.test_report import result_of

# What real Odoo 18 prints for a module without a tests package, run with --test-tags /probe_data.
NO_TESTS_LOG = [
    line("INFO", "odoo.modules.loading", "Loading module probe_data (13/13)"),
    line("INFO", "odoo.modules.loading", "Module probe_data loaded in 0.05s, 20 queries"),
    line("INFO", "odoo.service.server", "Starting post tests"),
    line("INFO", "odoo.service.server", "0 post-tests in 0.00s, 0 queries"),
    line("INFO", "odoo.tests.result", f"0 failed, 0 error(s) of 0 tests when loading database '{DB}'"),
]


def no_tests_analysis():
    return analyse_log(NO_TESTS_LOG, "probe_data", DB)


def test_a_module_without_a_tests_package_is_no_tests_not_a_failure() -> None:
    verdict = judge(0, no_tests_analysis(), "probe_data", has_tests=False)
    assert (verdict.passed, verdict.no_tests) == (False, True)
    assert verdict.reasons == (
        "probe_data has no tests package (no tests/ folder): Odoo installed it cleanly and had nothing to run",
    )


def test_a_module_with_a_tests_package_of_which_none_ran_stays_a_failure() -> None:
    verdict = judge(0, no_tests_analysis(), "probe_data", has_tests=True)
    assert (verdict.passed, verdict.no_tests) == (False, False)
    assert any("0 tests" in reason for reason in verdict.reasons)


@pytest.mark.parametrize("odoo_exit", [1, 255, None])
def test_no_tests_package_does_not_hide_a_broken_install(odoo_exit: int | None) -> None:
    # Data-only modules still install: an XML error there is a failure, tests or not.
    analysis = analyse("probe_importerror", "probe_importerror")
    verdict = judge(odoo_exit, analysis, "probe_importerror", has_tests=False)
    assert not verdict.passed and not verdict.no_tests


def test_no_tests_package_with_a_critical_line_is_a_failure() -> None:
    log = [*NO_TESTS_LOG, line("CRITICAL", "odoo.service.server", "Failed to initialize database `odoo`.")]
    verdict = judge(0, analyse_log(log, "probe_data", DB), "probe_data", has_tests=False)
    assert not verdict.no_tests


def test_has_tests_is_a_tests_folder_or_tests_py(tmp_path: Path) -> None:
    module = tmp_path / "m"
    module.mkdir()
    assert not has_tests(module)
    (module / "tests.py").write_text("")
    assert has_tests(module)
    (module / "tests.py").unlink()
    (module / "tests").mkdir()
    assert has_tests(module)  # even empty: its tests were meant to run, so 0 tests fails (exit 1)


def test_no_tests_junit_is_one_skipped_case_saying_why(tmp_path: Path) -> None:
    analysis = no_tests_analysis()
    verdict = judge(0, analysis, "probe_data", has_tests=False)
    path = tmp_path / "junit.xml"
    write_junit(path, "probe_data", analysis, 1.0, judgement=verdict)
    suite = ET.parse(path).getroot().find("testsuite")
    assert suite is not None
    assert {k: suite.get(k) for k in ("tests", "failures", "errors", "skipped")} == {
        "tests": "1", "failures": "0", "errors": "0", "skipped": "1"
    }  # fmt: skip
    (case,) = suite.findall("testcase")
    assert (case.get("classname"), case.get("name")) == ("probe_data", NO_TESTS_PACKAGE_CASE)
    skipped = case.find("skipped")
    assert skipped is not None and "has no tests package" in skipped.get("message", "")
    assert suite.find("system-err") is None


def test_no_tests_is_a_warning_on_github_and_its_own_word_in_the_block(tmp_path: Path) -> None:
    result = result_of(tmp_path, exit_code=ExitCode.NO_TESTS, message="probe_pass has no tests package ...")
    assert result.headline == "NO TESTS" and not result.passed
    assert github.annotations(result) == ["::warning title=probe_pass%3A NO TESTS::probe_pass has no tests package ..."]
    assert "⚠️ NO TESTS" in github.summary_markdown(result)
    shown = dict(rows(result))
    assert shown["result"] == "NO TESTS  probe_pass  (exit 5)"
    assert "so far" not in shown["tests"]


# --- a failing setUpClass is named --------------------------------------------------------------

SETUP_LOG = "synthetic_setupclass_error"


def test_a_failing_setupclass_is_named_in_the_message_the_failed_test_and_the_annotation(tmp_path: Path) -> None:
    analysis = analyse(SETUP_LOG, "probe_setup")
    counts = Counts.from_analysis(analysis)
    message = failure_message(analysis, counts.tests, counts.failures + counts.errors)
    assert message == "TestBroken.setUpClass failed: ValueError: no fixture record (its tests did not run)"
    (failed,) = failed_tests(analysis, Config(root=tmp_path, addons_path=(tmp_path / "addons",)), tmp_path)
    assert (failed.name, failed.file, failed.line) == (
        "TestBroken.setUpClass",
        "addons/probe_setup/tests/test_item.py",
        9,
    )
    result = result_of(tmp_path, exit_code=1, message=message, failed_tests=[failed])
    assert github.annotations(result) == [
        "::error file=addons/probe_setup/tests/test_item.py,line=9,"
        "title=probe_pass%3A error in TestBroken.setUpClass::ValueError: no fixture record"
    ]
    verdict = judge(1, analysis, "probe_setup")
    assert any("TestBroken.setUpClass (ValueError: no fixture record)" in r for r in verdict.reasons), verdict.reasons


def test_plain_failures_keep_their_count_message() -> None:
    analysis = analyse("probe_fail", "probe_fail")
    assert failure_message(analysis, 2, 1) == "1 of 2 tests failed"
    assert failure_message(analysis, 2, 0) is None


def test_nox_skips_a_no_tests_session_among_several_and_exits_5_alone() -> None:
    noxfile = pytest.importorskip("noxfile")

    class Skipped(Exception):
        pass

    def skip(reason: str) -> None:
        raise Skipped(reason)

    several = SimpleNamespace(_runner=SimpleNamespace(manifest=[1, 2]), skip=skip, error=None)
    with pytest.raises(Skipped, match="exit 5"):
        noxfile.finish(ExitCode.NO_TESTS, several)
    alone = SimpleNamespace(_runner=SimpleNamespace(manifest=[1]), skip=skip)
    with pytest.raises(SystemExit) as stopped:
        noxfile.finish(ExitCode.NO_TESTS, alone)
    assert stopped.value.code == 5
