"""What an Odoo 18 test log says about one module, read a line at a time as Odoo prints it.

Pure (no Docker, no processes), so it is tested against real Odoo 18 logs in tests/fixtures/odoo_logs.
The formats come from Odoo 18's odoo/netsvc.py (the line prefix), odoo/tests/result.py (Starting,
FAIL/ERROR blocks, skips, stats), odoo/tests/suite.py (class-level errors), odoo/service/server.py
(the odoo.tests.result summary) and odoo/modules/loading.py (module-state errors).
"""

from __future__ import annotations

import dataclasses
import datetime
import re
from collections.abc import Iterable, Sequence
from typing import Literal

# Odoo's format: "%(asctime)s %(pid)s %(levelname)s %(dbname)s %(name)s: %(message)s %(perf_info)s",
# e.g. "2026-11-24 12:05:11,284 1176 INFO odoo odoo.tests.result: 0 failed, ... 'odoo' ".
_ODOO_LINE = re.compile(
    r"""
    ^(?P<timestamp>\d{4}-\d{2}-\d{2}\ \d{2}:\d{2}:\d{2},\d{3})   # asctime, UTC
    \ (?P<pid>\d+)
    \ (?P<level>[A-Z_]+)                 # INFO, WARNING, ERROR, CRITICAL, DEBUG...
    \ (?P<db>\S+)                        # the database, or "?" before one is chosen
    \ (?P<logger>[^\s:]+):               # the logger: for tests, the test file's module path
    \ ?(?P<message>.*)$
    """,
    re.VERBOSE,
)
# Colour codes appear when Odoo writes to a terminal (a run without `exec -T`); they would hide
# the level from _ODOO_LINE.
_ANSI_ESCAPE = re.compile(r"\x1b\[[0-9;]*[A-Za-z]")


def strip_ansi(text: str) -> str:
    """`text` without terminal colour codes (Odoo colours its log on a TTY)."""
    return _ANSI_ESCAPE.sub("", text)


def line_message(line: str) -> str:
    """The message part of an Odoo log line (the whole line if it is not in Odoo's format)."""
    match = _ODOO_LINE.match(line)
    return match["message"].strip() if match else line.strip()


# odoo.tests.result: "1 failed, 0 error(s) of 2 tests when loading database 'odoo'".
_RESULT_MESSAGE = re.compile(r"^(?P<failed>\d+) failed, (?P<errors>\d+) error\(s\) of (?P<total>\d+) tests\b")
# odoo.tests.stats: "probe_pass: 7 tests 0.03s 18 queries" (set-ups and tear-downs count too).
_STATS_MESSAGE = re.compile(r"^(?P<module>[\w.]+): (?P<tests>\d+) tests\b")
# A test's own logger (`odoo.addons.MODULE.tests.test_x`) says Starting/FAIL/ERROR/skipped;
# class-level problems come from odoo.tests.suite with the class path in the description.
_SUITE_LOGGER = "odoo.tests.suite"
_TEST_LOGGER_PREFIX = "odoo.addons."
# "setUpClass (odoo.addons.m.tests.test_x.TestX)", unittest's description of a class-level error.
_CLASS_LEVEL_DESCRIPTION = re.compile(r"^(?P<method>\w+) \((?P<path>[\w.]+)\)$")
_RESULT_LOGGER = "odoo.tests.result"
_STATS_LOGGER = "odoo.tests.stats"
_TRACEBACK_HEADER = "Traceback (most recent call last):"

# Messages that mean the module was not (fully) installed although Odoo may still exit 0.
INVALID_MODULE_TEXT = "invalid module names"
NOT_LOADED_TEXT = "Some modules are not loaded"
INCONSISTENT_TEXT = "inconsistent states"

OutcomeKind = Literal["failure", "error", "skipped"]


@dataclasses.dataclass(frozen=True)
class CaseRef:
    """One test case as Odoo names it: `odoo.addons.m.tests.test_x` + `TestX` + `test_y`."""

    module_path: str
    class_name: str
    method: str

    @property
    def classname(self) -> str:
        """The dotted class path JUnit wants: `odoo.addons.m.tests.test_x.TestX`."""
        return f"{self.module_path}.{self.class_name}" if self.class_name else self.module_path

    def belongs_to(self, module: str) -> bool:
        """Whether this test is one of `module`'s own tests."""
        return self.module_path.startswith(f"{_TEST_LOGGER_PREFIX}{module}.")

    def __str__(self) -> str:
        return f"{self.class_name}.{self.method}" if self.class_name else self.method


@dataclasses.dataclass(frozen=True)
class CaseOutcome:
    """A FAIL:, ERROR: or skipped line of the log, with the traceback that follows it."""

    kind: OutcomeKind
    test: CaseRef
    description: str  # as Odoo wrote it: "TestItem.test_x", "setUpClass (odoo.addons...TestX)"
    message: str  # the exception line ("AssertionError: True != False") or the skip reason
    details: str  # the whole block: "FAIL: ..." and the traceback
    line_number: int  # 1-based, in the log, to find the block


