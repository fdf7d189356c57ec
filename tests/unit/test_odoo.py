"""harness.odoo: the test command, the log analysis and the verdict, against real Odoo 18 logs."""

from __future__ import annotations

import dataclasses
import shlex
from pathlib import Path

import pytest

from harness.config import Config
from harness.errors import UsageError
from harness.odoo import (
    LogAnalyser,
    LogAnalysis,
    TestRef,
    analyse_log,
    build_test_command,
    display_command,
    judge,
    redact,
    redact_text,
    summary_line,
)

LOGS = Path(__file__).resolve().parent.parent / "fixtures" / "odoo_logs"
PROBE_FAIL = "odoo.addons.probe_fail"


def analyse(name: str, module: str) -> LogAnalysis:
    with (LOGS / f"{name}.log").open(encoding="utf-8") as log:
        return analyse_log(log, module)


def line(level: str, logger: str, message: str, db: str = "odoo") -> str:
    """One line in Odoo's format, trailing space (empty perf field) included."""
    return f"2026-11-24 12:00:00,000 42 {level} {db} {logger}: {message} "


# --------------------------------------------------------------------------------------------
# The command
# --------------------------------------------------------------------------------------------


def test_command_is_exact_for_the_default_configuration() -> None:
    argv = build_test_command(Config(root=Path("/repo")), "traction")
    assert argv == [
        "odoo",
        "-c",
        "/etc/odoo/odoo.conf",
        "-d",
        "harness_test",
        "--db_host",
        "db",
        "--db_port",
        "5432",
        "--db_user",
        "odoo",
        "--db_password",
        "odoo",
        "--http-port",
        "8071",
        "-i",
        "traction",
        "--test-tags",
        "/traction",
        "--stop-after-init",
        "--log-level=test",
    ]


def test_command_follows_the_configuration() -> None:
    config = dataclasses.replace(
        Config(root=Path("/repo")),
        odoo_executable="/usr/bin/odoo",
        odoo_config="/etc/odoo/test.conf",
        db_name="other_db",
        db_host="postgres",
        db_port=5433,
        db_user="tester",
        db_password="Sup3r-S3cret",
        test_http_port=8072,
    )
    argv = build_test_command(config, "probe_pass")
    pairs = dict(zip(argv[1::2], argv[2::2], strict=False))  # argv[0] is the launcher
    assert argv[0] == "/usr/bin/odoo"
    assert pairs["-c"] == "/etc/odoo/test.conf"
    assert pairs["-d"] == "other_db"
    assert (pairs["--db_host"], pairs["--db_port"], pairs["--db_user"]) == ("postgres", "5433", "tester")
    assert pairs["--db_password"] == "Sup3r-S3cret"
    assert pairs["--http-port"] == "8072"
    assert build_test_command(config, "probe_pass", database="run_42")[4] == "run_42"


def test_command_installs_and_tests_only_the_module() -> None:
    argv = build_test_command(Config(root=Path("/repo")), "traction")
    assert argv[argv.index("-i") + 1] == "traction"
    assert argv[argv.index("--test-tags") + 1] == "/traction"
    assert "--stop-after-init" in argv
    # --test-enable alone would run base's and every auto-installed module's tests.
    assert "--test-enable" not in argv
    assert not any("odoo-bin" in arg for arg in argv)


@pytest.mark.parametrize("module", ["", "-i", "a/b", "mod ule", "traction,base", "/traction"])
def test_command_refuses_names_odoo_would_misread(module: str) -> None:
    with pytest.raises(UsageError):
        build_test_command(Config(root=Path("/repo")), module)


def test_command_refuses_a_database_name_that_looks_like_an_option() -> None:
    with pytest.raises(UsageError):
        build_test_command(Config(root=Path("/repo")), "traction", database="--db-filter=.*")


def test_redact_hides_the_password_but_keeps_the_launcher_named_like_it() -> None:
    argv = build_test_command(Config(root=Path("/repo")), "traction")
    shown = redact(argv, ["odoo"])
    assert shown[shown.index("--db_password") + 1] == "***"
    assert shown[0] == "odoo"  # the launcher, not the password
    assert shown[shown.index("--db_user") + 1] == "odoo"
    assert argv[argv.index("--db_password") + 1] == "odoo"  # the original is untouched


def test_redact_hides_a_long_password_wherever_it_appears() -> None:
    argv = ["odoo", "--db_password=Sup3r-S3cret", "-e", "PGPASSWORD=Sup3r-S3cret", "x"]
    assert redact(argv, ["Sup3r-S3cret", ""]) == ["odoo", "--db_password=***", "-e", "PGPASSWORD=***", "x"]


