"""harness.coverage_report: the wrapped command, the remapped reports, the --fail-under rule (no Docker)."""

from __future__ import annotations

import subprocess
import sys
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from harness.coverage_report import CoverageSummary, report, rule, wrap


def test_the_test_command_runs_under_coverage_with_branches_and_only_the_module() -> None:
    argv = wrap(["odoo", "-c", "/etc/odoo/odoo.conf", "-i", "m"], "/mnt/extra-addons/m")
    assert argv[:3] == ["env", "HARNESS_COVERAGE_DATA=/tmp/harness-coverage/.coverage",
                        "HARNESS_COVERAGE_INCLUDE=/mnt/extra-addons/m/*"]  # fmt: skip
    script = argv[5]
    assert "python3 -m coverage run --branch" in script and '--include="$HARNESS_COVERAGE_INCLUDE"' in script
    assert argv[6:] == ["odoo", "-c", "/etc/odoo/odoo.conf", "-i", "m"]


def _module(folder: Path) -> None:
    (folder / "models").mkdir(parents=True)
    (folder / "__init__.py").write_text("from . import models\n")
    (folder / "models" / "__init__.py").write_text("")
    (folder / "models" / "thing.py").write_text(
        "def used(x):\n    if x:\n        return 1\n    return 2\n\n\ndef unused():\n    return 3\n"
    )


def test_data_measured_elsewhere_is_reported_on_the_repository_files(tmp_path: Path) -> None:
    # "The container": the module at another path, measured by coverage.py for real.
    container = tmp_path / "container" / "m"
    _module(container)
    data = tmp_path / "data" / ".coverage"
    data.parent.mkdir()
    script = tmp_path / "run_it.py"
    script.write_text(
        f"import sys\nsys.path.insert(0, {str(container.parent)!r})\nimport m.models.thing as t\nt.used(1)\n"
    )
    subprocess.run(
        [sys.executable, "-m", "coverage", "run", "--branch", f"--data-file={data}",
         f"--include={container}/*", str(script)],
        check=True, timeout=120,
    )  # fmt: skip
    repository = tmp_path / "repo"
    module_dir = repository / "addons" / "m"
    _module(module_dir)
    out = tmp_path / "out"
    out.mkdir()
    summary = report(data, module_dir, str(container), out, repository)
    root = ET.parse(summary.xml).getroot()
    rates = {c.get("filename"): float(c.get("line-rate")) for c in root.iter("class")}
    assert rates["addons/m/models/thing.py"] == pytest.approx(4 / 6, abs=1e-4)  # `return 2` and `return 3` never ran
    assert [s.text for s in root.iter("source")] == [str(repository)]
    assert 0 < summary.percent < 100 and (summary.html / "index.html").is_file()


def test_fail_under_is_its_own_rule(tmp_path: Path) -> None:
    summary = CoverageSummary(72.4, tmp_path / "coverage.xml", tmp_path / "htmlcov", 3)
    assert rule(summary, 0) is None and rule(summary, 72.4) is None
    assert rule(summary, 80).startswith("coverage 72.4 % is below --fail-under 80 %")
