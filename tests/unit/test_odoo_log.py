"""harness.odoo_log: reading Odoo 18's log line by line as it streams."""

from __future__ import annotations

from harness.odoo_log import LogAnalyser, analyse_log
from harness.verdict import judge
from tests.unit.odoo_logs import LOGS, line

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
