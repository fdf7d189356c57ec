"""harness.verdict: the verdict and the summary line, against real Odoo 18 logs and synthetic ones."""

from __future__ import annotations

import dataclasses

import pytest

from harness.odoo_cases import CaseRef
from harness.odoo_log import analyse_log
from harness.verdict import judge, summary_line
from tests.unit.odoo_logs import LOGS, analyse, line

PROBE_FAIL = "odoo.addons.probe_fail"

# --------------------------------------------------------------------------------------------
# The real logs
# --------------------------------------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class Expected:
    log: str
    module: str
    exit_code: int
    passed: bool
    result: tuple[int, int, int] | None  # failed, errors, total
    stats: int | None
    started: int
    reason_words: tuple[str, ...] = ()


REAL_LOGS = [
    Expected("probe_pass", "probe_pass", 0, True, (0, 0, 3), 7, 3),
    Expected("probe_fail", "probe_fail", 1, False, (1, 0, 2), 4, 2, ("exit code 1", "1 failed", "!= False")),
    Expected("probe_error", "probe_error", 1, False, (0, 1, 1), 3, 1, ("1 error(s)", "RuntimeError: boom")),
    Expected(
        "probe_importerror",
        "probe_importerror",
        255,
        False,
        None,
        None,
        0,
        ("exit code 255", "CRITICAL", "Failed to initialize database", "does_not_exist_anywhere"),
    ),
    Expected("no_such_module", "no_such_module", 0, False, (0, 0, 0), None, 0, ("invalid module", "0 tests")),
    Expected(
        "exec_without_db_args",
        "probe_pass",
        1,
        False,
        None,
        None,
        0,
        ("exit code 1", "no odoo.tests.result line", "--db_host"),
    ),
    Expected(
        "exec_test_enable_port_conflict",
        "probe_pass",
        1,
        False,
        None,
        None,
        0,
        ("no odoo.tests.result line", "Address already in use", "test_http_port"),
    ),
]


@pytest.mark.parametrize("expected", REAL_LOGS, ids=lambda e: e.log)
def test_real_log_analysis_and_verdict(expected: Expected) -> None:
    analysis = analyse(expected.log, expected.module)
    if expected.result is None:
        assert (analysis.result_failed, analysis.result_errors, analysis.result_total) == (None, None, None)
    else:
        assert (analysis.result_failed, analysis.result_errors, analysis.result_total) == expected.result
    assert analysis.module_stats_tests == expected.stats
    assert len(analysis.started) == expected.started
    verdict = judge(expected.exit_code, analysis, expected.module)
    assert verdict.passed is expected.passed, verdict.reasons
    assert bool(verdict.reasons) is not expected.passed
    reasons = "\n".join(verdict.reasons)
    for word in expected.reason_words:
        assert word in reasons


def test_probe_pass_started_tests_are_named_by_logger_and_description() -> None:
    analysis = analyse("probe_pass", "probe_pass")
    assert [str(test) for test in analysis.started] == [
        "TestAtInstall.test_at_install",
        "TestItem.test_create",
        "TestItem.test_search",
    ]
    assert {test.classname for test in analysis.started} == {
        "odoo.addons.probe_pass.tests.test_item.TestAtInstall",
        "odoo.addons.probe_pass.tests.test_item.TestItem",
    }
    assert analysis.failures == analysis.skipped == analysis.other_failures == ()
    assert analysis.critical_lines == analysis.invalid_module_lines == ()
    summary = summary_line("probe_pass", analysis, 12.12)
    assert summary == "probe_pass: 3 tests, 0 failures, 0 errors, 0 skipped in 12.1 s"


def test_probe_fail_block_holds_its_traceback_and_nothing_else() -> None:
    analysis = analyse("probe_fail", "probe_fail")
    (failure,) = analysis.failures
    assert failure.kind == "failure"
    assert failure.test == CaseRef(f"{PROBE_FAIL}.tests.test_item", "TestItem", "test_injected_failure")
    assert failure.message == "AssertionError: True != False"
    assert failure.details.splitlines() == [
        "FAIL: TestItem.test_injected_failure",
        "Traceback (most recent call last):",
        '  File "/mnt/extra-addons/probe_fail/tests/test_item.py", line 8, in test_injected_failure',
        "    self.assertEqual(True, False)",
        "AssertionError: True != False",
    ]
    log_lines = (LOGS / "probe_fail.log").read_text(encoding="utf-8").splitlines()
    assert "FAIL: TestItem.test_injected_failure" in log_lines[failure.line_number - 1]
    assert (analysis.counted_failures, analysis.counted_errors) == (1, 0)
    assert analysis.exceptions == ()  # the test's traceback is not a start-up error
    summary = summary_line("probe_fail", analysis, 12.11)
    assert summary == "probe_fail: 2 tests, 1 failure, 0 errors, 0 skipped in 12.1 s"


