"""The GitHub Actions workflow: the facts CI relies on, read from the YAML (no Docker, no network)."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

yaml = pytest.importorskip("yaml", reason="PyYAML comes with `pip install -e .[test]`")

ROOT = Path(__file__).resolve().parents[2]
WORKFLOW = ROOT / ".github" / "workflows" / "odoo-tests.yml"
TEST_COMMAND = """nox -s "tests(module='$MODULE')\""""
# owner/repo[/path]@<40 hex> : a commit, which no one can move (a tag can be).
PINNED = re.compile(r"^[A-Za-z0-9_.-]+/[A-Za-z0-9_.-]+(/[A-Za-z0-9_./-]+)?@[0-9a-f]{40}$")
# The first major of each action that runs on Node 24.
NODE24_MAJORS = {"actions/checkout": 5, "actions/setup-python": 6, "actions/upload-artifact": 6, "actions/cache": 5}


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
    """Pushes to main and pull requests (not every push to every branch), and by hand."""
    triggers = workflow.get("on", workflow.get(True))  # YAML 1.1 reads a bare `on` as True
    assert set(triggers) == {"push", "pull_request", "workflow_dispatch"}
    assert triggers["push"] == {"branches": ["main"]}
    assert not triggers["pull_request"]  # every pull request, whatever its base


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


def test_tests_step_runs_the_nox_session_with_the_module_from_the_environment(workflow: dict[str, Any]) -> None:
    step = step_running(workflow, "tests", TEST_COMMAND)
    assert step["env"] == {"MODULE": "${{ matrix.module }}"}
    assert "if" not in step, "the test step itself must not be skipped or forced"


@pytest.mark.parametrize(("nox_exit", "job_exit"), [(0, 0), (1, 1), (2, 2), (3, 3), (5, 0), (130, 130)])
def test_tests_step_fails_the_job_for_every_code_but_no_tests(
    workflow: dict[str, Any], tmp_path: Path, nox_exit: int, job_exit: int
) -> None:
    # The step's script, run by bash -e as GitHub runs it, with a `nox` that exits as told.
    step = step_running(workflow, "tests", TEST_COMMAND)
    fake = tmp_path / "nox"
    fake.write_text(f'#!/bin/sh\necho "nox $*" >> "{tmp_path}/calls"\nexit {nox_exit}\n')
    fake.chmod(0o755)
    env = {"PATH": f"{tmp_path}:/usr/bin:/bin", "MODULE": "traction"}
    done = subprocess.run(["bash", "-e", "-c", step["run"]], env=env, timeout=30, check=False)
    assert done.returncode == job_exit
    assert (tmp_path / "calls").read_text() == "nox -s tests(module='traction')\n"


def all_steps(workflow: dict[str, Any]) -> list[tuple[str, dict[str, Any]]]:
    return [(name, step) for name, job in workflow["jobs"].items() for step in job["steps"]]


def test_no_expression_is_pasted_into_a_shell_line(workflow: dict[str, Any]) -> None:
    """`${{ ... }}` in `run:` is text substitution before bash parses it: values go through `env:`."""
    pasted = [
        (job, step.get("name", step["run"][:40])) for job, step in all_steps(workflow) if "${{" in step.get("run", "")
    ]
    assert pasted == []


def test_every_action_is_pinned_by_commit_with_its_release_in_a_comment(workflow: dict[str, Any]) -> None:
    uses = [step["uses"] for _, step in all_steps(workflow) if "uses" in step]
    assert uses, "the workflow uses actions"
    unpinned = [ref for ref in uses if not PINNED.fullmatch(ref)]
    assert unpinned == [], f"pin these by full commit SHA: {unpinned}"
    text = WORKFLOW.read_text(encoding="utf-8")
    lines = [line.strip() for line in text.splitlines() if re.match(r"\s*(- )?uses:", line)]
    assert len(lines) == len(uses)
    uncommented = [line for line in lines if not re.search(r"@[0-9a-f]{40} # v\d", line)]
    assert uncommented == [], f"name the release each SHA was taken from: {uncommented}"


