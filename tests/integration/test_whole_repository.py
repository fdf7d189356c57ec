"""A whole repository in one command: Ctrl+C during a parallel or a grouped run stops all and cleans all.

`python -m harness run a b c -j 2 --mode isolated|grouped` over copies of fixture_slow (a 60 s
test) on the stand-in; SIGINT to the command's process group (as a terminal's Ctrl+C) once the
slow test runs in two environments at once. Then: exit 130, the summary says INTERRUPTED, and
nothing of any project of the run's own prefix is left on the engine (containers, networks,
volumes).
"""

from __future__ import annotations

import secrets
import shutil
import signal
import sys
import time
from pathlib import Path

import pytest

from harness import engine
from harness.naming import project_prefix
from tests.integration.conftest import ADDONS, Child, projects_of, standin_env, wait_until_gone

pytestmark = pytest.mark.integration

# Long enough for the slowest start of two environments on a busy 2-core machine.
START_TIMEOUT = 600.0
FINISH_TIMEOUT = 300.0
# After the command exited nothing may remain; a little grace for the engine's own bookkeeping.
GONE_TIMEOUT = 10.0
SLOW_TEST = ": Starting TestItem.test_slow"


def slow_addons(target: Path, count: int) -> list[str]:
    """`count` copies of fixture_slow under names of their own (fixture_slow_1, ...), as an addons folder."""
    names = [f"fixture_slow_{index}" for index in range(1, count + 1)]
    for name in names:
        shutil.copytree(ADDONS / "fixture_slow", target / name)
    target.chmod(0o755)
    return names


def wait_for_tests_in(run: Child, modules: set[str], timeout: float) -> None:
    """Until the slow test has started for every one of `modules` (lines carry the module's name)."""
    deadline = time.monotonic() + timeout
    seen: set[str] = set()
    while seen != modules:
        line = run.wait_for(SLOW_TEST, timeout=max(1.0, deadline - time.monotonic()))
        seen |= {module for module in modules if f"addons.{module}." in line}


def interrupt_and_check(run: Child, client: object, prefix: str, environments: int) -> str:
    """SIGINT to the group, then exit 130, INTERRUPTED in the summary, nothing of `prefix` on the engine."""
    run.signal_group(signal.SIGINT)
    code = run.finish(timeout=FINISH_TIMEOUT)
    projects = projects_of(run)
    assert len(projects) == environments, run.output
    for project in projects:
        left, _ = wait_until_gone(client, project, GONE_TIMEOUT)
        assert left.empty, f"{project}: {left.describe()}\n{run.output}"
    assert [p.name for p in engine.list_projects(client, prefix)] == [], run.output
    assert code == 130, run.output
    summary = run.output.split("[harness] module ", 1)[-1]
    assert "INTERRUPTED" in summary and "exit 130" in summary, run.output
    return run.output


def batch_run(modules: list[str], env: dict[str, str], *options: str) -> Child:
    """`python -m harness run A B ... OPTIONS` as a user types it."""
    return Child([sys.executable, "-m", "harness", "run", *modules, *options], env)


@pytest.fixture
def own_prefix(images: object, tmp_path: Path) -> tuple[str, dict[str, str]]:
    """A prefix of this test's own (no other run can own its projects) and its stand-in environment."""
    prefix = f"hwr{secrets.token_hex(3)}"
    addons = tmp_path / "addons"
    addons.mkdir()
    env = standin_env(tmp_path, HARNESS_PREFIX=prefix, HARNESS_ADDONS_PATH=str(addons), HARNESS_READY_TIMEOUT="300")
    return prefix, env


def test_ctrl_c_during_a_parallel_isolated_run(own_prefix: tuple[str, dict[str, str]], client: object) -> None:
    prefix, env = own_prefix
    modules = slow_addons(Path(env["HARNESS_ADDONS_PATH"]), 3)
    run = batch_run(modules, env, "-j", "2", "--mode", "isolated")
    wait_for_tests_in(run, set(modules[:2]), START_TIMEOUT)  # two at once; the third waits its turn
    output = interrupt_and_check(run, client, project_prefix(prefix), environments=2)
    assert "1 module(s) not started" in output
    assert "NOT RUN" in output.split("[harness] module ", 1)[-1]


def test_ctrl_c_during_a_grouped_run(own_prefix: tuple[str, dict[str, str]], client: object) -> None:
    prefix, env = own_prefix
    modules = slow_addons(Path(env["HARNESS_ADDONS_PATH"]), 4)
    # Four modules with the same dependencies, two environments: two groups of two, side by side.
    run = batch_run(modules, env, "-j", "2", "--mode", "grouped")
    run.wait_for("one environment for fixture_slow_", timeout=START_TIMEOUT)
    wait_for_tests_in(run, {modules[0], modules[1]}, START_TIMEOUT)  # the first of each group
    output = interrupt_and_check(run, client, project_prefix(prefix), environments=2)
    assert output.count("start group-") == 2, output