def test_probe_error_block() -> None:
    analysis = analyse("probe_error", "probe_error")
    (error,) = analysis.failures
    assert (error.kind, str(error.test)) == ("error", "TestItem.test_boom")
    assert error.message == "RuntimeError: boom"
    assert 'raise RuntimeError("boom")' in error.details


def test_probe_importerror_keeps_the_critical_line_and_its_cause() -> None:
    analysis = analyse("probe_importerror", "probe_importerror")
    (critical,) = analysis.critical_lines
    assert "CRITICAL odoo odoo.service.server: Failed to initialize database 'odoo'." in critical
    assert analysis.exceptions == ("ModuleNotFoundError: No module named 'does_not_exist_anywhere'",)
    assert not analysis.has_result
    assert summary_line("probe_importerror", analysis, 9.05) == (
        "probe_importerror: 0 tests, 0 failures, 0 errors, 0 skipped in 9.1 s (no odoo.tests.result line)"
    )


def test_no_such_module_exits_0_but_fails() -> None:
    analysis = analyse("no_such_module", "no_such_module")
    assert len(analysis.invalid_module_lines) == 1
    verdict = judge(0, analysis, "no_such_module")
    assert not verdict.passed
    assert any("0 tests" in reason and "tests/__init__.py" in reason for reason in verdict.reasons)


def test_a_passing_log_still_fails_on_a_bad_exit_a_timeout_or_an_unknown_exit() -> None:
    analysis = analyse("probe_pass", "probe_pass")
    assert judge(0, analysis, "probe_pass").passed
    assert not judge(1, analysis, "probe_pass").passed
    assert not judge(None, analysis, "probe_pass").passed
    timed_out = judge(None, analysis, "probe_pass", timed_out=True)
    assert not timed_out.passed
    assert timed_out.reasons == (timed_out.reasons[0],) and "timed out" in timed_out.reasons[0]


def test_the_verdict_is_about_the_module_asked_for() -> None:
    # probe_pass's log says nothing about `traction`: its tests did not run.
    verdict = judge(0, analyse("probe_pass", "traction"), "traction")
    assert not verdict.passed
    assert any("traction: N tests" in reason for reason in verdict.reasons)
    with pytest.raises(ValueError, match="analysed for 'probe_pass'"):
        judge(0, analyse("probe_pass", "probe_pass"), "traction")


@pytest.mark.parametrize(
    ("exit_code", "words"),
    [(126, "odoo-bin"), (127, "odoo_executable"), (137, "SIGKILL"), (200, "exit code 200"), (255, "255")],
)
def test_exit_code_reasons(exit_code: int, words: str) -> None:
    verdict = judge(exit_code, analyse("probe_pass", "probe_pass"), "probe_pass")
    assert not verdict.passed
    assert words in verdict.reasons[0]


# --------------------------------------------------------------------------------------------
# Synthetic logs: the cases real runs did not produce
# --------------------------------------------------------------------------------------------


def test_setupclass_error_is_the_modules_error() -> None:
    analysis = analyse("synthetic_setupclass_error", "probe_setup")
    (error,) = analysis.failures
    assert error.kind == "error"
    assert error.test == CaseRef("odoo.addons.probe_setup.tests.test_item", "TestBroken", "setUpClass")
    assert error.message == "ValueError: no fixture record"
    assert not judge(1, analysis, "probe_setup").passed


def test_skipped_test_is_reported_and_the_run_passes() -> None:
    analysis = analyse("synthetic_skipped", "probe_skip")
    (skip,) = analysis.skipped
    assert (skip.kind, str(skip.test)) == ("skipped", "TestTour.test_tour")
    assert skip.message == "Chrome executable not found"
    assert judge(0, analysis, "probe_skip").passed
    summary = summary_line("probe_skip", analysis, 3.0)
    assert summary == "probe_skip: 2 tests, 0 failures, 0 errors, 1 skipped in 3.0 s"


