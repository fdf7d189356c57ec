"""The Odoo side of a run: the test command, what Odoo 18's log says, and the verdict.

Everything here is pure (no Docker, no processes), so it is tested against real Odoo 18 logs in
tests/fixtures/odoo_logs. Odoo's exit code alone gives false passes (a misspelt module exits 0
with "0 tests"), so the verdict is built from the log as well; see `judge`.
"""

from __future__ import annotations

import dataclasses
import datetime
import re
import shlex
import signal
from collections.abc import Callable, Iterable, Sequence
from typing import Literal

from harness.config import Config
from harness.errors import UsageError
from harness.naming import validate_module_name

REDACTED = "***"
# Secrets this long are unlikely to collide with ordinary words, so they are redacted anywhere.
_LONG_SECRET = 8
# Odoo's option for the database password (its short form -w means something else to docker).
_PASSWORD_OPTION = "--db_password"

# PostgreSQL accepts more, but the name travels through argv and Odoo's db filters: keep it plain.
_DATABASE_NAME = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.-]*")


# --------------------------------------------------------------------------------------------
# The test command
# --------------------------------------------------------------------------------------------


def build_test_command(config: Config, module: str, *, database: str | None = None) -> list[str]:
    """The argv run in the odoo container (`docker compose exec -T odoo ...`) to test `module`."""
    # Anything but a technical name (a leading "-", a "/", spaces) Odoo would read as an option or a
    # tag expression instead of a module: the same check the run makes before Docker.
    validate_module_name(module)
    db = config.db_name if database is None else database
    if not _DATABASE_NAME.fullmatch(db):
        raise UsageError(f"database name {db!r} must be letters, digits, '_', '.' or '-' (not first)")
    return [
        # The official image ships the launcher `odoo`; `odoo-bin` does not exist there (exit 126).
        config.odoo_executable,
        # The image's config only sets addons_path and data_dir; reading it keeps /mnt/extra-addons.
        "-c",
        config.odoo_config,
        # A database of its own, never the server's, so every run installs the module from scratch.
        "-d",
        db,
        # `docker compose exec` bypasses the image's entrypoint, which is what normally turns
        # HOST/USER/PASSWORD into these arguments: without them Odoo tries the local socket and
        # exits 1 ("connection to server on socket ... failed").
        "--db_host",
        config.db_host,
        "--db_port",
        str(config.db_port),
        "--db_user",
        config.db_user,
        "--db_password",
        config.db_password,
        # Running tests makes Odoo start its HTTP server even with --stop-after-init, and the
        # container's own server already holds 8069: "OSError: [Errno 98] Address already in use".
        "--http-port",
        str(config.test_http_port),
        # Install (not update) the module into the fresh database: this is what runs its
        # at_install tests and proves that it installs at all.
        "-i",
        module,
        # Only this module's tests (at_install and post_install). It also enables testing in
        # 18.0; --test-enable would run base's, web's and every auto-installed module's tests too.
        "--test-tags",
        f"/{module}",
        # Exit once the tests are done instead of serving requests.
        "--stop-after-init",
        # Accepted and a no-op in 18.0; kept so test-level lines show if a version honours it.
        "--log-level=test",
    ]


def redact_text(text: str, secrets: Iterable[str]) -> str:
    """`text` with every secret replaced by `***`.

    A short secret such as the default password `odoo` is also a word of every Odoo log, so it is
    only replaced where it stands alone (not inside `odoo.addons...` or `/odoo/`); a secret of 8
    characters or more is replaced wherever it appears.
    """
    for secret in sorted({s for s in secrets if s}, key=len, reverse=True):
        if len(secret) >= _LONG_SECRET:
            text = text.replace(secret, REDACTED)
        else:
            # Not glued to a character that continues an identifier, a dotted name or a path.
            standalone = re.compile(rf"(?<![\w./-]){re.escape(secret)}(?![\w./-])")
            text = standalone.sub(REDACTED, text)
    return text


def redact(argv: Sequence[str], secrets: Iterable[str]) -> list[str]:
    """A copy of `argv` fit for display and artefacts: secret values replaced by `***`.

    The value of `--db_password` is always hidden. Elsewhere secrets are hidden as in
    `redact_text`, except that an argument that *is* a short secret is kept: with the defaults
    `odoo` is the password but also the launcher, the compose service and the user.
    """
    wanted = [s for s in secrets if s]
    redacted: list[str] = []
    hide_next = False
    for arg in argv:
        option, equals, _ = arg.partition("=")
        if hide_next:
            redacted.append(REDACTED)
            hide_next = False
        elif option == _PASSWORD_OPTION:
            hide_next = not equals
            redacted.append(f"{option}={REDACTED}" if equals else arg)
        elif arg in wanted and len(arg) < _LONG_SECRET:
            redacted.append(arg)
        else:
            redacted.append(redact_text(arg, wanted))
    return redacted


def display_command(config: Config, argv: Sequence[str]) -> str:
    """`argv` as one shell-quoted line with the database password hidden."""
    return shlex.join(redact(argv, [config.db_password]))