def test_actions_are_at_majors_that_run_on_node_24() -> None:
    for line in WORKFLOW.read_text(encoding="utf-8").splitlines():
        found = re.search(r"uses: ([\w.-]+/[\w.-]+)[^@]*@[0-9a-f]{40} # v(\d+)", line)
        if found and found.group(1) in NODE24_MAJORS:
            assert int(found.group(2)) >= NODE24_MAJORS[found.group(1)], line


def test_the_pin_check_rejects_tags_branches_and_short_shas() -> None:
    for ref in ("actions/checkout@v7", "mikepenz/action-junit-report@main", "actions/cache@2c8a9bd", "docker://alpine"):
        assert not PINNED.fullmatch(ref)
    assert PINNED.fullmatch("actions/cache/restore@2c8a9bd7457de244a408f35966fab2fb45fda9c8")


def test_checkouts_keep_no_credentials(workflow: dict[str, Any]) -> None:
    for job, step in all_steps(workflow):
        if step.get("uses", "").startswith("actions/checkout@"):
            assert step.get("with", {}).get("persist-credentials") is False, job


def test_setup_python_caches_pip_everywhere(workflow: dict[str, Any]) -> None:
    found = [
        (job, step) for job, step in all_steps(workflow) if step.get("uses", "").startswith("actions/setup-python@")
    ]
    assert {job for job, _ in found} == set(workflow["jobs"])
    for job, step in found:
        assert step["with"]["cache"] == "pip", job
        assert step["with"]["cache-dependency-path"] == "pyproject.toml", job


@pytest.mark.parametrize("job", ["tests", "integration"])
def test_docker_jobs_wait_for_lint_and_unit(workflow: dict[str, Any], job: str) -> None:
    needs = workflow["jobs"][job]["needs"]
    assert {"lint", "unit"} <= set(needs if isinstance(needs, list) else [needs])


def test_integration_job_builds_real_odoo_images_from_the_official_18_archive(workflow: dict[str, Any]) -> None:
    job = workflow["jobs"]["integration"]
    source = step_running(workflow, "integration", "github.com/odoo/odoo")
    assert '"refs/heads/$ODOO_BRANCH"' in source["run"] and job["env"]["ODOO_BRANCH"] == "18.0"
    assert "HARNESS_ODOO_SOURCE=" in source["run"] and '"$GITHUB_ENV"' in source["run"]
    build = step_running(workflow, "integration", "nox -s images standin")
    run = step_running(workflow, "integration", "nox -s integration")
    names = [s.get("name") for s in job["steps"]]
    assert names.index(source["name"]) < names.index(build["name"]) < names.index(run["name"])
    restore = step_using(workflow, "integration", "actions/cache/restore")
    save = step_using(workflow, "integration", "actions/cache/save")
    assert "hashFiles('tools/images.py', 'tools/rootfs.py')" in restore["with"]["key"]
    assert "--postgres17" in build["run"]
    assert save["with"]["key"] == "${{ steps.base-cache.outputs.cache-primary-key }}"
    assert save["if"] == "steps.base-cache.outputs.cache-hit != 'true'"


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


def test_lint_and_unit_jobs(workflow: dict[str, Any]) -> None:
    step_running(workflow, "lint", "nox -s lint")
    step_running(workflow, "unit", "nox -s unit")
    # The lint session keeps validating the workflows against GitHub's schema.
    assert '"check-jsonschema", "--builtin-schema", "vendor.github-workflows"' in (ROOT / "noxfile.py").read_text()


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


def test_pull_requests_test_what_they_change_and_pushes_test_everything(workflow: dict[str, Any]) -> None:
    step = step_running(workflow, "modules", "python -m harness modules --json")
    assert 'modules --json --changed "origin/$BASE_REF"' in step["run"]
    assert "github.event_name == 'pull_request' && github.base_ref" in step["env"]["BASE_REF"]
    checkout = workflow["jobs"]["modules"]["steps"][0]
    assert "pull_request" in str(checkout["with"]["fetch-depth"])  # the merge base needs the history
    assert workflow["jobs"]["tests"]["if"] == "needs.modules.outputs.modules != '[]'"