def test_subtest_failures_keep_their_parameters() -> None:
    analysis = analyse("synthetic_subtest_fail", "probe_sub")
    assert [o.test.method for o in analysis.failures] == ["test_values (value=2)", "test_values (value=4)"]
    assert {o.test.classname for o in analysis.failures} == {"odoo.addons.probe_sub.tests.test_item.TestItem"}


@pytest.mark.parametrize(
    ("log", "module", "words"),
    [
        ("synthetic_not_loaded", "probe_dep", "Some modules are not loaded"),
        ("synthetic_inconsistent", "probe_dep", "inconsistent states"),
        ("synthetic_critical", "probe_dep", "CRITICAL"),
        ("synthetic_foreign_tests", "traction", "other modules' tests"),
        ("synthetic_uncounted_error", "probe_uncounted", "did not count"),
        ("synthetic_all_skipped", "probe_allskip", "all 2 tests of probe_allskip were skipped: nothing was tested"),
    ],
)
def test_exit_0_with_a_clean_summary_still_fails(log: str, module: str, words: str) -> None:
    analysis = analyse(log, module)
    assert analysis.result_failed == analysis.result_errors == 0
    verdict = judge(0, analysis, module)
    assert not verdict.passed
    assert len(verdict.reasons) == 1 and words in verdict.reasons[0], verdict.reasons


def test_every_fixture_log_is_covered() -> None:
    covered = {e.log for e in REAL_LOGS} | {
        "synthetic_setupclass_error",
        "synthetic_skipped",
        "synthetic_subtest_fail",
        "synthetic_not_loaded",
        "synthetic_inconsistent",
        "synthetic_critical",
        "synthetic_foreign_tests",
        "synthetic_uncounted_error",
        "synthetic_all_skipped",
        "synthetic_module_logs_errors",
        "synthetic_other_database",
        "synthetic_glued_print",
    }
    assert {path.stem for path in LOGS.glob("*.log")} == covered


# --------------------------------------------------------------------------------------------
# Skipped tests: one skip among passing tests passes; a module whose every test skipped fails
# --------------------------------------------------------------------------------------------

TEST_LOGGER = "odoo.addons.probe_skip.tests.test_item"


def skip_log(*body: str, total: int) -> list[str]:
    """A clean run of probe_skip whose tests are `body`; Odoo counted `total` tests."""
    return [
        *body,
        line("INFO", "odoo.tests.stats", f"probe_skip: {max(total, 1)} tests 0.01s 1 queries"),
        line("INFO", "odoo.tests.result", f"0 failed, 0 error(s) of {total} tests when loading database 'odoo'"),
    ]


def started(test: str) -> str:
    return line("INFO", TEST_LOGGER, f"Starting {test} ...")


def skipped(test: str, reason: str = "no Chrome") -> str:
    return line("INFO", TEST_LOGGER, f"skipped {test} : {reason}")


def test_all_skipped_names_the_count_and_the_first_reason() -> None:
    analysis = analyse("synthetic_all_skipped", "probe_allskip")
    assert analysis.result_total == 2 and len(analysis.skipped) == 2 and analysis.tests_run == ()
    (reason,) = judge(0, analysis, "probe_allskip").reasons
    assert reason == (
        "all 2 tests of probe_allskip were skipped: nothing was tested "
        "(first: TestItem.test_first: needs a feature this database does not have)"
    )


def test_the_only_test_skipped_fails() -> None:
    analysis = analyse_log(skip_log(started("TestA.test_a"), skipped("TestA.test_a"), total=1), "probe_skip", "odoo")
    (reason,) = judge(0, analysis, "probe_skip").reasons
    assert reason.startswith("the only test of probe_skip was skipped: nothing was tested")


def test_one_skip_among_passing_tests_passes() -> None:
    body = (started("TestA.test_a"), started("TestA.test_b"), skipped("TestA.test_b"), started("TestA.test_c"))
    assert judge(0, analyse_log(skip_log(*body, total=3), "probe_skip", "odoo"), "probe_skip").passed


