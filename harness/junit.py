"""A JUnit XML report of one module's run, for CI systems to display.

A run that failed before Odoo could count any test (the module did not install, was not found,
or had no tests) would otherwise be an empty, green suite: it gets one synthetic failing test
case carrying the verdict's reasons instead. A run that stopped before or during the tests (bad
name, no port, Docker failed, a signal) gets one too, naming the phase (`write_stopped_junit`).
Per-test times are not written: Odoo 18 logs them only at DEBUG level (odoo.tests.stats).
"""

from __future__ import annotations

import dataclasses
import datetime
import re
import xml.etree.ElementTree as ET
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path

from harness.errors import ExitCode
from harness.odoo_cases import CaseOutcome, CaseRef
from harness.odoo_command import redact_text
from harness.odoo_log import LogAnalysis, line_message, strip_ansi
from harness.verdict import Judgement, judge

# Names of the synthetic test case (its classname is the module), by what went wrong.
INSTALL_CASE = "module-install"  # Odoo never counted tests, or the module set is broken
NO_TESTS_CASE = "module-tests"  # Odoo counted, but none of the module's tests ran
NO_TESTS_PACKAGE_CASE = "no-tests"  # skipped: the module has no tests package (exit 5)
RUN_CASE = "test-run"  # anything else no test case shows: exit code, timeout, uncounted errors
STOPPED_CASE = "stopped-in-"  # + the phase: the run stopped before or during the tests

# Characters XML 1.0 cannot carry even escaped (C0 controls except tab/newline/CR, surrogates,
# U+FFFE/U+FFFF); ANSI colour sequences go first so no stray "[1;31m" is left behind.
_XML_INVALID = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ud800-\udfff\ufffe\uffff]")


@dataclasses.dataclass(frozen=True)
class _Case:
    """One <testcase> before it is written."""

    classname: str
    name: str
    outcomes: tuple[CaseOutcome, ...] = ()
    synthetic_reasons: tuple[str, ...] = ()
    synthetic_status: str = "failure"  # or "error", for a run stopped by the environment or a signal
    synthetic_type: str = "harness"

    @property
    def status(self) -> str:
        """`failure`, `error`, `skipped` or `passed`; the first problem decides the element."""
        if self.synthetic_reasons:
            return self.synthetic_status
        for kind in ("failure", "error", "skipped"):
            if any(o.kind == kind for o in self.outcomes):
                return kind
        return "passed"


@dataclasses.dataclass(frozen=True)
class _Suite:
    """What one report holds besides its test cases."""

    module: str
    seconds: float
    properties: tuple[tuple[str, str], ...]
    system_err: str | None = None
    timestamp: datetime.datetime | None = None


def write_junit(
    path: Path,
    module: str,
    analysis: LogAnalysis,
    seconds: float,
    *,
    judgement: Judgement | None = None,
    secrets: Iterable[str] = (),
) -> None:
    """Write `path` as JUnit XML: one test case per test the module started, and its outcome.

    Without a judgement, the log alone decides (as `judge` with exit code 0 would).
    """
    judgement = judgement if judgement is not None else judge(0, analysis, module)
    word = "passed" if judgement.passed else "no-tests" if judgement.no_tests else "failed"
    properties = (("verdict", word), *_log_properties(analysis))
    suite = _Suite(
        module,
        seconds,
        properties,
        # The whole verdict, also for CI systems that only show suite-level output.
        system_err=None if judgement.passed or judgement.no_tests else "\n".join(judgement.reasons),
        timestamp=analysis.first_timestamp,
    )
    _write(path, suite, _cases(module, analysis, judgement), secrets)


def write_stopped_junit(
    path: Path,
    module: str,
    phase: str,
    reason: str,
    exit_code: int,
    *,
    analysis: LogAnalysis | None = None,
    seconds: float = 0.0,
    secrets: Iterable[str] = (),
) -> None:
    """Write `path` for a run that stopped before or during the tests (exit 1, 2, 3, 129, 130, 143).

    One synthetic test case, `module` / `stopped-in-PHASE`, says where and why: a <failure> for
    exit 1 (the module's fault), an <error> for the others (usage, environment, a signal), so a CI
    reader counts the run as failed. With the `analysis` of the log so far (stopped during the
    tests), the test cases it shows come first.
    """
    status, kind = _stop_kind(exit_code)
    message = f"exit {exit_code} ({kind}) in phase {phase}: {reason}"
    stopped = _Case(module, f"{STOPPED_CASE}{phase}", (), (message,), status, kind)
    seen = _test_cases(analysis) if analysis is not None else []
    properties = (
        ("verdict", "failed"),
        ("phase", phase),
        ("exit_code", str(exit_code)),
        *(_log_properties(analysis) if analysis is not None else ()),
    )
    timestamp = analysis.first_timestamp if analysis is not None else None
    _write(path, _Suite(module, seconds, properties, message, timestamp), [*seen, stopped], secrets)


def _stop_kind(exit_code: int) -> tuple[str, str]:
    """The element (`failure`/`error`) and type for a run that stopped with `exit_code`."""
    if exit_code == ExitCode.PASSED:
        raise ValueError("exit code 0 is a passed run, not a stopped one: use write_junit")
    try:
        name = ExitCode(exit_code).name
    except ValueError:
        name = f"EXIT_{exit_code}"
    return ("failure" if exit_code == ExitCode.TESTS_FAILED else "error"), name


def _log_properties(analysis: LogAnalysis) -> tuple[tuple[str, str], ...]:
    result = line_message(analysis.result_line) if analysis.result_line else "absent"
    stats = "absent" if analysis.module_stats_tests is None else str(analysis.module_stats_tests)
    return (("odoo.tests.result", result), ("odoo.tests.stats", stats))


