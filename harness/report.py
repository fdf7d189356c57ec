"""The run's last word: one block a person reads in two seconds, the same text in the proof log.

    [harness] ================================================================
    [harness] result         FAILED  fixture_fail  (exit 1)
    [harness] reason         odoo.tests.result reports 1 failed, 0 error(s) of 2 tests: ...
    [harness] tests          2 tests, 1 failure, 0 errors, 0 skipped
    [harness] first failure  TestItem.test_injected_failure
    [harness]                AssertionError: True != False
    [harness]                addons/fixture_fail/tests/test_item.py:8
    [harness] phases         preflight 0.1 s | port 0.0 s | up 1.9 s | readiness 0.7 s | tests 3.2 s | ...
    [harness] total          8.1 s
    [harness] cleanup        nothing left (0.8 s)
    [harness] log            proof_of_execution_tests.log
    [harness] junit          artefacts/<project>/junit.xml
    [harness] artefacts      artefacts/<project>
    [harness] ================================================================

On a terminal the headline is coloured; piped, or with NO_COLOR set, it is not (ProofLog decides).
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterable
from pathlib import Path

from harness import github
from harness.errors import ExitCode
from harness.junit import write_junit, write_stopped_junit
from harness.odoo_command import redact_data
from harness.odoo_log import LogAnalysis
from harness.proof import HARNESS_TAG, ProofLog, write_json
from harness.result import RunResult
from harness.verdict import Judgement

RULE = "=" * 64
LABEL_WIDTH = 15
# ANSI SGR codes: bold green, bold red, bold yellow; dim for labels.
_HEADLINE_STYLE = {"PASSED": "1;32", "INTERRUPTED": "1;33", "NO TESTS": "1;33"}
# The codes the rules decide (the tests ran to their end); the others stopped the run.
VERDICT_CODES = (ExitCode.PASSED, ExitCode.TESTS_FAILED, ExitCode.NO_TESTS)
_FAILED_STYLE = "1;31"
_LABEL_STYLE = "2"


def _sgr(code: str, text: str) -> str:
    return f"\x1b[{code}m{text}\x1b[0m"


def shown_path(path: Path | None) -> str:
    """`path` relative to the current folder when it lies below it, else absolute."""
    if path is None:
        return "-"
    try:
        return str(path.resolve().relative_to(Path.cwd().resolve())) or "."
    except (ValueError, OSError):  # elsewhere, or the current folder is gone
        return str(path)


# Odoo's suite records each class's setUpClass and tearDownClass as entries of its stats too.
STATS_NOTE = "test methods (odoo.tests.result); odoo.tests.stats also counts setUpClass/tearDownClass"


def rows(result: RunResult) -> list[tuple[str, str]]:
    """The block's (label, text) rows, in reading order; an empty label continues the row above."""
    out = [("result", f"{result.headline}  {result.module}  (exit {result.exit_code})")]
    if not result.passed and result.message:
        out.append(("reason", result.message))
    if result.counts is None:
        tests = f"not run (stopped in phase {result.phase})"
    else:
        decided = result.exit_code in VERDICT_CODES
        tests = result.counts.describe() + ("" if decided else f" so far (stopped in phase {result.phase})")
    out.append(("tests", tests))
    if result.counts is not None and result.counts.tests:
        # Odoo's own `odoo.tests.stats: MODULE: 8 tests` line, a few lines up, counts something else.
        out.append(("", STATS_NOTE))
    if result.selection:
        out.append(("selection", result.selection))
    out += result.notes
    if result.failed_tests:
        first = result.failed_tests[0]
        out += [("first failure", first.name), ("", first.message)]
        if first.file:
            out.append(("", f"{first.file}:{first.line}"))
    if result.db_cache is not None:
        out.append(("db cache", result.db_cache.describe()))
    out.append(("phases", phase_times(result)))
    out.append(("total", f"{result.seconds:.1f} s"))
    out.append(("cleanup", cleanup_text(result)))
    out += [("log", shown_path(result.log_file)), ("junit", shown_path(result.junit_file))]
    out.append(("artefacts", shown_path(result.artefacts)))
    return out


def phase_times(result: RunResult) -> str:
    """`preflight 0.1 s | port 0.0 s | up 1.9 s`: seconds per phase, a retried phase summed."""
    totals: dict[str, float] = {}
    for phase in result.phases:
        totals[phase.name] = totals.get(phase.name, 0.0) + phase.seconds
    return " | ".join(f"{name} {seconds:.1f} s" for name, seconds in totals.items()) or "-"