def test_a_skipped_subtest_does_not_skip_its_test() -> None:
    body = (started("TestA.test_a"), skipped("Subtest TestA.test_a (i=1)"))
    analysis = analyse_log(skip_log(*body, total=1), "probe_skip", "odoo")
    assert [str(test) for test in analysis.tests_run] == ["TestA.test_a"]
    assert judge(0, analysis, "probe_skip").passed


def test_a_skipped_class_is_all_skipped() -> None:
    # setUpClass raising SkipTest: odoo.tests.suite logs one skip, no test starts, Odoo counts 0.
    skip_class = line(
        "INFO", "odoo.tests.suite", f"skipped setUpClass ({TEST_LOGGER}.TestTour) : Chrome executable not found"
    )
    reasons = judge(0, analyse_log(skip_log(skip_class, total=0), "probe_skip", "odoo"), "probe_skip").reasons
    assert any(r.startswith("the only test of probe_skip was skipped: nothing was tested") for r in reasons), reasons
    assert any("reports 0 tests" in r for r in reasons)


def test_skips_do_not_fail_a_run_odoo_counted_more_tests_of() -> None:
    # Odoo counted 2 tests but the log shows one Starting line (the other one's line was lost):
    # a test ran, so "nothing was tested" would be false.
    body = (started("TestA.test_a"), skipped("TestA.test_a"))
    assert judge(0, analyse_log(skip_log(*body, total=2), "probe_skip", "odoo"), "probe_skip").passed


# --------------------------------------------------------------------------------------------
# A module's own ERROR lines and phrases are not failures; other databases' summaries do not count
# --------------------------------------------------------------------------------------------


def test_a_module_that_logs_errors_but_whose_tests_pass_passes() -> None:
    analysis = analyse("synthetic_module_logs_errors", "probe_noisy")
    assert analysis.invalid_module_lines == analysis.not_loaded_lines == analysis.inconsistent_lines == ()
    assert analysis.failures == analysis.other_failures == ()
    assert [str(test) for test in analysis.started] == ["TestItem.test_sync", "TestItem.test_reconcile"]
    assert analysis.exceptions == ("ConnectionError: remote closed",)
    verdict = judge(0, analysis, "probe_noisy")
    assert verdict.passed, verdict.reasons


def test_only_the_test_databases_summary_counts() -> None:
    analysis = analyse("synthetic_other_database", "probe_db")
    assert (analysis.result_failed, analysis.result_errors, analysis.result_total) == (0, 0, 2)
    assert analysis.result_line is not None and analysis.result_line.endswith("'odoo'")
    assert len(analysis.other_result_lines) == 2
    assert judge(0, analysis, "probe_db").passed
    # The same log read for the other database takes that database's line, and only it.
    other = analyse("synthetic_other_database", "probe_db", database="other_db")
    assert (other.result_failed, other.result_errors, other.result_total) == (1, 0, 9)


@pytest.mark.parametrize(
    ("db_field", "in_message"),
    [("other_db", "other_db"), ("odoo", "other_db"), ("other_db", "odoo"), ("odoo", "odoo_2")],
)
def test_a_summary_of_another_database_is_ignored(db_field: str, in_message: str) -> None:
    summary = line(
        "INFO", "odoo.tests.result", f"0 failed, 0 error(s) of 4 tests when loading database '{in_message}'", db_field
    )
    analysis = analyse_log([summary], "probe_db", "odoo")
    assert not analysis.has_result and analysis.other_result_lines == (summary.rstrip(),)
    reasons = judge(0, analysis, "probe_db").reasons
    assert any("no odoo.tests.result line for database 'odoo', only for other databases" in r for r in reasons)


def test_a_selection_that_ran_nothing_is_the_first_reason_and_names_the_classes() -> None:
    from harness.selection import Selection

    chosen = Selection("TestItem.test_gone", "/probe_skip:TestItem.test_gone", "TestItem (test_a)")
    analysis = analyse_log(skip_log(total=0), "probe_skip", "odoo")
    reasons = judge(0, analysis, "probe_skip", selection=chosen).reasons
    assert reasons[0] == (
        "the selection TestItem.test_gone (--test-tags /probe_skip:TestItem.test_gone) ran no test of probe_skip; "
        "its test classes: TestItem (test_a)"
    )
    ran = analyse_log(skip_log(started("TestItem.test_a"), total=1), "probe_skip", "odoo")
    assert judge(0, ran, "probe_skip", selection=chosen).passed