@dataclasses.dataclass(frozen=True)
class LogAnalysis:
    """What an Odoo 18 test log says about one module. Counts are None when the line is absent."""

    module: str
    result_failed: int | None = None
    result_errors: int | None = None
    result_total: int | None = None
    result_line: str | None = None
    module_stats_tests: int | None = None
    critical_lines: tuple[str, ...] = ()
    invalid_module_lines: tuple[str, ...] = ()
    not_loaded_lines: tuple[str, ...] = ()
    inconsistent_lines: tuple[str, ...] = ()
    failures: tuple[CaseOutcome, ...] = ()  # the module's FAIL and ERROR blocks
    skipped: tuple[CaseOutcome, ...] = ()  # the module's skips
    started: tuple[CaseRef, ...] = ()  # the module's tests, from "Starting Class.method ..."
    other_failures: tuple[CaseOutcome, ...] = ()  # FAIL/ERROR blocks of other modules' tests
    other_started: int = 0
    exceptions: tuple[str, ...] = ()  # last line of each traceback outside test blocks
    odoo_lines: int = 0  # lines in Odoo's own format
    lines: int = 0
    first_timestamp: datetime.datetime | None = None  # of Odoo's first line, UTC

    @property
    def has_result(self) -> bool:
        """Whether Odoo printed its `odoo.tests.result` summary."""
        return self.result_total is not None

    @property
    def counted_failures(self) -> int:
        """FAIL: blocks of the module found in the log."""
        return sum(1 for outcome in self.failures if outcome.kind == "failure")

    @property
    def counted_errors(self) -> int:
        """ERROR: blocks of the module found in the log."""
        return sum(1 for outcome in self.failures if outcome.kind == "error")


@dataclasses.dataclass(frozen=True)
class _Record:
    """One line in Odoo's prefixed format."""

    timestamp: str
    level: str
    logger: str
    message: str
    text: str


@dataclasses.dataclass
class _OpenBlock:
    """A FAIL:/ERROR: block whose traceback is still arriving."""

    kind: OutcomeKind
    test: CaseRef
    description: str
    line_number: int
    lines: list[str]

    def close(self) -> CaseOutcome:
        return CaseOutcome(
            kind=self.kind,
            test=self.test,
            description=self.description,
            message=_exception_line(self.lines) or self.lines[0],
            details="\n".join(self.lines).rstrip(),
            line_number=self.line_number,
        )


