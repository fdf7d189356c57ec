"""The rules that judge one module's test run: Odoo's exit code and what its log says, rule by rule.

Odoo's exit code alone gives false passes (a misspelt module exits 0 with "0 tests"), so every rule
below can fail a run, and each failed rule says why in words the user can act on.
"""

from __future__ import annotations

import dataclasses
import signal
from collections.abc import Callable, Sequence

from harness.odoo_cases import CaseOutcome
from harness.odoo_log import LogAnalysis, line_message
from harness.selection import Selection, ran_nothing_reason


@dataclasses.dataclass(frozen=True)
class Judgement:
    """What the rules say of the module's test run: whether it passed and, if not, every reason why.

    Not the run's outcome: harness.outcome.decide weighs this with what else happened.
    """

    passed: bool
    reasons: tuple[str, ...] = ()
    # The module has no tests package, installed cleanly and Odoo ran nothing: NO TESTS (exit 5).
    no_tests: bool = False


@dataclasses.dataclass(frozen=True)
class _Facts:
    exit_code: int | None
    analysis: LogAnalysis
    module: str
    timed_out: bool
    selection: Selection | None = None


# At most this many tests are named in one reason; the log and the JUnit report have all of them.
_NAMED_OUTCOMES = 5


def _names(outcomes: Sequence[CaseOutcome]) -> str:
    shown = "; ".join(f"{o.name} ({o.message})" for o in outcomes[:_NAMED_OUTCOMES])
    more = len(outcomes) - _NAMED_OUTCOMES
    return shown + (f"; and {more} more" if more > 0 else "")


def _hint_for(exception: str) -> str:
    """What to do about a known fatal exception seen in real runs."""
    if "Address already in use" in exception:
        return (
            "the test process's HTTP port is taken (the container's server holds 8069): "
            "set test_http_port / HARNESS_TEST_HTTP_PORT to a free port"
        )
    if "connection to server" in exception or "OperationalError" in exception:
        return (
            "Odoo could not reach PostgreSQL: check --db_host/--db_port/--db_user/--db_password "
            "(`exec` bypasses the entrypoint, so they must be passed) and that the db service is up"
        )
    return "see the traceback in the log"


def _rule_timeout(f: _Facts) -> str | None:
    if not f.timed_out:
        return None
    return (
        "the test run timed out and Odoo was stopped: the results are incomplete "
        "(raise test_timeout / HARNESS_TEST_TIMEOUT if the tests are just slow)"
    )


def _rule_exit_code(f: _Facts) -> str | None:
    code, a = f.exit_code, f.analysis
    if code == 0:
        return None
    if code is None:
        # A timeout has its own reason; otherwise the process vanished without a status.
        return None if f.timed_out else "Odoo's exit status is unknown: the test process did not finish"
    if code == 1:
        if a.has_result and (a.result_failed or a.result_errors):
            return "exit code 1: Odoo reported failing tests"
        if a.has_result:
            return "exit code 1 although odoo.tests.result reports no failure: see the errors in the log"
        return "exit code 1: Odoo stopped with an error before it could run the tests"
    if code == 255:
        return (
            "exit code 255: Odoo could not load the registry ('Failed to initialize database'): "
            "the module or one of its dependencies failed to install"
        )
    if code == 126:
        return (
            "exit code 126: the container could not execute the Odoo launcher "
            "(the official image ships `odoo`, not `odoo-bin`; check odoo_executable)"
        )
    if code == 127:
        return "exit code 127: the Odoo launcher was not found in the container (check odoo_executable)"
    if code > 128:
        try:
            name = signal.Signals(code - 128).name
        except ValueError:
            name = f"signal {code - 128}"
        extra = " (out of memory?)" if name == "SIGKILL" else ""
        return f"exit code {code}: Odoo was killed by {name}{extra}"
    return f"exit code {code}: Odoo failed; see the log"


def _rule_critical(f: _Facts) -> str | None:
    lines = f.analysis.critical_lines
    if not lines:
        return None
    quoted = "; ".join(f'"{line_message(line)}"' for line in lines[:_NAMED_OUTCOMES])
    if any("Failed to initialize database" in line for line in lines):
        cause = f": {f.analysis.exceptions[-1]}" if f.analysis.exceptions else ""
        return (
            f"CRITICAL {quoted}: {f.module} could not be installed (import error, XML ParseError, "
            f"missing dependency, failing hook){cause}; see the traceback in the log"
        )
    return f"CRITICAL line(s) in the log: {quoted}"


