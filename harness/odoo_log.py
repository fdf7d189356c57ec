"""What an Odoo 18 test log says about one module, read a line at a time as Odoo prints it.

Pure (no Docker, no processes), so it is tested against real Odoo 18 logs, recorded.
The formats come from Odoo 18's odoo/netsvc.py (the line prefix), odoo/tests/result.py (Starting,
FAIL/ERROR blocks, skips, stats), odoo/tests/suite.py (class-level errors), odoo/service/server.py
(the odoo.tests.result summary) and odoo/modules/loading.py (module-state errors).
"""

from __future__ import annotations

import collections
import dataclasses
import datetime
import re
from collections.abc import Iterable

from harness.odoo_cases import CaseOutcome, CaseRef, ExceptionScanner, OutcomeKind, case_ref

# Odoo's format: "%(asctime)s %(pid)s %(levelname)s %(dbname)s %(name)s: %(message)s %(perf_info)s",
# e.g. "2026-11-24 12:05:11,284 1176 INFO odoo odoo.tests.result: 0 failed, ... 'odoo' ".
# Searched, not matched at the start: a test's `print("x", end="")` glues its text to the front of
# Odoo's next record ("x2026-11-24 12:05:11,284 ..."), and that record must still be read.
_ODOO_LINE = re.compile(
    r"""
    (?P<timestamp>\d{4}-\d{2}-\d{2}\ \d{2}:\d{2}:\d{2},\d{3})   # asctime, UTC
    \ (?P<pid>\d+)
    \ (?P<level>[A-Z_]+)                 # INFO, WARNING, ERROR, CRITICAL, DEBUG...
    \ (?P<db>\S+)                        # the database, or "?" before one is chosen
    \ (?P<logger>[^\s:]+):               # the logger: for tests, the test file's module path
    \ ?(?P<message>.*)$
    """,
    re.VERBOSE,
)
# The milliseconds of _ODOO_LINE's timestamp, found first: a long line without one (a test printing
# for minutes) is skipped in one cheap scan instead of a full search at every digit.
# (It starts with a literal, which the regex engine scans for at C speed.)
_STAMP_MILLISECONDS = re.compile(r",\d{3} ")
_BEFORE_MILLISECONDS = len("2026-11-24 12:05:11")
# Colour codes appear when Odoo writes to a terminal (a run without `exec -T`); they would hide
# the level from _ODOO_LINE.
_ANSI_ESCAPE = re.compile(r"\x1b\[[0-9;]*[A-Za-z]")


def strip_ansi(text: str) -> str:
    """`text` without terminal colour codes (Odoo colours its log on a TTY)."""
    return _ANSI_ESCAPE.sub("", text)


def line_message(line: str) -> str:
    """The message part of an Odoo log line (the whole line if it is not in Odoo's format)."""
    match = _ODOO_LINE.search(line)
    return match["message"].strip() if match else line.strip()


# odoo.tests.result, one per database the process loaded (odoo/service/server.py logs
# "%s when loading database %r"): "1 failed, 0 error(s) of 2 tests when loading database 'odoo'".
_RESULT_MESSAGE = re.compile(
    r"(?P<failed>\d+) failed, (?P<errors>\d+) error\(s\) of (?P<total>\d+) tests"
    r" when loading database (?P<database>'[^']*'|\"[^\"]*\")"
)
# odoo.tests.stats: "probe_pass: 7 tests 0.03s 18 queries" (set-ups and tear-downs count too).
_STATS_MESSAGE = re.compile(r"^(?P<module>[\w.]+): (?P<tests>\d+) tests\b")
# A test's own logger (its module, `odoo.addons.MODULE.tests.test_x`, as odoo/tests/result.py's
# _TEST_ID expects) says Starting/FAIL/ERROR/skipped; class-level problems come from
# odoo.tests.suite with the class path in the description. A module's other loggers
# (`odoo.addons.MODULE.models.x`) are not tests, whatever they print.
_SUITE_LOGGER = "odoo.tests.suite"
_TEST_LOGGER = re.compile(r"odoo\.addons\.\w+\.tests(\.[\w.]+)?")
_RESULT_LOGGER = "odoo.tests.result"
_STATS_LOGGER = "odoo.tests.stats"