def test_redact_text_leaves_dotted_names_and_paths_of_a_short_secret() -> None:
    text = 'File "/usr/lib/python3/dist-packages/odoo/sql_db.py" in odoo.addons.x: password=odoo'
    assert redact_text(text, ["odoo"]) == (
        'File "/usr/lib/python3/dist-packages/odoo/sql_db.py" in odoo.addons.x: password=***'
    )
    assert redact_text("dsn=user:hunter2secret@db", ["hunter2secret"]) == "dsn=user:***@db"
    assert redact_text("nothing to hide", []) == "nothing to hide"


def test_display_command_is_shell_quoted_and_redacted() -> None:
    config = dataclasses.replace(Config(root=Path("/repo")), db_password="it's secret")
    shown = display_command(config, build_test_command(config, "traction"))
    assert "secret" not in shown
    assert shlex.split(shown)[12] == "***"
    assert shown.startswith("odoo -c /etc/odoo/odoo.conf -d harness_test ")


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
    assert analysis.log_seconds == pytest.approx(11.335)
    summary = summary_line("probe_pass", analysis, 12.12)
    assert summary == "probe_pass: 3 tests, 0 failures, 0 errors, 0 skipped in 12.1 s"


def test_probe_fail_block_holds_its_traceback_and_nothing_else() -> None:
    analysis = analyse("probe_fail", "probe_fail")
    (failure,) = analysis.failures
    assert failure.kind == "failure"
    assert failure.test == TestRef(f"{PROBE_FAIL}.tests.test_item", "TestItem", "test_injected_failure")
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
    assert error.test == TestRef("odoo.addons.probe_setup.tests.test_item", "TestBroken", "setUpClass")
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
    }
    assert {path.stem for path in LOGS.glob("*.log")} == covered


# --------------------------------------------------------------------------------------------
# Streaming and line-format details
# --------------------------------------------------------------------------------------------


def test_feeding_line_by_line_gives_the_same_result_at_every_step() -> None:
    text = (LOGS / "probe_fail.log").read_text(encoding="utf-8")
    analyser = LogAnalyser("probe_fail")
    fail_seen = False
    for raw in text.splitlines(keepends=True):
        analyser.feed(raw)
        if raw.startswith("AssertionError"):
            # The block is still open (its lone " " has not arrived), yet result() shows it.
            (open_block,) = analyser.result().failures
            assert open_block.message == "AssertionError: True != False"
            fail_seen = True
    assert fail_seen
    assert analyser.result() == analyse_log(text.splitlines(), "probe_fail")


def test_other_modules_outcomes_are_kept_apart() -> None:
    lines = [
        line("INFO", "odoo.addons.base.tests.test_x", "Starting TestX.test_a ..."),
        line("INFO", "odoo.addons.base.tests.test_x", "=" * 70),
        line("ERROR", "odoo.addons.base.tests.test_x", "FAIL: TestX.test_a").rstrip(),
        "Traceback (most recent call last):",
        '  File "x.py", line 1, in test_a',
        "AssertionError: 1 != 2",
        " ",
        line("INFO", "odoo.addons.traction_extra.tests.test_y", "Starting TestY.test_b ..."),
        line("INFO", "odoo.addons.traction.tests.test_z", "Starting TestZ.test_c ..."),
        line("INFO", "odoo.tests.stats", "base: 1 tests 0.01s 1 queries"),
        line("INFO", "odoo.tests.stats", "traction: 1 tests 0.01s 1 queries"),
        line("ERROR", "odoo.tests.result", "1 failed, 0 error(s) of 3 tests when loading database 'x'"),
    ]
    analysis = analyse_log(lines, "traction")
    assert analysis.failures == ()
    assert [str(o.test) for o in analysis.other_failures] == ["TestX.test_a"]
    assert [str(t) for t in analysis.started] == ["TestZ.test_c"]  # traction_extra is not traction
    assert analysis.other_started == 2
    assert analysis.module_stats_tests == 1
    verdict = judge(1, analysis, "traction")
    assert any("other modules' tests" in reason and "TestX.test_a" in reason for reason in verdict.reasons)


def test_coloured_crlf_lines_and_unknown_db_are_understood() -> None:
    coloured = (
        "2026-11-24 12:00:00,000 42 \x1b[1;31m\x1b[1;49mCRITICAL\x1b[0m ? odoo.service.server: "
        "Failed to initialize database `x`. \r\n"
    )
    analysis = analyse_log([coloured], "traction")
    assert analysis.critical_lines == (
        "2026-11-24 12:00:00,000 42 CRITICAL ? odoo.service.server: Failed to initialize database `x`.",
    )
    assert analysis.odoo_lines == 1


def test_unprefixed_noise_is_not_an_outcome() -> None:
    lines = [
        "Warn: Can't find .pfb for face 'Courier'",
        line("INFO", "odoo.tests.result", "0 failed, 0 error(s) of 1 tests when loading database 'x'"),
        "12.12 s",
    ]
    analysis = analyse_log(lines, "traction")
    assert analysis.failures == analysis.other_failures == analysis.exceptions == ()
    assert analysis.lines == 3 and analysis.odoo_lines == 1