def _rule_result(f: _Facts) -> str | None:
    a = f.analysis
    if not a.has_result and a.other_result_lines:
        return (
            f"no odoo.tests.result line for database {a.database!r}, only for other databases "
            f'("{line_message(a.other_result_lines[-1])}"): they say nothing about this run\'s tests'
        )
    if not a.has_result:
        reason = "no odoo.tests.result line: Odoo stopped before it could run and count the tests"
        if a.odoo_lines == 0:
            return reason + " (Odoo printed no log line at all)"
        if a.exceptions and not a.critical_lines:
            # With a CRITICAL line, _rule_critical already names the exception.
            reason += f"; last error: {a.exceptions[-1]}: {_hint_for(a.exceptions[-1])}"
        return reason
    if a.result_failed or a.result_errors:
        where = f": {_names(a.failures)}" if a.failures else ""
        counts = f"{a.result_failed} failed, {a.result_errors} error(s) of {a.result_total} tests"
        return f"odoo.tests.result reports {counts}{where}"
    if a.result_total == 0:
        return (
            "odoo.tests.result reports 0 tests: the module's tests never ran "
            "(is tests/__init__.py importing the test files? do the classes subclass an Odoo test case "
            "with test_* methods? was the module already installed in the database?)"
        )
    return None


def _rule_module_stats(f: _Facts) -> str | None:
    a, module = f.analysis, f.module
    if a.module_stats_tests is not None and a.module_stats_tests > 0:
        return None
    if a.module_stats_tests == 0:
        return f"odoo.tests.stats reports 0 tests for {module}: none of its tests ran"
    if a.result_total:
        return (
            f"odoo.tests.stats has no '{module}: N tests' line although {a.result_total} tests ran: "
            f"they were other modules' tests, not {module}'s (check tests/__init__.py and --test-tags)"
        )
    return f"odoo.tests.stats has no '{module}: N tests' line: no test of {module} ran"


def _rule_all_skipped(f: _Facts) -> str | None:
    """Every test of the module was skipped (a skipped subtest does not skip its test)."""
    a = f.analysis
    whole = list(dict.fromkeys(skip.test for skip in a.skipped if not skip.test.is_subtest))
    if not whole or a.tests_run:
        return None
    if a.result_total is not None:
        # Odoo counts a skipped test in "of N tests" (startTest comes first), not a skipped class;
        # if it counted more of this module's tests than were skipped, one ran that the log hid.
        counted_skips = sum(1 for test in whole if test in a.started)
        if a.result_total - a.other_started > counted_skips:
            return None
    first = next(skip for skip in a.skipped if not skip.test.is_subtest)
    tests = "the only test" if len(whole) == 1 else f"all {len(whole)} tests"
    were = "was" if len(whole) == 1 else "were"
    return f"{tests} of {f.module} {were} skipped: nothing was tested (first: {first.description}: {first.message})"


def _rule_invalid_module(f: _Facts) -> str | None:
    if not f.analysis.invalid_module_lines:
        return None
    return (
        f'Odoo ignored the module: "{line_message(f.analysis.invalid_module_lines[0])}": '
        f"{f.module} is not in any addons path of the container (misspelt? not under addons_path?)"
    )


def _quoting_first(lines: Sequence[str], advice: str) -> str | None:
    """A reason that quotes the first of `lines`, or None when there are none."""
    return f'"{line_message(lines[0])}": {advice}' if lines else None


def _rule_not_loaded(f: _Facts) -> str | None:
    return _quoting_first(
        f.analysis.not_loaded_lines, "a dependency is missing or a manifest is broken; check the module's `depends`"
    )


def _rule_inconsistent(f: _Facts) -> str | None:
    return _quoting_first(
        f.analysis.inconsistent_lines, "a module could not be installed (missing or not installable dependency)"
    )


def _rule_uncounted_blocks(f: _Facts) -> str | None:
    # Test errors logged but not counted were a false pass the hub team reported: trust the blocks.
    a = f.analysis
    if not a.failures or not a.has_result or a.result_failed or a.result_errors:
        return None
    return (
        f"the log has {len(a.failures)} FAIL/ERROR block(s) of {f.module} that odoo.tests.result "
        f"did not count: {_names(a.failures)}"
    )