def cleanup_text(result: RunResult) -> str:
    """What the teardown left, in words."""
    report = result.cleanup
    if report is None:
        return "nothing to clean up (no container was started)"
    if report.clean:
        return f"nothing left ({report.seconds:.1f} s)"
    return f"LEFT BEHIND: {report.leftovers.describe()} {report.error}".rstrip()


def final_block(result: RunResult) -> list[tuple[str, str | None]]:
    """The failed rules in full, then the block, as (plain, coloured) harness lines."""
    tagged = [(f"rule failed: {reason}", None) for reason in result.reasons] + [(RULE, None)]
    headline_style = _HEADLINE_STYLE.get(result.headline, _FAILED_STYLE)
    for label, text in rows(result):
        plain = f"{label:<{LABEL_WIDTH}}{text}".rstrip()
        styled_text = (
            text.replace(result.headline, _sgr(headline_style, result.headline), 1) if label == "result" else text
        )
        tagged.append((plain, _sgr(_LABEL_STYLE, f"{label:<{LABEL_WIDTH}}") + styled_text))
    tagged.append((RULE, None))
    return [(f"{HARNESS_TAG} {plain}", styled and f"{HARNESS_TAG} {styled}") for plain, styled in tagged]


def write_final_block(log: ProofLog, result: RunResult) -> None:
    """The block: plain in the proof logs, coloured on a terminal."""
    for plain, styled in final_block(result):
        log.line(plain, styled=styled)


def publish(
    log: ProofLog,
    result: RunResult,
    *,
    analysis: LogAnalysis | None,
    judgement: Judgement | None,
    test_seconds: float,
    secrets: Iterable[str],
    ci: bool,
    on_write_error: Callable[[str], RunResult] | None = None,
) -> RunResult:
    """Everything a run leaves for its readers: junit.xml, result.json, the final block, CI output.

    A report or a final block the disk does not take is not a pass: `on_write_error(problem)`
    decides the run again (exit 3) and the console shows the block of that result. Returns the
    result shown.
    """
    problem = None
    try:
        write_report(result, analysis=analysis, judgement=judgement, seconds=test_seconds, secrets=secrets)
        write_json(result.artefacts / "result.json", redact_data(result.to_json(), secrets))  # type: ignore[operator]
    except Exception as exc:  # noqa: BLE001 - a report that cannot be written must not hide the verdict
        problem = f"cannot write the run's reports in {result.artefacts}: {exc}"
    if problem is not None and on_write_error is not None:
        result = on_write_error(problem)
    elif problem is not None:
        log.harness(f"could not {problem.removeprefix('cannot ')}")
    # The block goes to the files first: the console then shows the verdict the files could hold.
    block = final_block(result)
    cut_before = log.write_error
    for plain, _ in block:
        log.to_files(plain)
    if on_write_error is not None and problem is None and cut_before is None and log.write_error is not None:
        result = on_write_error(log.write_error)
        block = final_block(result)
        with contextlib.suppress(Exception):  # the disk is full: result.json says 3 if it can
            write_json(result.artefacts / "result.json", redact_data(result.to_json(), secrets))  # type: ignore[operator]
    for plain, styled in block:
        log.to_console(plain, styled=styled)
    if ci:
        for line in github.annotations(result):
            log.console(line)
        try:
            github.append_step_summary(result, redact=log.redact)
        except OSError as exc:
            log.harness(f"could not append to the job summary: {exc.strerror}")
    return result


def write_report(
    result: RunResult,
    *,
    analysis: LogAnalysis | None,
    judgement: Judgement | None,
    seconds: float,
    secrets: Iterable[str],
) -> None:
    """junit.xml: the module's real cases when the rules judged the run, else a failing case naming the phase."""
    assert result.junit_file is not None
    if judgement is not None and analysis is not None and result.exit_code in VERDICT_CODES:
        write_junit(result.junit_file, result.module, analysis, seconds, judgement=judgement, secrets=secrets)
        return
    write_stopped_junit(
        result.junit_file,
        result.module,
        result.phase,
        result.message,
        result.exit_code,
        analysis=analysis,
        seconds=seconds,
        secrets=secrets,
    )
