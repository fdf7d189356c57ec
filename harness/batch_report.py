"""What a command over several modules leaves: the rows read back, the table, one JUnit file, one job summary."""

from __future__ import annotations

import dataclasses
import json
import xml.etree.ElementTree as ET
from collections.abc import Mapping, Sequence
from pathlib import Path

from harness.errors import ExitCode
from harness.proof import write_json

COLUMNS = ("module", "verdict", "exit", "tests", "failures", "seconds")


@dataclasses.dataclass(frozen=True)
class ModuleOutcome:
    """One row of the summary: what a module's result.json says (or why there is none)."""

    module: str
    exit_code: int
    verdict: str
    tests: int | None = None
    failures: int | None = None
    errors: int | None = None
    seconds: float | None = None
    message: str = ""
    result_file: Path | None = None
    junit_file: Path | None = None
    job: str = ""

    @property
    def failed(self) -> int | None:
        """Failures and errors together, as the table shows them."""
        if self.failures is None and self.errors is None:
            return None
        return (self.failures or 0) + (self.errors or 0)


def read_outcome(path: Path, job: str) -> ModuleOutcome | None:
    """A module's row from its result.json (None when the file cannot be read)."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    counts = data.get("counts") or {}
    junit = data.get("junit_file")
    return ModuleOutcome(
        module=str(data.get("module", "")),
        exit_code=int(data.get("exit_code", ExitCode.ENVIRONMENT)),
        verdict=str(data.get("verdict", "")),
        tests=counts.get("tests"),
        failures=counts.get("failures"),
        errors=counts.get("errors"),
        seconds=data.get("seconds"),
        message=str(data.get("message", "")),
        result_file=path,
        junit_file=Path(junit) if junit else None,
        job=job,
    )


def read_json_rows(path: Path) -> dict[str, float | None]:
    """{module: seconds} from a summary.json (empty when it cannot be read)."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        return {str(row["module"]): row.get("seconds") for row in data.get("modules", [])}
    except (OSError, ValueError, KeyError, TypeError, AttributeError):
        return {}


def _cells(row: ModuleOutcome) -> list[str]:
    def number(value: int | None) -> str:
        return "-" if value is None else str(value)

    seconds = "-" if row.seconds is None else f"{row.seconds:.1f}"
    return [row.module, row.verdict, str(row.exit_code), number(row.tests), number(row.failed), seconds]


def table(rows: Sequence[ModuleOutcome]) -> list[str]:
    """The summary as aligned text lines: module, verdict, exit code, tests, failures (+ errors), seconds."""
    body = [list(COLUMNS), *(_cells(row) for row in rows)]
    widths = [max(len(line[i]) for line in body) for i in range(len(COLUMNS))]
    return ["  ".join(cell.ljust(width) for cell, width in zip(line, widths, strict=True)).rstrip() for line in body]


def markdown(rows: Sequence[ModuleOutcome], title: str, exit_code: int) -> str:
    """One job-summary section for the whole command: a table, then each failing module's reason."""
    out = [f"### {title}: exit {exit_code}", "", "| " + " | ".join(COLUMNS) + " |", "|" + " --- |" * len(COLUMNS)]
    for row in rows:
        cells = _cells(row)
        cells[0] = f"`{cells[0]}`"
        cells[1] = f"{'✅' if row.exit_code == ExitCode.PASSED else '❌'} {cells[1]}"
        out.append("| " + " | ".join(cell.replace("|", "\\|") for cell in cells) + " |")
    reasons = [f"- `{row.module}`: {row.message}" for row in rows if row.exit_code != ExitCode.PASSED and row.message]
    return "\n".join([*out, "", *reasons]).rstrip() + "\n\n"


def merge_junit(rows: Sequence[ModuleOutcome], target: Path) -> Path:
    """One JUnit file with each module's <testsuite>; a module without a report gets a failing suite."""
    root = ET.Element("testsuites", {"name": "harness"})
    totals = dict.fromkeys(("tests", "failures", "errors", "skipped"), 0)
    seconds = 0.0
    for row in rows:
        suites = _suites(row.junit_file)
        if not suites:
            suites = [_missing_suite(row)]
        for suite in suites:
            root.append(suite)
            for key in totals:
                totals[key] += int(suite.get(key, "0") or 0)
            seconds += float(suite.get("time", "0") or 0)
    root.attrib.update({key: str(value) for key, value in totals.items()})
    root.set("time", f"{seconds:.3f}")
    ET.indent(root)
    target.parent.mkdir(parents=True, exist_ok=True)
    partial = target.with_name(target.name + ".partial")
    ET.ElementTree(root).write(partial, encoding="utf-8", xml_declaration=True)
    partial.replace(target)
    return target


def _suites(path: Path | None) -> list[ET.Element]:
    if path is None or not path.is_file():
        return []
    try:
        root = ET.parse(path).getroot()
    except ET.ParseError:
        return []
    return [root] if root.tag == "testsuite" else list(root.iter("testsuite"))


def _missing_suite(row: ModuleOutcome) -> ET.Element:
    """A suite for a module that left no report (never started, or its run died): one error case."""
    suite = ET.Element("testsuite", {"name": row.module, "tests": "1", "failures": "0", "errors": "1", "skipped": "0"})
    case = ET.SubElement(suite, "testcase", {"classname": row.module, "name": "harness-run"})
    ET.SubElement(case, "error", {"type": "harness", "message": f"{row.verdict}: {row.message}"})
    return suite


def write_summary(rows: Sequence[ModuleOutcome], folder: Path, exit_code: int, extra: Mapping[str, object]) -> Path:
    """summary.json: every row, the command's exit code and how the batch ran."""
    data = {
        "exit_code": exit_code,
        "modules": [{**dataclasses.asdict(row), "failed": row.failed} for row in rows],
        **extra,
    }
    path = folder / "summary.json"
    write_json(path, data)
    return path