# Lines that mean the module was not (fully) installed although Odoo may still exit 0, exactly as
# Odoo 18's odoo/modules/loading.py logs them (logger odoo.modules.loading): LogAnalysis field ->
# (level, message start). The same words from another logger or level are not these lines.
LOADING_LOGGER = "odoo.modules.loading"
MODULE_STATE_LINES: dict[str, tuple[str, str]] = {
    "invalid_module_lines": ("WARNING", "invalid module names, ignored:"),
    "not_loaded_lines": ("ERROR", "Some modules are not loaded, some dependencies or manifest may be missing:"),
    "inconsistent_lines": ("ERROR", "Some modules have inconsistent states, some dependencies may be missing:"),
}


@dataclasses.dataclass(frozen=True)
class LogAnalysis:
    """What an Odoo 18 test log says about one module. Counts are None when the line is absent.

    The result fields come from the `odoo.tests.result` line of `database` only.
    """

    module: str
    database: str
    result_failed: int | None = None
    result_errors: int | None = None
    result_total: int | None = None
    result_line: str | None = None
    other_result_lines: tuple[str, ...] = ()  # odoo.tests.result lines of other databases: ignored
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

    @property
    def tests_run(self) -> tuple[CaseRef, ...]:
        """The module's started tests that were not skipped as a whole (a skipped subtest is not)."""
        whole = {skip.test for skip in self.skipped if not skip.test.is_subtest}
        return tuple(dict.fromkeys(test for test in self.started if test not in whole))


@dataclasses.dataclass(frozen=True)
class _Record:
    """One line in Odoo's prefixed format."""

    timestamp: str
    level: str
    db: str
    logger: str
    message: str
    text: str


# What one FAIL/ERROR block keeps in memory while it is open: its first and last lines, each cut
# to a length. A test that prints for minutes inside its traceback cannot grow the harness
# without bound; the proof log keeps every line, and the kept details say how many were cut.
BLOCK_HEAD_LINES = 200
BLOCK_TAIL_LINES = 200
BLOCK_LINE_CHARS = 4000


@dataclasses.dataclass
class _OpenBlock:
    """A FAIL:/ERROR: block whose traceback is still arriving (bounded: head, tail, a count of the rest)."""

    kind: OutcomeKind
    test: CaseRef
    description: str
    line_number: int
    lines: list[str]
    tail: collections.deque[str] = dataclasses.field(default_factory=lambda: collections.deque(maxlen=BLOCK_TAIL_LINES))
    cut: int = 0
    scanner: ExceptionScanner = dataclasses.field(default_factory=ExceptionScanner)

    def add(self, line: str) -> None:
        """One more line of the block's traceback."""
        self.scanner.feed(line)
        line = line[:BLOCK_LINE_CHARS]
        if len(self.lines) < BLOCK_HEAD_LINES:
            self.lines.append(line)
            return
        if len(self.tail) == self.tail.maxlen:
            self.cut += 1
        self.tail.append(line)

    def close(self) -> CaseOutcome:
        message = self.scanner.found or self.lines[0]
        kept = [*self.lines, *([f"... {self.cut} lines cut here (all are in the proof log) ..."] if self.cut else [])]
        details = "\n".join([*kept, *self.tail]).rstrip()
        return CaseOutcome(self.kind, self.test, self.description, message, details, self.line_number)


