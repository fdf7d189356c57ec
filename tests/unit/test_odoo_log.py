"""harness.odoo_log: reading Odoo 18's log line by line as it streams."""

from __future__ import annotations

import pytest

from harness.odoo_log import LogAnalyser, analyse_log
from harness.verdict import judge
from tests.unit.odoo_logs import DB, LOGS, line

# --------------------------------------------------------------------------------------------
# Streaming and line-format details
# --------------------------------------------------------------------------------------------


def test_feeding_line_by_line_gives_the_same_result_at_every_step() -> None:
    text = (LOGS / "probe_fail.log").read_text(encoding="utf-8")
    analyser = LogAnalyser("probe_fail", DB)
    fail_seen = False
    for raw in text.splitlines(keepends=True):
        analyser.feed(raw)
        if raw.startswith("AssertionError"):
            # The block is still open (its lone " " has not arrived), yet result() shows it.
            (open_block,) = analyser.result().failures
            assert open_block.message == "AssertionError: True != False"
            fail_seen = True
    assert fail_seen
    assert analyser.result() == analyse_log(text.splitlines(), "probe_fail", DB)


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
        line("ERROR", "odoo.tests.result", "1 failed, 0 error(s) of 3 tests when loading database 'odoo'"),
    ]
    analysis = analyse_log(lines, "traction", DB)
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
    analysis = analyse_log([coloured], "traction", DB)
    assert analysis.critical_lines == (
        "2026-11-24 12:00:00,000 42 CRITICAL ? odoo.service.server: Failed to initialize database `x`.",
    )
    assert analysis.odoo_lines == 1


def test_unprefixed_noise_is_not_an_outcome() -> None:
    lines = [
        "Warn: Can't find .pfb for face 'Courier'",
        line("INFO", "odoo.tests.result", "0 failed, 0 error(s) of 1 tests when loading database 'odoo'"),
        "12.12 s",
    ]
    analysis = analyse_log(lines, "traction", DB)
    assert analysis.failures == analysis.other_failures == analysis.exceptions == ()
    assert analysis.lines == 3 and analysis.odoo_lines == 1


# --------------------------------------------------------------------------------------------
# A record glued to a test's unterminated print
# --------------------------------------------------------------------------------------------

RESULT = (
    "2026-11-24 12:05:11,284 1176 INFO odoo odoo.tests.result: "
    "0 failed, 0 error(s) of 2 tests when loading database 'odoo' "
)


def test_a_record_glued_to_a_print_is_read_and_the_print_is_output() -> None:
    analysis = analyse_log([f"x{RESULT}\n"], "traction", DB)
    assert (analysis.result_failed, analysis.result_errors, analysis.result_total) == (0, 0, 2)
    assert analysis.result_line == RESULT.rstrip()  # the record alone, without the glued "x"
    assert analysis.odoo_lines == analysis.lines == 1


def test_glued_fixture_reads_every_record() -> None:
    with (LOGS / "synthetic_glued_print.log").open(encoding="utf-8") as log:
        analysis = analyse_log(log, "probe_print", DB)
    assert [str(test) for test in analysis.started] == ["TestItem.test_progress", "TestItem.test_ok"]
    assert analysis.result_total == 2
    assert judge(0, analysis, "probe_print").passed


def test_a_fail_block_glued_to_a_print_is_still_a_block() -> None:
    logger = "odoo.addons.traction.tests.test_a"
    lines = [
        line("ERROR", logger, "FAIL: TestA.test_a").rstrip(),
        "Traceback (most recent call last):",
        "AssertionError: 1 != 2",
        " ",
        line("INFO", logger, "Starting TestA.test_b ..."),
        "half a line" + line("ERROR", logger, "ERROR: TestA.test_b").rstrip(),
        "Traceback (most recent call last):",
        "RuntimeError: boom",
    ]
    analysis = analyse_log(lines, "traction", DB)
    assert [(o.kind, str(o.test), o.message) for o in analysis.failures] == [
        ("failure", "TestA.test_a", "AssertionError: 1 != 2"),
        ("error", "TestA.test_b", "RuntimeError: boom"),
    ]
    assert [str(test) for test in analysis.started] == ["TestA.test_b"]


# --------------------------------------------------------------------------------------------
# Module-state lines only from odoo.modules.loading at Odoo's level; tests only from test loggers
# --------------------------------------------------------------------------------------------

LOADING = "odoo.modules.loading"
STATE_LINES = [
    ("invalid_module_lines", "WARNING", "invalid module names, ignored: no_such_module"),
    ("not_loaded_lines", "ERROR", "Some modules are not loaded, some dependencies or manifest may be missing: ['x']"),
    ("inconsistent_lines", "ERROR", "Some modules have inconsistent states, some dependencies may be missing: ['x']"),
]


@pytest.mark.parametrize(("field", "level", "message"), STATE_LINES)
def test_module_state_lines_come_from_odoo_modules_loading_at_its_level(field: str, level: str, message: str) -> None:
    exact = line(level, LOADING, message)
    assert getattr(analyse_log([exact], "traction", DB), field) == (exact.rstrip(),)
    other_logger = line(level, "odoo.addons.traction.models.order", message)
    other_level = line("INFO" if level != "INFO" else "ERROR", LOADING, message)
    a_phrase = line(level, LOADING, "reconciled 3 orders with inconsistent states")
    for text in (other_logger, other_level, a_phrase):
        assert getattr(analyse_log([text], "traction", DB), field) == (), text


def test_critical_lines_count_from_any_logger() -> None:
    critical = line("CRITICAL", "odoo.addons.traction.models.order", "the module's own critical line")
    assert analyse_log([critical], "traction", DB).critical_lines == (critical.rstrip(),)


def test_only_test_loggers_start_tests_and_open_blocks() -> None:
    models = "odoo.addons.traction.models.order"
    lines = [
        line("INFO", models, "Starting sync of order 7 ..."),
        line("ERROR", models, "ERROR: sync failed").rstrip(),
        "Traceback (most recent call last):",
        "ConnectionError: remote closed",
        " ",
        line("INFO", "odoo.addons.traction.tests.test_a", "FAIL: TestA.test_a (only an INFO line)"),
    ]
    analysis = analyse_log(lines, "traction", DB)
    assert analysis.started == analysis.failures == analysis.other_failures == ()
    assert analysis.other_started == 0
    assert analysis.exceptions == ("ConnectionError: remote closed",)
