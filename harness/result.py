"""What one run produced, as every caller reads it: RunResult (result.json), its counts and failing tests."""

from __future__ import annotations

import dataclasses
import re
from pathlib import Path
from typing import Any

from harness.addons_path import repository_path
from harness.config import Config
from harness.errors import ExitCode, headline
from harness.odoo_cases import CaseOutcome
from harness.odoo_log import LogAnalysis
from harness.records import CacheReport, CleanupReport, PhaseTime

# A traceback frame: `  File "/mnt/extra-addons/m/tests/test_x.py", line 8, in test_y`.
_FRAME = re.compile(r'^\s*File "(?P<path>[^"]+)", line (?P<line>\d+)')


@dataclasses.dataclass(frozen=True)
class Counts:
    """The module's test counts: Odoo's own summary when it printed one, else what the log shows."""

    tests: int
    failures: int
    errors: int
    skipped: int

    @classmethod
    def from_analysis(cls, analysis: LogAnalysis) -> Counts:
        """Counts of one module's log analysis."""
        if analysis.has_result:
            tests, failures, errors = (
                analysis.result_total or 0,
                analysis.result_failed or 0,
                analysis.result_errors or 0,
            )
        else:
            tests, failures, errors = len(analysis.started), analysis.counted_failures, analysis.counted_errors
        return cls(tests, failures, errors, len(analysis.skipped))

    def describe(self) -> str:
        """`3 tests, 1 failure, 0 errors, 0 skipped`."""
        return (
            f"{_plural(self.tests, 'test')}, {_plural(self.failures, 'failure')}, "
            f"{_plural(self.errors, 'error')}, {self.skipped} skipped"
        )


def _plural(count: int, word: str) -> str:
    return f"{count} {word}" if count == 1 else f"{count} {word}s"


@dataclasses.dataclass(frozen=True)
class FailedTest:
    """One failing test: its name, its exception line and, when the traceback shows it, where it failed."""

    name: str  # `TestItem.test_x`, as Odoo names it
    kind: str  # `failure` (an assertion) or `error` (an exception)
    message: str  # `AssertionError: True != False`
    file: str | None = None  # in the repository (addons_path.repository_path), or as the container saw it
    line: int | None = None


def failed_tests(analysis: LogAnalysis, config: Config, repository: Path) -> list[FailedTest]:
    """The module's failing tests in log order, each with the deepest frame of the module's own code."""
    return [_failed_test(outcome, config, repository) for outcome in analysis.failures]


def _failed_test(outcome: CaseOutcome, config: Config, repository: Path) -> FailedTest:
    file, line = None, None
    for text in outcome.details.splitlines():
        frame = _FRAME.match(text)
        located = repository_path(frame["path"], config, repository) if frame else None
        if frame and located is not None:
            file, line = located, int(frame["line"])
    return FailedTest(outcome.name, outcome.kind, outcome.message, file, line)


@dataclasses.dataclass
class RunResult:
    """Everything a caller (nox, the CLI, validation, CI) needs to know about one run; result.json."""

    module: str
    project: str
    exit_code: int
    message: str
    phase: str  # the phase the run was in when it ended (before the teardown)
    port: int | None = None
    summary: str = ""
    counts: Counts | None = None  # None when the tests never ran
    failed_tests: list[FailedTest] = dataclasses.field(default_factory=list)
    reasons: tuple[str, ...] = ()
    signal: str | None = None
    started_at: str = ""
    seconds: float = 0.0
    phases: list[PhaseTime] = dataclasses.field(default_factory=list)
    odoo_exit: int | None = None  # the test process's own exit code; None when it never ran
    cleanup: CleanupReport | None = None
    db_cache: CacheReport | None = None  # None when the run stopped before the cache was decided
    artefacts: Path | None = None
    log_file: Path | None = None
    junit_file: Path | None = None
    selection: str | None = None  # `--tests`/`--failed` as given and as --test-tags; None: all tests
    # What the developer options found (kept database, browser, coverage), by option, for machines,
    # and the final block's rows they add (label, text), for people.
    extras: dict[str, Any] = dataclasses.field(default_factory=dict)
    notes: list[tuple[str, str]] = dataclasses.field(default_factory=list)

    @property
    def headline(self) -> str:
        """`PASSED`, `FAILED`, `USAGE ERROR`, `ENVIRONMENT ERROR` or `INTERRUPTED` (harness.errors.HEADLINES)."""
        return headline(self.exit_code)

    @property
    def passed(self) -> bool:
        """True only for exit code 0."""
        return self.exit_code == ExitCode.PASSED

    def to_json(self) -> dict[str, Any]:
        """A JSON-ready dict for result.json."""
        data = dataclasses.asdict(self)
        data["verdict"] = self.headline  # the documented key of result.json
        data["cleanup"] = (
            None
            if self.cleanup is None
            else {
                "clean": self.cleanup.clean,
                "seconds": round(self.cleanup.seconds, 2),
                "forced": self.cleanup.forced,
                "leftovers": self.cleanup.leftovers.describe(),
                "down_returncode": self.cleanup.down_returncode,
                "error": self.cleanup.error,
            }
        )
        return data