def _write(path: Path, suite: _Suite, cases: Sequence[_Case], secrets: Iterable[str]) -> None:
    """Write the report atomically; every text is stripped of colours, control characters and secrets."""
    hidden = [s for s in secrets if s]

    def clean(text: str) -> str:
        return redact_text(_XML_INVALID.sub("", strip_ansi(text)), hidden)

    statuses = [case.status for case in cases]
    totals = {
        "tests": str(len(cases)),
        "failures": str(statuses.count("failure")),
        "errors": str(statuses.count("error")),
        "skipped": str(statuses.count("skipped")),
        "time": f"{suite.seconds:.3f}",
    }
    root = ET.Element("testsuites", {"name": clean(suite.module), **totals})
    element = ET.SubElement(root, "testsuite", {"name": clean(suite.module), **totals})
    if suite.timestamp is not None:
        element.set("timestamp", suite.timestamp.replace(tzinfo=None).isoformat(timespec="seconds"))
    properties = ET.SubElement(element, "properties")
    for name, value in suite.properties:
        ET.SubElement(properties, "property", {"name": name, "value": clean(value)})
    for case in cases:
        attributes = {"classname": clean(case.classname), "name": clean(case.name)}
        _fill(ET.SubElement(element, "testcase", attributes), case, clean)
    if suite.system_err is not None:
        ET.SubElement(element, "system-err").text = clean(suite.system_err)
    ET.indent(root)
    path.parent.mkdir(parents=True, exist_ok=True)
    # Write then rename, so CI never reads a half-written report.
    partial = path.with_name(path.name + ".partial")
    ET.ElementTree(root).write(partial, encoding="utf-8", xml_declaration=True)
    partial.replace(path)


def _cases(module: str, analysis: LogAnalysis, judgement: Judgement) -> list[_Case]:
    """The module's test cases, then a synthetic one when they do not show why the verdict failed."""
    cases = _test_cases(analysis)
    if judgement.no_tests:
        # One skipped case saying why: CI shows the module as skipped, neither green nor red.
        skip = CaseOutcome("skipped", CaseRef(module, "", NO_TESTS_PACKAGE_CASE), "", judgement.reasons[0], "", 0)
        return [*cases, _Case(module, NO_TESTS_PACKAGE_CASE, (skip,))]
    if not judgement.passed and _needs_synthetic_case(analysis, cases):
        reasons = judgement.reasons or ("the run failed",)
        cases.append(_Case(module, _synthetic_name(analysis), synthetic_reasons=reasons))
    return cases


def _test_cases(analysis: LogAnalysis) -> list[_Case]:
    """Started tests in order, then outcomes of tests never started (setUpClass)."""
    by_test: dict[CaseRef, list[CaseOutcome]] = {}
    for outcome in (*analysis.failures, *analysis.skipped):
        by_test.setdefault(_base_test(outcome.test), []).append(outcome)

    cases: list[_Case] = []
    seen: set[CaseRef] = set()
    for test in analysis.started:
        if test in seen:  # a retried test is started twice; report it once
            continue
        seen.add(test)
        cases.append(_Case(test.classname, test.method, tuple(by_test.get(test, ()))))
    for test, outcomes in by_test.items():
        if test not in seen:
            seen.add(test)
            cases.append(_Case(test.classname, test.method, tuple(outcomes)))
    return cases


def _base_test(test: CaseRef) -> CaseRef:
    """The test a subtest belongs to (`test_x (i=1)` -> `test_x`), to group it with its Starting line."""
    method, _, _ = test.method.partition(" ")
    return dataclasses.replace(test, method=method)


def _install_broken(analysis: LogAnalysis) -> bool:
    """Whether the module (or the set of modules) could not be installed or found."""
    return bool(
        not analysis.has_result
        or analysis.critical_lines
        or analysis.invalid_module_lines
        or analysis.not_loaded_lines
        or analysis.inconsistent_lines
    )


def _synthetic_name(analysis: LogAnalysis) -> str:
    if _install_broken(analysis):
        return INSTALL_CASE
    if not analysis.result_total or not analysis.module_stats_tests:
        return NO_TESTS_CASE
    return RUN_CASE


def _needs_synthetic_case(analysis: LogAnalysis, cases: Sequence[_Case]) -> bool:
    """Whether the failed verdict would not show (or not fully show) through the real test cases."""
    if not any(case.status in ("failure", "error") for case in cases):
        return True
    # Tests failed, but the run also broke in a way no test case explains.
    return _install_broken(analysis)


def _fill(element: ET.Element, case: _Case, clean: Callable[[str], str]) -> None:
    """Add the <failure>/<error>/<skipped> child that says how the case ended."""
    if case.synthetic_reasons:
        attributes = {"message": clean(case.synthetic_reasons[0]), "type": case.synthetic_type}
        child = ET.SubElement(element, case.synthetic_status, attributes)
        child.text = clean("\n".join(case.synthetic_reasons))
        return
    status = case.status
    if status == "passed":
        return
    relevant = [o for o in case.outcomes if o.kind == status]
    if status == "skipped":
        ET.SubElement(element, "skipped", {"message": clean(relevant[0].message)})
        return
    # Subtests can fail several times in one test: one element, every block in its text.
    first = relevant[0]
    child = ET.SubElement(element, status, {"message": clean(first.message), "type": _exception_type(first)})
    child.text = clean("\n\n".join(o.details for o in case.outcomes if o.kind in ("failure", "error")))


def _exception_type(outcome: CaseOutcome) -> str:
    """`AssertionError` from `AssertionError: True != False`; the kind if there is no such line."""
    name, colon, _ = outcome.message.partition(":")
    return name if colon and name and " " not in name else outcome.kind