class LogAnalyser:
    """Reads an Odoo log a line at a time (as it streams) and summarises it for one module."""

    def __init__(self, module: str, database: str) -> None:
        self.module = module
        self.database = database  # the test process's `-d`: only its odoo.tests.result line counts
        self._lines = 0
        self._odoo_lines = 0
        self._result: tuple[int, int, int, str] | None = None
        self._other_results: list[str] = []
        self._stats: int | None = None
        self._critical: list[str] = []
        self._alarms: dict[str, list[str]] = {field: [] for field in MODULE_STATE_LINES}
        self._failures: list[CaseOutcome] = []
        self._other_failures: list[CaseOutcome] = []
        self._skipped: list[CaseOutcome] = []
        self._started: list[CaseRef] = []
        self._other_started = 0
        self._exceptions: list[str] = []
        self._first: str | None = None
        self._block: _OpenBlock | None = None  # a test's traceback being collected
        self._loose = ExceptionScanner()  # unprefixed lines outside test blocks (other tracebacks)

    def feed(self, line: str) -> None:
        """Take one line of the log (with or without its newline)."""
        self._lines += 1
        line = strip_ansi(line.rstrip("\r\n"))
        stamp = _STAMP_MILLISECONDS.search(line)
        match = None if stamp is None else _ODOO_LINE.search(line, max(0, stamp.start() - _BEFORE_MILLISECONDS))
        if match is None:
            self._continuation(line)
            return
        if match.start():
            # Output without a newline (a test's print) glued before the record: it is output.
            self._continuation(line[: match.start()])
            line = line[match.start() :]
        self._end_block()
        self._end_loose()
        record = _Record(
            timestamp=match["timestamp"],
            level=match["level"],
            db=match["db"],
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
        pending = self._loose.found
        exceptions = (*self._exceptions, pending) if pending is not None else tuple(self._exceptions)
        failed, errors, total, result_line = self._result or (None, None, None, None)
        return LogAnalysis(
            module=self.module,
            database=self.database,
            result_failed=failed,
            result_errors=errors,
            result_total=total,
            result_line=result_line,
            other_result_lines=tuple(self._other_results),
            module_stats_tests=self._stats,
            critical_lines=tuple(self._critical),
            **{field: tuple(lines) for field, lines in self._alarms.items()},
            failures=tuple(failures),
            skipped=tuple(self._skipped),
            started=tuple(self._started),
            other_failures=tuple(others),
            other_started=self._other_started,
            exceptions=exceptions,
            odoo_lines=self._odoo_lines,
            lines=self._lines,
            first_timestamp=_parse_timestamp(self._first),
        )

    # -- one prefixed line -------------------------------------------------------------------

    def _record(self, record: _Record) -> None:
        if record.level == "CRITICAL":  # from any logger
            self._critical.append(record.text)
        for field, (level, start) in MODULE_STATE_LINES.items():
            if record.logger == LOADING_LOGGER and record.level == level and record.message.startswith(start):
                self._alarms[field].append(record.text)

        if record.logger == _RESULT_LOGGER:
            self._result_record(record)
        elif record.logger == _STATS_LOGGER:
            found = _STATS_MESSAGE.match(record.message)
            if found and found["module"] == self.module:
                self._stats = int(found["tests"])
        elif record.logger == _SUITE_LOGGER or _TEST_LOGGER.fullmatch(record.logger):
            self._test_record(record)

    def _result_record(self, record: _Record) -> None:
        found = _RESULT_MESSAGE.fullmatch(record.message)
        if found is None:
            return
        # Odoo writes the database with %r and logs the line with that database's name as its db
        # field; a line about any other database says nothing about this run's tests.
        if record.db == self.database and found["database"] == repr(self.database):
            self._result = (int(found["failed"]), int(found["errors"]), int(found["total"]), record.text)
        else:
            self._other_results.append(record.text)

    def _test_record(self, record: _Record) -> None:
        head, _, description = record.message.partition(" ")
        # odoo/tests/result.py: FAIL/ERROR blocks are logged at ERROR, Starting and skipped at INFO.
        if head in ("FAIL:", "ERROR:") and record.level == "ERROR":
            # The message is "FAIL: Class.method" and the traceback follows on unprefixed lines.
            self._block = _OpenBlock(
                kind="failure" if head == "FAIL:" else "error",
                test=case_ref(record.logger, description),
                description=description,
                line_number=self._lines,
                lines=[record.message],
            )
        elif record.level != "INFO":
            return
        elif head == "Starting" and description.endswith(" ..."):
            test = case_ref(record.logger, description.removesuffix(" ..."))
            if test.belongs_to(self.module):
                self._started.append(test)
            else:
                self._other_started += 1
        elif head == "skipped":
            # "skipped Class.method : reason" (OdooTestResult.addSkip).
            described, _, reason = description.partition(" : ")
            test = case_ref(record.logger, described)
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
                self._block.add(line)
            return
        self._loose.feed(line)

    def _end_block(self) -> None:
        if self._block is None:
            return
        outcome = self._block.close()
        self._block = None
        (self._failures if outcome.test.belongs_to(self.module) else self._other_failures).append(outcome)

    def _end_loose(self) -> None:
        exception = self._loose.found
        if exception is not None:
            self._exceptions.append(exception)
        self._loose = ExceptionScanner()


def analyse_log(lines: Iterable[str], module: str, database: str) -> LogAnalysis:
    """Analyse a whole log (an open file works: lines keep their newlines)."""
    analyser = LogAnalyser(module, database)
    for line in lines:
        analyser.feed(line)
    return analyser.result()


def _parse_timestamp(text: str | None) -> datetime.datetime | None:
    if text is None:
        return None
    return datetime.datetime.strptime(text, "%Y-%m-%d %H:%M:%S,%f").replace(tzinfo=datetime.timezone.utc)
