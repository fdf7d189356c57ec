"""harness.outcome.decide: every row of the README's exit-code table, and how the records combine."""

from __future__ import annotations

import re
import signal
from pathlib import Path

import pytest

from harness.errors import HEADLINES, EnvironmentProblem, ExitCode, Interrupted, NoFreePort, ReadinessFailed, UsageError
from harness.outcome import Outcome, SignalSeen, Stop, decide
from harness.records import CleanupReport, Resources
from harness.result import Counts
from harness.verdict import Judgement

README = Path(__file__).resolve().parents[2] / "README.md"
PASSED = Judgement(True)
FAILED = Judgement(False, ("odoo.tests.result reports 1 failed, 0 error(s) of 3 tests", "exit code 1: ..."))
NO_TESTS = Judgement(False, ("no test of traction ran: 0 tests",))
NOT_INSTALLED = Judgement(False, ("exit code 255: the registry failed to load",))
NO_TESTS_PACKAGE = Judgement(False, ("probe has no tests package (no tests/ folder): ...",), no_tests=True)
CLEAN = CleanupReport("p", 0, Resources(), 0.5, False)
LEAKY = CleanupReport("p", 0, Resources(networks=("p_default",)), 0.5, True)
SUMMARY = "traction: 3 tests, 0 failures, 0 errors, 0 skipped in 4.0 s"


def counts(tests: int = 3, failures: int = 0, errors: int = 0) -> Counts:
    return Counts(tests, failures, errors, 0)


def stop(error: BaseException, phase: str = "up", traceback_file: Path | None = None) -> Stop:
    return Stop(error, phase, traceback_file)


# (name, records, exit code, message): one case per row of the table, and per way to reach it.
CASES = [
    ("passed", dict(judgement=PASSED, cleanup=CLEAN, summary=SUMMARY, counts=counts()), 0, SUMMARY),
    ("failing tests", dict(judgement=FAILED, cleanup=CLEAN, counts=counts(failures=1)), 1, "1 of 3 tests failed"),
    ("errored tests", dict(judgement=FAILED, cleanup=CLEAN, counts=counts(errors=2)), 1, "2 of 3 tests failed"),
    ("0 tests", dict(judgement=NO_TESTS, cleanup=CLEAN, counts=counts(0)), 1, NO_TESTS.reasons[0]),
    ("not installed", dict(judgement=NOT_INSTALLED, cleanup=CLEAN, counts=None), 1, NOT_INSTALLED.reasons[0]),
    (
        "no tests package",
        dict(judgement=NO_TESTS_PACKAGE, cleanup=CLEAN, summary=SUMMARY, counts=counts(0)),
        5,
        NO_TESTS_PACKAGE.reasons[0],
    ),
    ("bad name", dict(judgement=None, stops=[stop(UsageError("bad name"), "preflight")]), 2, "bad name"),
    (
        "no free port",
        dict(judgement=None, stops=[stop(NoFreePort("No available ports in range 1-2"), "port")]),
        3,
        "No available ports in range 1-2",
    ),
    (
        "engine unreachable",
        dict(judgement=None, stops=[stop(EnvironmentProblem("engine gone"), "preflight")]),
        3,
        "engine gone",
    ),
    (
        "compose up failed",
        dict(judgement=None, stops=[stop(EnvironmentProblem("up failed"))], cleanup=CLEAN),
        3,
        "up failed",
    ),
    (
        "never ready",
        dict(judgement=None, stops=[stop(ReadinessFailed("not ready after 5 s"), "readiness")], cleanup=CLEAN),
        3,
        "not ready after 5 s",
    ),
    (
        "cleanup left resources",
        dict(judgement=PASSED, cleanup=LEAKY, summary=SUMMARY, counts=counts()),
        3,
        "cleanup left resources behind: containers: -; networks: p_default; volumes: -",
    ),
    (
        "a bug of ours",
        dict(judgement=None, stops=[stop(KeyError("x"), "tests", Path("a/internal-error.txt"))]),
        3,
        "internal error: KeyError('x'); traceback in a/internal-error.txt",
    ),
    (
        "a bug, traceback not writable",
        dict(judgement=None, stops=[stop(KeyError("x"), "tests")]),
        3,
        "internal error: KeyError('x')",
    ),
    ("no verdict and no stop", dict(judgement=None), 3, "internal error: the run ended without a verdict"),
    (
        "SIGINT",
        dict(
            judgement=None,
            stops=[stop(Interrupted(signal.SIGINT), "tests")],
            signals=[SignalSeen(signal.SIGINT, "tests")],
            cleanup=CLEAN,
        ),
        130,
        "interrupted by SIGINT during phase tests",
    ),
    (
        "SIGTERM",
        dict(
            judgement=None,
            stops=[stop(Interrupted(signal.SIGTERM), "readiness")],
            signals=[SignalSeen(signal.SIGTERM, "readiness")],
        ),
        143,
        "interrupted by SIGTERM during phase readiness",
    ),
    (
        "SIGHUP",
        dict(judgement=None, stops=[stop(Interrupted(signal.SIGHUP), "up")], signals=[SignalSeen(signal.SIGHUP, "up")]),
        129,
        "interrupted by SIGHUP during phase up",
    ),
]