class LogAnalyser:
    """Reads an Odoo log a line at a time (as it streams) and summarises it for one module."""

    def __init__(self, module: str) -> None:
        self.module = module
        self._lines = 0
        self._odoo_lines = 0
        self._result: tuple[int, int, int, str] | None = None
        self._stats: int | None = None
        self._critical: list[str] = []
        self._invalid: list[str] = []
        self._not_loaded: list[str] = []
        self._inconsistent: list[str] = []
        self._failures: list[CaseOutcome] = []
        self._other_failures: list[CaseOutcome] = []
        self._skipped: list[CaseOutcome] = []
        self._started: list[CaseRef] = []
        self._other_started = 0
        self._exceptions: list[str] = []
        self._first: str | None = None
        self._block: _OpenBlock | None = None  # a test's traceback being collected
        self._loose: list[str] = []  # unprefixed lines outside test blocks (other tracebacks)

    def feed(self, line: str) -> None:
        """Take one line of the log (with or without its newline)."""
        self._lines += 1
        line = strip_ansi(line.rstrip("\r\n"))
        match = _ODOO_LINE.match(line)
        if match is None:
            self._continuation(line)
            return
        self._end_block()
        self._end_loose()
        record = _Record(
            timestamp=match["timestamp"],
            level=match["level"],
            logger=match["logger"],
            # Odoo ends every line with a space (an empty perf field); it is not part of the message.
            message=match["message"].rstrip(),
            text=line.rstrip(),
        )
        self._odoo_lines += 1
        self._first = self._first or record.timestamp
        self._record(record)

    def result(self) -> LogAnalysis:
        """The analysis of everything fed so far (feeding may continue afterwards)."""
        failures, others = list(self._failures), list(self._other_failures)
        if self._block is not None:
            outcome = self._block.close()
            (failures if outcome.test.belongs_to(self.module) else others).append(outcome)
        exceptions = list(self._exceptions)
        pending = _exception_line(self._loose)
        if pending is not None:
            exceptions.append(pending)
        failed, errors, total, result_line = self._result or (None, None, None, None)
        return LogAnalysis(
            module=self.module,
            result_failed=failed,
            result_errors=errors,
            result_total=total,
            result_line=result_line,
            module_stats_tests=self._stats,
            critical_lines=tuple(self._critical),
            invalid_module_lines=tuple(self._invalid),
            not_loaded_lines=tuple(self._not_loaded),
            inconsistent_lines=tuple(self._inconsistent),
            failures=tuple(failures),
            skipped=tuple(self._skipped),
            started=tuple(self._started),
            other_failures=tuple(others),
            other_started=self._other_started,
            exceptions=tuple(exceptions),
            odoo_lines=self._odoo_lines,
            lines=self._lines,
            first_timestamp=_parse_timestamp(self._first),
        )

    # -- one prefixed line -------------------------------------------------------------------

    def _record(self, record: _Record) -> None:
        if record.level == "CRITICAL":
            self._critical.append(record.text)
        if INVALID_MODULE_TEXT in record.message:
            self._invalid.append(record.text)
        if NOT_LOADED_TEXT in record.message:
            self._not_loaded.append(record.text)
        if INCONSISTENT_TEXT in record.message:
            self._inconsistent.append(record.text)

        if record.logger == _RESULT_LOGGER:
            found = _RESULT_MESSAGE.match(record.message)
            if found:
                # One line per database; the harness uses one, so the last line is the one.
                self._result = (int(found["failed"]), int(found["errors"]), int(found["total"]), record.text)
        elif record.logger == _STATS_LOGGER:
            found = _STATS_MESSAGE.match(record.message)
            if found and found["module"] == self.module:
                self._stats = int(found["tests"])
        elif record.logger.startswith(_TEST_LOGGER_PREFIX) or record.logger == _SUITE_LOGGER:
            self._test_record(record)

    def _test_record(self, record: _Record) -> None:
        head, _, description = record.message.partition(" ")
        if head in ("FAIL:", "ERROR:"):
            # The message is "FAIL: Class.method" and the traceback follows on unprefixed lines.
            self._block = _OpenBlock(
                kind="failure" if head == "FAIL:" else "error",
                test=_test_ref(record.logger, description),
                description=description,
                line_number=self._lines,
                lines=[record.message],
            )
        elif head == "Starting" and description.endswith(" ..."):
            test = _test_ref(record.logger, description.removesuffix(" ..."))
            if test.belongs_to(self.module):
                self._started.append(test)
            else:
                self._other_started += 1
        elif head == "skipped":
            # "skipped Class.method : reason" (OdooTestResult.addSkip).
            described, _, reason = description.partition(" : ")
            test = _test_ref(record.logger, described)
            if test.belongs_to(self.module):
                skip = CaseOutcome("skipped", test, described, reason, record.message, self._lines)
                self._skipped.append(skip)

    # -- unprefixed lines --------------------------------------------------------------------

    def _continuation(self, line: str) -> None:
        if self._block is not None:
            # Odoo's message ends with "\n" and then the empty perf field: a lone " " closes it.
            if line == " ":
                self._end_block()
            else:
                self._block.lines.append(line)
            return
        self._loose.append(line)

    def _end_block(self) -> None:
        if self._block is None:
            return
        outcome = self._block.close()
        self._block = None
        (self._failures if outcome.test.belongs_to(self.module) else self._other_failures).append(outcome)

    def _end_loose(self) -> None:
        exception = _exception_line(self._loose)
        if exception is not None:
            self._exceptions.append(exception)
        self._loose = []


def analyse_log(lines: Iterable[str], module: str) -> LogAnalysis:
    """Analyse a whole log (an open file works: lines keep their newlines)."""
    analyser = LogAnalyser(module)
    for line in lines:
        analyser.feed(line)
    return analyser.result()


def _test_ref(logger: str, description: str) -> CaseRef:
    """Name the test of a FAIL/ERROR/Starting/skipped line from its logger and description."""
    # A subtest is "Subtest Class.method (params)"; keep the params in the name, they tell which.
    description = description.removeprefix("Subtest ")
    class_level = _CLASS_LEVEL_DESCRIPTION.match(description)
    if class_level:
        # setUpClass/tearDownClass: logged by odoo.tests.suite; the class path is in parentheses.
        module_path, _, class_name = class_level["path"].rpartition(".")
        return CaseRef(module_path, class_name, class_level["method"])
    name, space, params = description.partition(" ")
    class_name, _, method = name.rpartition(".")
    return CaseRef(logger, class_name, method + space + params)


def _exception_line(lines: Sequence[str]) -> str | None:
    """The last "SomeError: message" line of the tracebacks in `lines`, if any."""
    found: str | None = None
    in_traceback = False
    for line in lines:
        if line.startswith(_TRACEBACK_HEADER):
            in_traceback = True
        elif in_traceback and line and not line[0].isspace():
            # Frames are indented; the first line back at the margin names the exception.
            found = line.strip()
            in_traceback = False
    return found


def _parse_timestamp(text: str | None) -> datetime.datetime | None:
    if text is None:
        return None
    return datetime.datetime.strptime(text, "%Y-%m-%d %H:%M:%S,%f").replace(tzinfo=datetime.timezone.utc)
