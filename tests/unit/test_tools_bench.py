"""tools.bench without Docker: the summary table and the ratios."""

from __future__ import annotations

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