@pytest.mark.parametrize(("records", "code", "message"), [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_each_row_of_the_exit_code_table(records: dict, code: int, message: str) -> None:
    outcome = decide(**records)
    assert (outcome.exit_code, outcome.message) == (code, message)
    assert outcome.headline == HEADLINES[code]
    assert decide(**records) == outcome  # pure: the same records, the same outcome


def test_the_cases_cover_every_row_of_the_readme_table() -> None:
    section = re.split(r"^#+ Exit codes$", README.read_text(encoding="utf-8"), maxsplit=1, flags=re.MULTILINE)[1]
    section = section.split("\n\n", 2)[1]
    documented = {int(m) for m in re.findall(r"^\| (\d+) \|", section, re.MULTILINE)}
    assert documented == {int(code) for code in ExitCode}
    assert documented == {c[2] for c in CASES}


def test_failed_rules_are_the_reasons_whatever_ends_the_run() -> None:
    assert decide(judgement=FAILED, counts=counts(failures=1)).reasons == FAILED.reasons
    assert decide(judgement=PASSED, summary=SUMMARY).reasons == ()
    late = decide(judgement=FAILED, stops=[stop(Interrupted(signal.SIGINT), "tests")], counts=counts(failures=1))
    assert late.exit_code == 130 and late.reasons == FAILED.reasons


def test_a_signal_during_the_error_handling_decides_the_code_and_the_message_says_both() -> None:
    outcome = decide(
        judgement=None,
        stops=[stop(EnvironmentProblem("compose up failed"), "up")],
        signals=[SignalSeen(signal.SIGHUP, "up")],
    )
    assert outcome == Outcome(
        ExitCode.SIGHUP, "INTERRUPTED", "interrupted by SIGHUP during phase up; compose up failed", ()
    )


def test_a_signal_during_the_teardown_of_a_passing_run_still_interrupts_it() -> None:
    outcome = decide(judgement=PASSED, signals=[SignalSeen(signal.SIGTERM, "teardown")], cleanup=CLEAN, summary=SUMMARY)
    assert outcome.exit_code == 143 and outcome.message == f"interrupted by SIGTERM during phase teardown; {SUMMARY}"


def test_the_first_signal_counts_and_later_ones_do_not_change_it() -> None:
    signals = [SignalSeen(signal.SIGINT, "tests"), SignalSeen(signal.SIGTERM, "teardown")]
    outcome = decide(judgement=None, stops=[stop(Interrupted(signal.SIGINT), "tests")], signals=signals)
    assert (outcome.exit_code, outcome.message) == (130, "interrupted by SIGINT during phase tests")


def test_a_leak_fails_only_a_pass() -> None:
    assert decide(judgement=FAILED, cleanup=LEAKY, counts=counts(failures=1)).exit_code == 1
    interrupted = decide(
        judgement=None,
        stops=[stop(Interrupted(signal.SIGINT), "tests")],
        signals=[SignalSeen(signal.SIGINT, "tests")],
        cleanup=LEAKY,
    )
    assert interrupted.exit_code == 130
    assert decide(judgement=None, stops=[stop(EnvironmentProblem("x"))], cleanup=LEAKY).message == "x"


def test_a_bug_in_the_teardown_is_reported_over_what_stopped_the_phases() -> None:
    stops = [stop(EnvironmentProblem("up failed")), stop(RuntimeError("teardown bug"), "teardown")]
    outcome = decide(judgement=None, stops=stops)
    assert (outcome.exit_code, outcome.message) == (3, "internal error: RuntimeError('teardown bug')")
    after_a_pass = decide(judgement=PASSED, stops=[stop(RuntimeError("bug"), "teardown")], summary=SUMMARY)
    assert after_a_pass.exit_code == 3


def test_no_tests_has_no_failed_rules_and_a_leak_makes_it_an_environment_error():
    assert decide(judgement=NO_TESTS_PACKAGE, cleanup=CLEAN).reasons == ()
    assert decide(judgement=NO_TESTS_PACKAGE, cleanup=LEAKY).exit_code == 3


def test_a_failing_set_up_class_is_named_in_the_message():
    from harness.odoo_cases import CaseOutcome, CaseRef
    from harness.odoo_log import LogAnalysis

    ref = CaseRef("odoo.addons.m.tests.test_x", "TestX", "setUpClass")
    failure = CaseOutcome("error", ref, "setUpClass (odoo.addons.m.tests.test_x.TestX)", "AttributeError: boom", "", 1)
    analysis = LogAnalysis("m", "harness_test", failures=(failure,))
    outcome = decide(judgement=FAILED, counts=counts(0, errors=1), analysis=analysis)
    assert outcome.exit_code == 1
    assert outcome.message == "TestX.setUpClass failed: AttributeError: boom (its tests did not run)"


def test_a_failed_rule_of_the_run_itself_fails_a_pass_and_is_always_a_reason():
    below = "coverage 41.0 % is below fail_under 80 %"
    failed = decide(judgement=PASSED, summary=SUMMARY, rules_failed=[below])
    assert (failed.exit_code, failed.message, failed.reasons) == (1, below, (below,))
    already = decide(judgement=FAILED, counts=counts(failures=1), rules_failed=[below])
    assert already.message == "1 of 3 tests failed" and already.reasons == (*FAILED.reasons, below)


def test_a_grouped_module_keeps_its_own_judgement_or_ends_as_its_group_did():
    from harness.outcome import decide_member

    group = decide(judgement=None, stops=[stop(EnvironmentProblem("engine gone"), "tests")])
    judged = decide_member(FAILED, group=group, started=True, counts=counts(failures=1), cleanup=CLEAN)
    assert (judged.exit_code, judged.message) == (1, "1 of 3 tests failed")
    never = decide_member(None, group=group, started=False)
    assert (never.exit_code, never.message) == (3, "the group's run ended before its tests: engine gone")
    passed_group = decide(judgement=None, judged=False)
    assert passed_group.exit_code == 0
    assert decide_member(None, group=passed_group, started=True).exit_code == 3  # never judged: never a pass
