"""The GitHub Actions workflow: the facts CI relies on, read from the YAML (no Docker, no network)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

yaml = pytest.importorskip("yaml", reason="PyYAML comes with `pip install -e .[test]`")

ROOT = Path(__file__).resolve().parents[2]
WORKFLOW = ROOT / ".github" / "workflows" / "odoo-tests.yml"
TEST_COMMAND = """nox -s "tests(module='${{ matrix.module }}')\""""


@pytest.fixture(scope="module")
def workflow() -> dict[str, Any]:
    return yaml.safe_load(WORKFLOW.read_text(encoding="utf-8"))


def steps(workflow: dict[str, Any], job: str) -> list[dict[str, Any]]:
    return workflow["jobs"][job]["steps"]


def step_using(workflow: dict[str, Any], job: str, action: str) -> dict[str, Any]:
    found = [s for s in steps(workflow, job) if str(s.get("uses", "")).startswith(action + "@")]
    assert len(found) == 1, f"job {job} should use {action} exactly once"
    return found[0]


def step_running(workflow: dict[str, Any], job: str, text: str) -> dict[str, Any]:
    found = [s for s in steps(workflow, job) if text in s.get("run", "")]
    assert len(found) == 1, f"job {job} should run {text!r} in exactly one step"
    return found[0]


def clean_env() -> dict[str, str]:
    """The environment without HARNESS_* overrides, so the repository's own configuration applies."""
    return {k: v for k, v in os.environ.items() if not k.startswith("HARNESS_")}


def test_triggers(workflow: dict[str, Any]) -> None:
    triggers = workflow.get("on", workflow.get(True))  # YAML 1.1 reads a bare `on` as True
    assert {"push", "pull_request", "workflow_dispatch"} <= set(triggers)


def test_every_job_has_a_timeout_and_runs_are_grouped(workflow: dict[str, Any]) -> None:
    assert "group" in workflow["concurrency"]
    for name, job in workflow["jobs"].items():
        assert isinstance(job.get("timeout-minutes"), int), f"job {name} has no timeout-minutes"


def test_modules_job_publishes_the_harness_module_list(workflow: dict[str, Any]) -> None:
    job = workflow["jobs"]["modules"]
    step = step_running(workflow, "modules", "python -m harness modules --json")
    assert step.get("id"), "the module list step needs an id for the job output"
    assert '"$GITHUB_OUTPUT"' in step["run"]
    assert job["outputs"]["modules"] == f"${{{{ steps.{step['id']}.outputs.modules }}}}"


def test_matrix_is_the_module_list_and_not_fail_fast(workflow: dict[str, Any]) -> None:
    job = workflow["jobs"]["tests"]
    needs = job["needs"] if isinstance(job["needs"], list) else [job["needs"]]
    assert "modules" in needs
    assert job["strategy"]["fail-fast"] is False
    assert job["strategy"]["matrix"]["module"] == "${{ fromJSON(needs.modules.outputs.modules) }}"


def test_tests_step_runs_the_nox_session(workflow: dict[str, Any]) -> None:
    step = step_running(workflow, "tests", TEST_COMMAND)
    assert step["run"].strip() == TEST_COMMAND
    assert "if" not in step, "the test step itself must not be skipped or forced"


def test_artefacts_are_uploaded_always(workflow: dict[str, Any]) -> None:
    step = step_using(workflow, "tests", "actions/upload-artifact")
    assert step.get("if") == "always()"
    paths = step["with"]["path"].split()
    assert "proof_of_execution_tests.log" in paths
    assert "artefacts/**" in paths
    assert "${{ matrix.module }}" in step["with"]["name"]


def test_junit_is_published_always(workflow: dict[str, Any]) -> None:
    step = step_using(workflow, "tests", "mikepenz/action-junit-report")
    assert step.get("if") == "always()"
    assert step["with"]["report_paths"] == "artefacts/*/junit.xml"
    assert workflow["jobs"]["tests"]["permissions"]["checks"] == "write"


def test_cleanup_is_verified_after_everything(workflow: dict[str, Any]) -> None:
    tests_steps = steps(workflow, "tests")
    step = step_running(workflow, "tests", "docker ps -a --filter")
    assert step is tests_steps[-1]
    assert step.get("if") == "always()"
    assert "-agent-test" in step["run"] and "exit 1" in step["run"]


def test_harness_job_lints_and_unit_tests(workflow: dict[str, Any]) -> None:
    step_running(workflow, "harness", "nox -s lint unit")


def python_stdout(*args: str) -> str:
    """Run this Python with `args` in the repository, as CI would, and return its stdout."""
    return subprocess.run(
        [sys.executable, *args], cwd=ROOT, env=clean_env(), capture_output=True, text=True, timeout=120, check=True
    ).stdout


def test_harness_lists_traction_as_json() -> None:
    out = python_stdout("-m", "harness", "modules", "--json")
    modules = json.loads(out)
    assert isinstance(modules, list)
    assert "traction" in modules


def test_nox_knows_the_session_the_workflow_runs() -> None:
    """`nox -s "tests(module='traction')"` names a session nox actually defines."""
    pytest.importorskip("nox")
    out = python_stdout("-m", "nox", "--list", "--noxfile", str(ROOT / "noxfile.py"))
    assert "tests(module='traction')" in out
