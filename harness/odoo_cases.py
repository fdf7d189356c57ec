"""Test cases as Odoo 18's log names them, and how each one ended.

A test is named by its logger (the test file's module, `odoo.addons.m.tests.test_x`) and the
description Odoo's odoo/tests/result.py writes (`TestX.test_y`, `Subtest TestX.test_y (i=1)`), or,
for class-level errors and skips logged by odoo.tests.suite, `setUpClass (odoo.addons.m...TestX)`.
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Iterable
from typing import Literal

# "setUpClass (odoo.addons.m.tests.test_x.TestX)", unittest's description of a class-level error.
_CLASS_LEVEL_DESCRIPTION = re.compile(r"^(?P<method>\w+) \((?P<path>[\w.]+)\)$")

_TRACEBACK_HEADER = "Traceback (most recent call last):"

OutcomeKind = Literal["failure", "error", "skipped"]
# unittest's class- and module-level fixtures: an error there is no test's, and stops its tests.
# (Odoo 18's suite never calls setUpModule/tearDownModule: odoo/tests/suite.py removed them.)
FIXTURE_METHODS = frozenset({"setUpClass", "tearDownClass", "setUpModule", "tearDownModule"})


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
        return self.module_path.startswith(f"odoo.addons.{module}.")

    @property
    def is_fixture(self) -> bool:
        """A class- or module-level fixture (`TestX.setUpClass`), not a test."""
        return self.method in FIXTURE_METHODS

    @property
    def is_subtest(self) -> bool:
        """A subtest keeps its parameters in the method: `test_values (value=2)`."""
        return " " in self.method

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

    @property
    def name(self) -> str:
        """What a person reads: `TestX.test_y`, `Subtest TestX.test_y (i=1)`, `TestX.setUpClass`."""
        return str(self.test) if self.test.is_fixture else self.description


def case_ref(logger: str, description: str) -> CaseRef:
    """Name the test of a FAIL/ERROR/Starting/skipped line from its logger and description."""
    # A subtest is "Subtest Class.method (params)"; keep the params in the name, they tell which.
    description = description.removeprefix("Subtest ")
    class_level = _CLASS_LEVEL_DESCRIPTION.match(description)
    if class_level:
        # setUpClass/tearDownClass: logged by odoo.tests.suite; the class path is in parentheses
        # (for setUpModule, the test file's module path: no class).
        if class_level["method"] in ("setUpModule", "tearDownModule"):
            return CaseRef(class_level["path"], "", class_level["method"])
        module_path, _, class_name = class_level["path"].rpartition(".")
        return CaseRef(module_path, class_name, class_level["method"])
    name, space, params = description.partition(" ")
    class_name, _, method = name.rpartition(".")
    return CaseRef(logger, class_name, method + space + params)


class ExceptionScanner:
    """Finds the last "SomeError: message" line of the tracebacks in lines fed one at a time (O(1) memory)."""

    def __init__(self) -> None:
        self.found: str | None = None
        self._in_traceback = False

    def feed(self, line: str) -> None:
        """Take the next line."""
        if line.startswith(_TRACEBACK_HEADER):
            self._in_traceback = True
        elif self._in_traceback and line and not line[0].isspace():
            # Frames are indented; the first line back at the margin names the exception.
            self.found = line.strip()
            self._in_traceback = False


def exception_line(lines: Iterable[str]) -> str | None:
    """The last "SomeError: message" line of the tracebacks in `lines`, if any."""
    scanner = ExceptionScanner()
    for line in lines:
        scanner.feed(line)
    return scanner.found
