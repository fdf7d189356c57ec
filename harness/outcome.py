"""The one place a run's outcome is decided: exit code, headline, message and reasons, from its records.

The phases only record what happened (the rules' judgement, what stopped them, the signals
received, what the teardown left); `decide` turns those records into the outcome, by the README's
exit-code table:

| what the run recorded                                      | exit | headline          |
| the judgement passed, nothing stopped the run, clean       | 0    | PASSED            |
| the judgement failed (failing tests, no tests, no install) | 1    | FAILED            |
| a UsageError stopped it (bad name, module not found)       | 2    | USAGE ERROR       |
| an EnvironmentProblem stopped it, or a bug of the harness  | 3    | ENVIRONMENT ERROR |
| a passing run whose teardown left resources                | 3    | ENVIRONMENT ERROR |
| the module has no tests package, Odoo installed it cleanly | 5    | NO TESTS          |
| a signal came (SIGHUP, SIGINT, SIGTERM), at any point      | 129, 130, 143 | INTERRUPTED |

A new outcome is one more row: its code in harness.errors.ExitCode and HEADLINES, its case here.
A command over several modules ends with `combined_exit_code` of their outcomes.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable, Sequence
from pathlib import Path

from harness.errors import SIGNAL_EXIT_CODES, ExitCode, HarnessError, Interrupted, headline
from harness.odoo_log import LogAnalysis
from harness.records import CleanupReport
from harness.result import Counts
from harness.signals import signal_name
from harness.verdict import Judgement, failure_message


@dataclasses.dataclass(frozen=True)
class Outcome:
    """How the run ends: its exit code, the headline word, why in one line, and every failed rule."""

    exit_code: ExitCode
    headline: str
    message: str
    reasons: tuple[str, ...] = ()


@dataclasses.dataclass(frozen=True)
class Stop:
    """What stopped the run before its end: an exception out of a phase (or out of the teardown)."""

    error: BaseException
    phase: str  # the phase the run was in
    traceback_file: Path | None = None  # where a bug's traceback was written, if it could be


@dataclasses.dataclass(frozen=True)
class SignalSeen:
    """One signal the run received, and the phase it came in."""

    signum: int
    phase: str


def stop_message(stop: Stop) -> str:
    """What a stop means for the user, in one line."""
    error = stop.error
    if isinstance(error, Interrupted):
        return f"interrupted by {signal_name(error.signum)} during phase {stop.phase}"
    if isinstance(error, HarnessError):
        return error.message
    where = f"; traceback in {stop.traceback_file}" if stop.traceback_file else ""
    return f"internal error: {error!r}{where}"


def _stop_code(stop: Stop) -> ExitCode:
    error = stop.error
    if isinstance(error, Interrupted):
        return error.exit_code
    if isinstance(error, HarnessError):
        return error.exit_code
    return ExitCode.ENVIRONMENT  # a bug of ours: the tests said nothing


# Nothing wrong with the tests: a leak of the teardown turns these into an environment error.
CLEAN_ONLY = (ExitCode.PASSED, ExitCode.NO_TESTS)


def _judged(
    judgement: Judgement, summary: str, counts: Counts | None, analysis: LogAnalysis | None
) -> tuple[ExitCode, str]:
    """The code and message of a run the rules judged (the tests ran to their end)."""
    if judgement.passed:
        return ExitCode.PASSED, summary
    if judgement.no_tests:
        return ExitCode.NO_TESTS, judgement.reasons[0]
    tests, failed = (0, 0) if counts is None else (counts.tests, counts.failures + counts.errors)
    # Failing tests say it best (a failing setUpClass by name); otherwise the first rule that failed.
    named = failure_message(analysis, tests, failed) if analysis is not None else None
    if named is None and failed:
        named = f"{failed} of {tests} tests failed"
    return ExitCode.TESTS_FAILED, named or (judgement.reasons[0] if judgement.reasons else "the tests did not pass")


def decide(
    *,
    judgement: Judgement | None,
    stops: Sequence[Stop] = (),
    signals: Sequence[SignalSeen] = (),
    cleanup: CleanupReport | None = None,
    summary: str = "",
    counts: Counts | None = None,
    analysis: LogAnalysis | None = None,
    judged: bool = True,
    rules_failed: Sequence[str] = (),
) -> Outcome:
    """The run's outcome from its records; pure: the same records always give the same outcome.

    - The last stop decides over the judgement (a bug in the teardown is reported over what
      stopped the phases); with no stop, the judgement decides; with neither, a run that is
      `judged` never reached its verdict: an internal error, never a pass (a group's own run is
      not judged: its modules are, by `decide_member`).
    - A signal decides the code even when it came while an error was handled or during the
      teardown; the message then says both.
    - A passing run whose teardown left resources is an environment error.
    - `rules_failed`, the run's own rules beyond the judgement's (the coverage floor), fail a
      pass (the first one is the message) and are reasons whatever the outcome.
    """
    reasons = judgement.reasons if judgement is not None and not (judgement.passed or judgement.no_tests) else ()
    if stops:
        code, message = _stop_code(stops[-1]), stop_message(stops[-1])
    elif judgement is not None:
        code, message = _judged(judgement, summary, counts, analysis)
    elif judged:
        code, message = ExitCode.ENVIRONMENT, "internal error: the run ended without a verdict"
    else:
        code, message = ExitCode.PASSED, summary
    if rules_failed:
        reasons = (*reasons, *rules_failed)
        if code == ExitCode.PASSED:
            code, message = ExitCode.TESTS_FAILED, rules_failed[0]
    if signals and code not in SIGNAL_EXIT_CODES.values():
        first = signals[0]
        code = SIGNAL_EXIT_CODES[first.signum]
        message = f"interrupted by {signal_name(first.signum)} during phase {first.phase}; {message}"
    if cleanup is not None and not cleanup.clean and code in CLEAN_ONLY:
        code, message = ExitCode.ENVIRONMENT, f"cleanup left resources behind: {cleanup.leftovers.describe()}"
    return Outcome(code, headline(code), message, reasons)


def decide_member(
    judgement: Judgement | None,
    *,
    group: Outcome,
    started: bool,
    summary: str = "",
    counts: Counts | None = None,
    analysis: LogAnalysis | None = None,
    cleanup: CleanupReport | None = None,
    stops: Sequence[Stop] = (),
) -> Outcome:
    """One module's outcome in a grouped run (harness.group): its own judgement once its tests ended.

    A signal or an error of the group after its judgement does not change what its tests said,
    except that a leak of the one teardown fails a pass, as in a single run; `stops` are the
    module's own (its reports the disk refused: exit 3, as in a single run). A module never
    judged ends as the group did (an environment error when the group itself ended well),
    saying where it stopped.
    """
    if judgement is not None:
        return decide(
            judgement=judgement, stops=stops, cleanup=cleanup, summary=summary, counts=counts, analysis=analysis
        )
    code = group.exit_code if group.exit_code != ExitCode.PASSED else ExitCode.ENVIRONMENT
    where = "during its tests" if started else "before its tests"
    return Outcome(code, headline(code), f"the group's run ended {where}: {group.message}")


def combined_exit_code(codes: Iterable[int]) -> int:
    """A command over several modules: 0 when every module passed or has no tests; else the most
    severe of their codes: a signal, then 3, 2, 1 (harness.batch, `run A B`, `run-group`)."""

    def rank(code: int) -> int:
        if code in SIGNAL_EXIT_CODES.values():
            return 5
        return {ExitCode.PASSED: 0, ExitCode.NO_TESTS: 0, ExitCode.TESTS_FAILED: 1, ExitCode.USAGE: 2}.get(code, 3)

    worst: int = ExitCode.PASSED
    for code in codes:
        if rank(code) > rank(worst):
            worst = code
    return int(worst)