def _rule_other_modules(f: _Facts) -> str | None:
    others = f.analysis.other_failures
    if not others:
        return None
    return (
        f"{len(others)} FAIL/ERROR block(s) of other modules' tests, not {f.module}'s "
        f"(should only /{f.module} have run?): {_names(others)}"
    )


def _rule_selection(f: _Facts) -> str | None:
    """A selection that ran nothing is named first: the user's words, not only "0 tests"."""
    a = f.analysis
    if f.selection is None or a.tests_run or (a.result_total or 0) > 0 or a.failures:
        return None
    if f.exit_code not in (0, None) and not a.has_result:
        return None  # Odoo stopped before the tests: the other rules say why
    return ran_nothing_reason(f.selection, f.module)


_RULES: tuple[Callable[[_Facts], str | None], ...] = (
    _rule_timeout,
    _rule_selection,
    _rule_exit_code,
    _rule_critical,
    _rule_invalid_module,
    _rule_not_loaded,
    _rule_inconsistent,
    _rule_result,
    _rule_module_stats,
    _rule_all_skipped,
    _rule_uncounted_blocks,
    _rule_other_modules,
)


# The rules that only say "no test ran": for a module without tests they are the expected outcome.
_NOTHING_RAN = (_rule_result, _rule_module_stats)


def judge(
    exit_code: int | None,
    analysis: LogAnalysis,
    module: str,
    *,
    timed_out: bool = False,
    selection: Selection | None = None,
    has_tests: bool = True,
) -> Judgement:
    """Pass only if Odoo exited 0, counted >0 tests with no failure, MODULE's tests ran, no alarm.

    Every rule that does not hold adds one reason the user can act on; with a `selection`, one that
    ran nothing says so first. A module without a tests package (`has_tests` False,
    harness.modules.has_tests) that Odoo installed cleanly, exiting 0 with 0 tests, is
    `no_tests`: nothing failed, nothing was tested.
    """
    if analysis.module != module:
        # The analysis only looked for `analysis.module`'s lines: judging another module by it
        # would pass a module whose tests never ran.
        raise ValueError(f"the log was analysed for {analysis.module!r}, not {module!r}")
    facts = _Facts(exit_code, analysis, module, timed_out, selection)
    failed = [(rule, reason) for rule in _RULES if (reason := rule(facts)) is not None]
    nothing_ran = exit_code == 0 and analysis.has_result and analysis.result_total == 0
    if not has_tests and selection is None and nothing_ran and all(rule in _NOTHING_RAN for rule, _ in failed):
        why = f"{module} has no tests package (no tests/ folder): Odoo installed it cleanly and had nothing to run"
        return Judgement(passed=False, reasons=(why,), no_tests=True)
    reasons = tuple(reason for _, reason in failed)
    return Judgement(passed=not reasons, reasons=reasons)


def failure_message(analysis: LogAnalysis, tests: int, failed: int) -> str | None:
    """The final block's one-line reason when tests failed, or None to use the first failed rule.

    A failing fixture is named first (`TestX.setUpClass failed: AttributeError: ...`): its
    tests never started, so "1 of 0 tests failed" would say nothing.
    """
    fixture = next((o for o in analysis.failures if o.test.is_fixture), None)
    if fixture is not None:
        rest = failed - 1
        more = f"; and {rest} more failing test(s)" if rest > 0 else ""
        return f"{fixture.name} failed: {fixture.message} (its tests did not run){more}"
    return f"{failed} of {tests} tests failed" if failed else None


def _plural(count: int, word: str) -> str:
    return f"{count} {word}" if count == 1 else f"{count} {word}s"


def summary_line(module: str, analysis: LogAnalysis, seconds: float) -> str:
    """One line: `traction: 12 tests, 0 failures, 0 errors, 1 skipped in 14.2 s`."""
    if analysis.has_result:
        tests = analysis.result_total or 0
        failures = analysis.result_failed or 0
        errors = analysis.result_errors or 0
        note = ""
    else:
        # No summary from Odoo: count what the log shows, and say so.
        tests, failures, errors = len(analysis.started), analysis.counted_failures, analysis.counted_errors
        note = " (no odoo.tests.result line)"
    return (
        f"{module}: {_plural(tests, 'test')}, {_plural(failures, 'failure')}, {_plural(errors, 'error')}, "
        f"{len(analysis.skipped)} skipped in {seconds:.1f} s{note}"
    )
