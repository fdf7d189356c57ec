"""Coverage of one module's tests: coverage.py around the test process, reports mapped to the repository.

The test process runs as `python3 -m coverage run --branch --include=<module folder>/* odoo ...`
(coverage.py installed into the test image as a requirement, harness/requirements.py, at the
version this machine has). Its data file is copied out before the teardown and combined here with
the container's folder mapped to the module's folder on this machine, so `coverage.xml`
(Cobertura) names the repository's files (`addons/traction/models/x.py`) and `htmlcov/` shows
them. coverage.py does the measuring and reporting, diff-cover the coverage of changed lines:
both are the tools the field already uses (OCA's CI runs the first, many projects the second).
"""

from __future__ import annotations

import dataclasses
import importlib.metadata
import io
import json
import os
import sys
import xml.etree.ElementTree as ET
from pathlib import Path

from harness import addons_path, proc
from harness.config import Config
from harness.errors import EnvironmentProblem, UsageError
from harness.requirements import Requirement

# Inside the odoo container: where the test process writes its data (the user odoo can write /tmp).
CONTAINER_DATA = "/tmp/harness-coverage/.coverage"  # noqa: S108 - inside the container only
XML_NAME = "coverage.xml"
HTML_NAME = "htmlcov"
DIFF_NAME = "diff-coverage.json"


@dataclasses.dataclass(frozen=True)
class CoverageSummary:
    """What coverage found: the total (lines and branches, as coverage.py counts it) and the reports."""

    percent: float
    xml: Path
    html: Path
    files: int
    diff_percent: float | None = None  # of the lines changed since `diff_ref` (diff-cover)
    diff_ref: str | None = None
    diff_report: Path | None = None

    def to_json(self) -> dict[str, object]:
        """For result.json's `extras.coverage`."""
        return {
            "percent": round(self.percent, 2),
            "xml": str(self.xml),
            "html": str(self.html / "index.html"),
            "files": self.files,
            "diff_percent": None if self.diff_percent is None else round(self.diff_percent, 2),
            "diff_ref": self.diff_ref,
        }


def requirement() -> Requirement:
    """coverage.py for the test image, at this machine's version (so its data file combines here)."""
    try:
        version = importlib.metadata.version("coverage")
    except importlib.metadata.PackageNotFoundError:
        raise UsageError(
            "--coverage needs coverage.py where the harness runs (it combines and reports the data): "
            "pip install coverage (nox installs it for its own sessions)"
        ) from None
    return Requirement(f"coverage=={version}", "--coverage")


def container_module_dir(config: Config, module_dir: Path) -> str:
    """The module's folder as the odoo container sees it."""
    for host, where in zip(config.addons_path, addons_path.container_folders(config), strict=True):
        if module_dir.parent.resolve() == Path(host).resolve():
            return f"{where}/{module_dir.name}"
    raise UsageError(f"{module_dir} is in no addons folder of the configuration: its coverage cannot be measured")


def wrap(command: list[str], container_dir: str) -> list[str]:
    """The test command under `coverage run` (branch on, only the module's folder measured)."""
    launcher, *arguments = command
    # `coverage run` wants a file: the launcher is found on the container's PATH, as docker exec would.
    script = (
        'mkdir -p "$(dirname "$HARNESS_COVERAGE_DATA")" && exec python3 -m coverage run --branch '
        '--data-file="$HARNESS_COVERAGE_DATA" --include="$HARNESS_COVERAGE_INCLUDE" "$(command -v "$0")" "$@"'
    )
    return [
        "env",
        f"HARNESS_COVERAGE_DATA={CONTAINER_DATA}",
        f"HARNESS_COVERAGE_INCLUDE={container_dir}/*",
        "sh",
        "-c",
        script,
        launcher,
        *arguments,
    ]


def report(data_file: Path, module_dir: Path, container_dir: str, out: Path, repository: Path) -> CoverageSummary:
    """Combine the container's data with paths mapped to `module_dir`; coverage.xml and htmlcov/ in `out`."""
    import coverage

    combined = out / ".coverage"
    cov = coverage.Coverage(data_file=str(combined), config_file=False, branch=True)
    # The first path is the canonical one: the container's folder is rewritten to the module's.
    cov.set_option("paths", {"module": [str(module_dir), container_dir]})
    try:
        cov.combine([str(data_file)], keep=True, strict=True)
        cov.save()
        cov.load()
        xml = out / XML_NAME
        percent = cov.xml_report(outfile=str(xml))
        cov.html_report(directory=str(out / HTML_NAME), title=f"{module_dir.name}: coverage of its tests")
        cov.report(file=io.StringIO())  # raises NoDataError when nothing was measured
    except coverage.exceptions.CoverageException as exc:
        raise EnvironmentProblem(f"coverage.py could not report on {data_file}: {exc}") from None
    files = _relative_to_repository(xml, repository)
    return CoverageSummary(percent, xml, out / HTML_NAME, files)


def _relative_to_repository(xml: Path, repository: Path) -> int:
    """Rewrite coverage.xml's file names relative to the repository root (one <source>); the file count."""
    tree = ET.parse(xml)  # noqa: S314 - our own coverage.py output
    root = tree.getroot()
    sources = [s.text or "" for s in root.iter("source")]
    base = Path(sources[0]) if sources else repository
    count = 0
    for cls in root.iter("class"):
        name = cls.get("filename", "")
        full = Path(name) if os.path.isabs(name) else base / name
        cls.set("filename", os.path.relpath(full, repository))
        count += 1
    holder = root.find("sources")
    if holder is not None:
        for source in list(holder):
            holder.remove(source)
        ET.SubElement(holder, "source").text = str(repository)
    tree.write(xml, encoding="utf-8", xml_declaration=True)
    return count


def diff_coverage(summary: CoverageSummary, ref: str, repository: Path, timeout: float) -> CoverageSummary:
    """The coverage of the lines changed since `ref`, by diff-cover (reads coverage.xml and `git diff`)."""
    target = summary.xml.with_name(DIFF_NAME)
    argv = [sys.executable, "-m", "diff_cover.diff_cover_tool", str(summary.xml), "--compare-branch", ref]
    argv += ["--format", f"json:{target}", "--quiet"]
    result = proc.run(argv, timeout=timeout, cwd=repository)
    if not target.is_file():
        raise EnvironmentProblem(f"diff-cover against {ref} failed (exit {result.returncode}): {result.output[-500:]}")
    data = json.loads(target.read_text(encoding="utf-8"))
    percent = data.get("total_percent_covered")
    return dataclasses.replace(
        summary, diff_percent=None if percent is None else float(percent), diff_ref=ref, diff_report=target
    )


def rule(summary: CoverageSummary | None, fail_under: float) -> str | None:
    """The coverage rule: a reason when the total is below --fail-under N (None: it holds, or no N)."""
    if fail_under <= 0 or summary is None:
        return None
    if summary.percent + 1e-9 >= fail_under:
        return None
    return f"coverage {summary.percent:.1f} % is below --fail-under {fail_under:g} % (see {summary.html}/index.html)"


def rows(summary: CoverageSummary, shown_xml: str, shown_html: str) -> list[tuple[str, str]]:
    """The final block's rows."""
    out = [("coverage", f"{summary.percent:.1f} % of {summary.files} file(s) (lines and branches)")]
    if summary.diff_ref is not None:
        diff = "no changed line measured" if summary.diff_percent is None else f"{summary.diff_percent:.1f} %"
        out.append(("", f"changed since {summary.diff_ref}: {diff} (diff-cover)"))
    out.append(("", f"{shown_xml} | {shown_html}/index.html"))
    return out