# --------------------------------------------------------------------------------------------
# Reading Odoo's log
# --------------------------------------------------------------------------------------------

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
class TestRef:
    """One test as Odoo names it: `odoo.addons.m.tests.test_x` + `TestX` + `test_y`."""

    __test__ = False  # not a pytest test class, despite the name

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
class TestOutcome:
    """A FAIL:, ERROR: or skipped line of the log, with the traceback that follows it."""

    __test__ = False

    kind: OutcomeKind
    test: TestRef
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
    failures: tuple[TestOutcome, ...] = ()  # the module's FAIL and ERROR blocks
    skipped: tuple[TestOutcome, ...] = ()  # the module's skips
    started: tuple[TestRef, ...] = ()  # the module's tests, from "Starting Class.method ..."
    other_failures: tuple[TestOutcome, ...] = ()  # FAIL/ERROR blocks of other modules' tests
    other_started: int = 0
    exceptions: tuple[str, ...] = ()  # last line of each traceback outside test blocks
    odoo_lines: int = 0  # lines in Odoo's own format
    lines: int = 0
    first_timestamp: datetime.datetime | None = None
    last_timestamp: datetime.datetime | None = None

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
    def log_seconds(self) -> float | None:
        """Time between Odoo's first and last log line."""
        if self.first_timestamp is None or self.last_timestamp is None:
            return None
        return (self.last_timestamp - self.first_timestamp).total_seconds()


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
    test: TestRef
    description: str
    line_number: int
    lines: list[str]

    def close(self) -> TestOutcome:
        return TestOutcome(
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
        self._failures: list[TestOutcome] = []
        self._other_failures: list[TestOutcome] = []
        self._skipped: list[TestOutcome] = []
        self._started: list[TestRef] = []
        self._other_started = 0
        self._exceptions: list[str] = []
        self._first: str | None = None
        self._last: str | None = None
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
        self._last = record.timestamp
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
            last_timestamp=_parse_timestamp(self._last),
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
                skip = TestOutcome("skipped", test, described, reason, record.message, self._lines)
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


def _test_ref(logger: str, description: str) -> TestRef:
    """Name the test of a FAIL/ERROR/Starting/skipped line from its logger and description."""
    # A subtest is "Subtest Class.method (params)"; keep the params in the name, they tell which.
    description = description.removeprefix("Subtest ")
    class_level = _CLASS_LEVEL_DESCRIPTION.match(description)
    if class_level:
        # setUpClass/tearDownClass: logged by odoo.tests.suite; the class path is in parentheses.
        module_path, _, class_name = class_level["path"].rpartition(".")
        return TestRef(module_path, class_name, class_level["method"])
    name, space, params = description.partition(" ")
    class_name, _, method = name.rpartition(".")
    return TestRef(logger, class_name, method + space + params)


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


# --------------------------------------------------------------------------------------------
# The verdict
# --------------------------------------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class Verdict:
    """Whether the module's tests passed and, if not, every reason why."""

    passed: bool
    reasons: tuple[str, ...] = ()


@dataclasses.dataclass(frozen=True)
class _Facts:
    exit_code: int | None
    analysis: LogAnalysis
    module: str
    timed_out: bool


# At most this many tests are named in one reason; the log and the JUnit report have all of them.
_NAMED_OUTCOMES = 5


def _names(outcomes: Sequence[TestOutcome]) -> str:
    shown = "; ".join(f"{o.description} ({o.message})" for o in outcomes[:_NAMED_OUTCOMES])
    more = len(outcomes) - _NAMED_OUTCOMES
    return shown + (f"; and {more} more" if more > 0 else "")


def line_message(line: str) -> str:
    """The message part of an Odoo log line (the whole line if it is not in Odoo's format)."""
    match = _ODOO_LINE.match(line)
    return match["message"].strip() if match else line.strip()


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


_RULES: tuple[Callable[[_Facts], str | None], ...] = (
    _rule_timeout,
    _rule_exit_code,
    _rule_critical,
    _rule_invalid_module,
    _rule_not_loaded,
    _rule_inconsistent,
    _rule_result,
    _rule_module_stats,
    _rule_uncounted_blocks,
    _rule_other_modules,
)


def judge(exit_code: int | None, analysis: LogAnalysis, module: str, *, timed_out: bool = False) -> Verdict:
    """Pass only if Odoo exited 0, counted >0 tests with no failure, MODULE's tests ran, no alarm.

    Every rule that does not hold adds one reason the user can act on.
    """
    if analysis.module != module:
        # The analysis only looked for `analysis.module`'s lines: judging another module by it
        # would pass a module whose tests never ran.
        raise ValueError(f"the log was analysed for {analysis.module!r}, not {module!r}")
    facts = _Facts(exit_code, analysis, module, timed_out)
    reasons = tuple(reason for rule in _RULES if (reason := rule(facts)) is not None)
    return Verdict(passed=not reasons, reasons=reasons)


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
