"""Several modules in one command: the plan, the combined exit code, the table and the one JUnit file."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from pathlib import Path

from harness.batch import NO_TESTS, Job, combined_exit_code, default_jobs, plan_jobs
from harness.batch_report import ModuleOutcome, markdown, merge_junit, table
from harness.config import Config


def test_exit_code_is_0_when_all_passed_or_have_no_tests() -> None:
    assert combined_exit_code([0, 0, NO_TESTS]) == 0
    assert combined_exit_code([]) == 0


def test_exit_code_is_the_most_severe_signals_first_then_3_2_1() -> None:
    assert combined_exit_code([0, 1, 2]) == 2
    assert combined_exit_code([1, 3, 2, 0]) == 3
    assert combined_exit_code([3, 130, 1]) == 130
    assert combined_exit_code([143, 3]) == 143
    assert combined_exit_code([NO_TESTS, 1]) == 1


def test_isolated_plans_one_job_per_module() -> None:
    assert plan_jobs(["a", "b"], {"a": "k", "b": "k"}, "isolated", 2) == [
        Job("a", ("a",), False),
        Job("b", ("b",), False),
    ]


def test_grouped_shares_an_environment_per_key_split_to_use_every_worker() -> None:
    keys = {m: "base" for m in "abcdef"} | {"g": "mail", "h": "mail"}
    jobs = plan_jobs(list("abcdefghi"), keys, "grouped", 2)  # i has no key: alone
    assert sorted(m for job in jobs for m in job.modules) == list("abcdefghi")
    grouped = [job for job in jobs if job.grouped]
    assert {job.modules for job in grouped} == {("a", "c", "e"), ("b", "d", "f"), ("g", "h")}
    assert Job("i", ("i",), False) in jobs
    assert [len(job.modules) for job in jobs] == sorted((len(job.modules) for job in jobs), reverse=True)
    assert grouped[0].argv()[-4:] == ["run-group", "a", "c", "e"]


def test_grouped_with_one_worker_keeps_each_key_in_one_environment() -> None:
    jobs = plan_jobs(list("abc"), dict.fromkeys("abc", "k"), "grouped", 1)
    assert jobs == [Job("group-a", ("a", "b", "c"), True)]


def test_default_jobs_follow_cores_memory_and_ports(tmp_path: Path) -> None:
    config = Config(root=tmp_path, port_range=(8000, 8002))
    assert default_jobs(config, cpus=2, memory=24 << 30) == 2
    assert default_jobs(config, cpus=16, memory=24 << 30) == 3  # three ports
    assert default_jobs(config, cpus=16, memory=2 << 30) == 2
    assert default_jobs(config, cpus=1, memory=0) == 1


ROWS = [
    ModuleOutcome("alpha", 0, "PASSED", tests=3, failures=0, errors=0, seconds=4.25),
    ModuleOutcome("beta_long_name", 1, "FAILED", tests=2, failures=1, errors=1, seconds=5.0, message="2 of 2 failed"),
    ModuleOutcome("gamma", 130, "NOT RUN", message="not started: the command was interrupted"),
]


def test_table_has_one_aligned_row_per_module() -> None:
    lines = table(ROWS)
    assert lines[0].split() == ["module", "verdict", "exit", "tests", "failures", "seconds"]
    assert lines[1].split() == ["alpha", "PASSED", "0", "3", "0", "4.2"]
    assert lines[2].split() == ["beta_long_name", "FAILED", "1", "2", "2", "5.0"]
    assert lines[3].split() == ["gamma", "NOT", "RUN", "130", "-", "-", "-"]
    assert len({line.index("exit") if i == 0 else len(line.split("  ")[0]) for i, line in enumerate(lines[:1])}) == 1


def test_markdown_is_one_section_with_every_module_and_the_reasons() -> None:
    text = markdown(ROWS, "3 modules", 130)
    assert text.startswith("### 3 modules: exit 130")
    assert text.count("| `") == 3
    assert "- `beta_long_name`: 2 of 2 failed" in text and "alpha`:" not in text


def test_merged_junit_has_a_suite_per_module_and_a_failing_one_for_a_missing_report(tmp_path: Path) -> None:
    report = tmp_path / "alpha.xml"
    report.write_text(
        '<testsuites name="alpha" tests="2" failures="0" errors="0" skipped="0" time="1.5">'
        '<testsuite name="alpha" tests="2" failures="0" errors="0" skipped="0" time="1.5">'
        '<testcase classname="alpha.T" name="test_a"/><testcase classname="alpha.T" name="test_b"/>'
        "</testsuite></testsuites>"
    )
    rows = [ModuleOutcome("alpha", 0, "PASSED", junit_file=report), ROWS[2]]
    root = ET.parse(merge_junit(rows, tmp_path / "out" / "junit.xml")).getroot()
    assert [suite.get("name") for suite in root.iter("testsuite")] == ["alpha", "gamma"]
    assert (root.get("tests"), root.get("errors")) == ("3", "1")
    assert "NOT RUN" in root.find("testsuite[@name='gamma']/testcase/error").get("message")
