"""Several modules in one command: the plan, the combined exit code, the table and the one JUnit file."""

from __future__ import annotations

import json
import signal
import xml.etree.ElementTree as ET
from pathlib import Path

from harness.batch import (
    NO_TESTS,
    Batch,
    Job,
    by_expected_seconds,
    collect,
    combined_exit_code,
    default_jobs,
    fallback_jobs,
    last_seconds,
    plan_jobs,
    unexplained_exits,
)
from harness.batch_report import ModuleOutcome, markdown, merge_junit, table
from harness.config import Config
from harness.group import cache_groups, group_key


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


def _addon(folder: Path, name: str, depends: list[str], python: list[str]) -> None:
    (folder / name).mkdir(parents=True)
    (folder / name / "__init__.py").write_text("")
    manifest = {"name": name, "depends": depends, "installable": True, "external_dependencies": {"python": python}}
    (folder / name / "__manifest__.py").write_text(repr(manifest))


def test_modules_whose_requirements_differ_never_share_a_group(tmp_path: Path) -> None:
    addons = tmp_path / "addons"
    _addon(addons, "plain_a", ["base"], [])
    _addon(addons, "plain_b", ["base"], [])
    _addon(addons, "needs_lxml", ["base"], ["lxml_html_clean"])
    _addon(addons, "needs_lxml_too", ["base"], ["lxml_html_clean"])
    _addon(addons, "via_dependency", ["needs_lxml"], [])  # its dependency's needs are its own
    config = Config(root=tmp_path, addons_path=addons, db_cache=False)
    names = ["plain_a", "plain_b", "needs_lxml", "needs_lxml_too", "via_dependency"]
    keys = cache_groups(config, names)
    assert keys["plain_a"] == keys["plain_b"] != keys["needs_lxml"]
    assert keys["needs_lxml"] == keys["needs_lxml_too"]
    assert keys["via_dependency"] == keys["needs_lxml"]  # the cache is off: the closure does not count
    groups = {job.modules for job in plan_jobs(names, keys, "grouped", 1)}
    assert groups == {("plain_a", "plain_b"), ("needs_lxml", "needs_lxml_too", "via_dependency")}


def test_group_key_is_the_closure_and_the_set_of_requirement_lines() -> None:
    assert group_key("base,web", ["b", "a", "a "]) == group_key("base,web", ["a", "b"]) == "base,web|a|b"
    assert group_key("base,web", []) != group_key("base", [])
    assert group_key("base", ["requests"]) != group_key("base", [])


def test_a_member_the_group_gave_no_verdict_of_its_own_runs_again_alone() -> None:
    job = Job("group-a", ("a", "b", "c", "d", "e"), True)
    rows = {
        "a": ModuleOutcome("a", 0, "PASSED"),
        "b": ModuleOutcome("b", 1, "FAILED"),  # its own tests' verdict: it stands
        "c": ModuleOutcome("c", 3, "ENVIRONMENT ERROR", message="the group's run ended during its tests"),
        "d": ModuleOutcome("d", 2, "USAGE ERROR"),
        # e: no result.json at all
    }
    again = fallback_jobs(job, rows)
    assert again == [Job("c-alone", ("c",), False), Job("d-alone", ("d",), False), Job("e-alone", ("e",), False)]
    assert again[0].argv()[-2:] == ["run", "c"]
    assert fallback_jobs(Job("c", ("c",), False), {}) == []


def test_the_run_alone_is_the_row_of_the_module(tmp_path: Path) -> None:
    folder = tmp_path / "batch"
    for label, module, code, verdict in (
        ("group-a", "a", 0, "PASSED"),
        ("group-a", "c", 3, "ENVIRONMENT ERROR"),
        ("c-alone", "c", 1, "FAILED"),
    ):
        path = folder / label / "p" / module / "result.json"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps({"module": module, "exit_code": code, "verdict": verdict}))
    planned = [Job("group-a", ("a", "c"), True)]
    batch = Batch(Config(root=tmp_path), planned, 1, folder, log=None)  # type: ignore[arg-type]
    batch.started = {"group-a": planned[0], "c-alone": Job("c-alone", ("c",), False)}
    rows = collect(batch, planned)
    assert [(row.module, row.exit_code, row.job) for row in rows] == [("a", 0, "group-a"), ("c", 1, "c-alone")]


def test_jobs_start_longest_first_as_the_last_command_timed_them(tmp_path: Path) -> None:
    planned = [Job("group-a", ("a", "b", "c"), True), Job("group-d", ("d", "e"), True), Job("f", ("f",), False)]
    assert by_expected_seconds(planned, {}) == planned  # no times: the plan's order
    old = tmp_path / "hub-agent-test-batch-1" / "summary.json"
    old.parent.mkdir()
    rows = [("a", 3.0), ("b", 4.0), ("c", 5.0), ("d", 40.0), ("e", 20.0)]  # f untimed: the median, 5
    old.write_text(json.dumps({"modules": [{"module": m, "seconds": s} for m, s in rows]}))
    seconds = last_seconds(tmp_path)
    assert seconds == dict(rows)
    assert [job.label for job in by_expected_seconds(planned, seconds)] == ["group-d", "group-a", "f"]
    assert last_seconds(tmp_path / "none") == {}


def test_a_job_that_exits_other_than_its_results_say_is_reported(tmp_path: Path) -> None:
    folder = tmp_path / "batch"
    for label, module, code in (("group-a", "a", 0), ("group-a", "b", 0), ("c", "c", 5), ("d", "d", 1)):
        path = folder / label / "p" / module / "result.json"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps({"module": module, "exit_code": code, "verdict": "x"}))
    jobs = [Job("group-a", ("a", "b"), True), Job("c", ("c",), False), Job("d", ("d",), False)]
    batch = Batch(Config(root=tmp_path), jobs, 1, folder, log=None)  # type: ignore[arg-type]
    batch.started = {job.label: job for job in jobs}
    # The group's process crashed after writing both results; c had no tests (5 adds up to 0); d failed.
    batch.finished = {"group-a": 1, "c": 5, "d": 1}
    problems = unexplained_exits(batch)
    assert len(problems) == 1 and problems[0].startswith(
        "group-a ended with exit 1 where its modules' results add up to exit 0"
    )
    batch.finished["group-a"] = 0
    assert unexplained_exits(batch) == []
    batch.finished["group-a"] = 1
    batch.received.append(signal.SIGINT)  # after a signal the codes are the signal's
    assert unexplained_exits(batch) == []
