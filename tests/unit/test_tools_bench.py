"""tools.bench without Docker: the summary table and the ratios."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.oca_wheels import Pinned
from tools import bench


def test_summary_takes_medians_min_and_max_per_phase() -> None:
    runs = {
        "warm": [{"up": 3.0, "total": 11.0}, {"up": 2.0, "total": 12.0}, {"up": 4.0, "total": 10.0}],
        "work-order": [{"up": 5.0, "total": 150.0}],
    }
    table = bench.summarise(runs)
    assert table["warm"]["up"] == {"median": 3.0, "min": 2.0, "max": 4.0}
    assert table["warm"]["total"] == {"median": 11.0, "min": 10.0, "max": 12.0}
    assert "database" not in table["warm"]


def test_markdown_names_the_command_and_the_ratios() -> None:
    table = bench.summarise(
        {
            "cold": [{"total": 36.0}],
            "warm": [{"total": 11.0}],
            "uncached": [{"total": 33.0}],
            "work-order": [{"total": 160.0}],
        }
    )
    text = bench.markdown(table, "traction", 1, "nox -s bench -- --runs 1")
    assert "`nox -s bench -- --runs 1`" in text and "module `traction`" in text
    assert "| harness, warm cache | - | - | - | - | - | 11.0 (11.0-11.0) |" in text
    assert "warm cache / work order's flow: 0.07" in text
    assert "cold cache / no cache: 1.09" in text


def _addon(folder: Path, name: str, depends: list[str]) -> None:
    (folder / name).mkdir(parents=True)
    (folder / name / "__init__.py").write_text("")
    (folder / name / "__manifest__.py").write_text(repr({"name": name, "depends": depends}))


def test_oca_style_installs_the_outside_dependencies_first_then_every_addon_with_its_tests(tmp_path: Path) -> None:
    _addon(tmp_path, "a", ["mail"])
    _addon(tmp_path, "b", ["a", "web"])  # a is in the repository: installed with the tests, not before
    depends = bench.outside_depends(tmp_path, ["a", "b"])
    assert depends == ["mail", "web"]
    where = {"network": "n", "db_host": "db", "addons": tmp_path, "helper": tmp_path / "py"}
    first = bench.oca_argv(depends, (), **where)
    assert first[first.index("-i") + 1] == "mail,web" and "--test-tags" not in first
    second = bench.oca_argv(["a", "b"], ["a", "b"], **where)
    assert second[second.index("-i") + 1] == "a,b"
    assert second[second.index("--test-tags") + 1] == "/a,/b"
    assert second[second.index("-d") + 1] == first[first.index("-d") + 1]  # one database
    assert second[-1] == "--stop-after-init"


def test_repository_table_has_medians_the_ratio_and_the_verdict_check(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(bench.oca_wheels, "PINNED", {"a": Pinned("18.0.1.0.0", 3, False), "b": Pinned("1", 2, False)})
    same = {"a": {"exit": 0, "tests": 3}, "b": {"exit": 0, "tests": 2}}
    harness = [
        {"total": 60.0, "modules": same},
        {"total": 80.0, "modules": same},
        {"total": 70.0, "modules": {**same, "b": {"exit": 1, "tests": 2}}},
    ]
    oca = [{"total": t, "depends": 10.0, "tests": t - 10, "odoo_exit": 0, "counts": [0, 0, 5]} for t in (90, 100, 110)]
    text = bench.repository_markdown(harness, oca, ["a", "b"], "nox -s bench -- --runs 3")
    assert "repository of 2 OCA 18.0 addons (5 tests), 3 runs of each" in text
    assert "| 70.0 (60.0-80.0) |" in text and "| 10.0 (10.0-10.0) | 90.0 (80.0-100.0) | 100.0 (90.0-110.0) |" in text
    assert "- harness / OCA-style: 0.70" in text
    assert "2 of 3 runs (differing: b)" in text
