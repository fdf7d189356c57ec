"""The guarded run through `nox` and the CLI, against the real engine and the stand-in images."""

from __future__ import annotations

import json
import re
import shutil
import signal
import time
import xml.etree.ElementTree as ET
from datetime import datetime
from pathlib import Path

import pytest

from harness import engine
from tests.integration.conftest import (
    ADDONS,
    COMPOSE_FILES,
    FAULTS_OVERRIDE,
    PREFIX,
    cli_run,
    config_from,
    nox_run,
    project_of,
    standin_env,
    wait_until_gone,
)

pytestmark = pytest.mark.integration


def result_json(env: dict[str, str], project: str) -> dict:
    return json.loads((Path(env["HARNESS_ARTEFACTS_DIR"]) / project / "result.json").read_text())


def test_passing_module_exits_0_through_nox(env: dict[str, str], client: object) -> None:
    run = nox_run("fixture_pass", env)
    code = run.finish()
    assert code == 0, run.output
    project = project_of(run)
    assert re.fullmatch(rf"{PREFIX}-agent-test-fixture_pass-\d{{10}}-[0-9a-f]{{5,}}", project)
    log = Path(env["HARNESS_LOG_FILE"]).read_text()
    assert "odoo.tests.result: 0 failed, 0 error(s) of 3 tests" in log
    assert "[harness] tests          3 tests, 0 failures, 0 errors, 0 skipped" in log  # the final block
    assert (Path(env["HARNESS_ARTEFACTS_DIR"]) / project / "proof_of_execution_tests.log").read_text() == log
    assert engine.project_resources(client, project).empty
    assert result_json(env, project)["cleanup"]["clean"] is True
    # The db password must never reach the proof artefacts.
    for path in (Path(env["HARNESS_ARTEFACTS_DIR"]) / project).rglob("*"):
        if path.is_file() and path.suffix in {".log", ".xml", ".txt", ".json"}:
            assert "--db_password odoo" not in path.read_text(errors="replace"), path


def test_failing_module_exits_1_with_fail_line_in_log_and_junit(env: dict[str, str]) -> None:
    run = nox_run("fixture_fail", env)
    assert run.finish() == 1, run.output
    log = Path(env["HARNESS_LOG_FILE"]).read_text()
    assert "FAIL: " in log and "AssertionError: True != False" in log
    project = project_of(run)
    junit = ET.parse(Path(env["HARNESS_ARTEFACTS_DIR"]) / project / "junit.xml").getroot()
    failures = junit.findall(".//failure")
    assert failures and "True != False" in (failures[0].text or "")


def test_missing_module_exits_2_before_anything_starts(env: dict[str, str], client: object) -> None:
    since = int(time.time()) - 1
    run = nox_run("no_such_module", env)
    assert run.finish() == 2, run.output
    searched = ", ".join(map(str, config_from(env).addons_path))  # addons_path is a list of folders
    assert "not found in addons path" in run.output and searched in run.output
    events = list(
        client.events(
            since=since, until=int(time.time()) + 1, decode=True, filters={"type": "container", "event": "create"}
        )
    )
    assert not [e for e in events if f"{PREFIX}-agent-test-no_such_module" in json.dumps(e)]


def test_exit_0_with_0_tests_is_reported_as_failure(env: dict[str, str], tmp_path: Path) -> None:
    # A tests package that runs nothing: its tests were meant to run (exit 1). Without any tests
    # package the same log is NO TESTS (exit 5, issue 17).
    addons = tmp_path / "empty_tests_addons"
    shutil.copytree(ADDONS / "fixture_notests", addons / "fixture_notests")
    (addons / "fixture_notests" / "tests").mkdir()
    (addons / "fixture_notests" / "tests" / "__init__.py").write_text("")
    run = cli_run("fixture_notests", {**env, "HARNESS_ADDONS_PATH": str(addons)})
    assert run.finish() == 1, run.output
    assert "0 tests" in run.output
    assert "rule failed" in run.output
    without = cli_run("fixture_notests", env)
    assert without.finish() == 5, without.output
    assert "NO TESTS  fixture_notests  (exit 5)" in without.output


def test_readiness_ends_within_1s_of_health_answering(images: object, tmp_path: Path) -> None:
    # The compose healthcheck's interval is 10 s; polling /web/health must not wait for it.
    env = standin_env(tmp_path, (*COMPOSE_FILES, FAULTS_OVERRIDE), STANDIN_BOOT_DELAY="4")
    run = cli_run("fixture_pass", env)
    assert run.finish() == 0, run.output
    project = project_of(run)
    result = result_json(env, project)
    odoo_log = (Path(env["HARNESS_ARTEFACTS_DIR"]) / project / "services" / "odoo.log").read_text()
    # `docker compose logs --timestamps`: "odoo-1  | 2026-11-26T10:00:00.123456789Z <line>".
    serving = next(line for line in odoo_log.splitlines() if "HTTP service" in line)
    stamp = re.search(r"(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d)(\.\d+)?Z", serving)
    assert stamp, serving
    served_at = datetime.fromisoformat(stamp.group(1) + (stamp.group(2) or "")[:7] + "+00:00").timestamp()
    tests_started = next(phase["started_at"] for phase in result["phases"] if phase["name"] == "tests")
    ready_at = datetime.fromisoformat(tests_started.replace("Z", "+00:00")).timestamp()
    assert 0 <= ready_at - served_at < 1.0, (ready_at - served_at, serving)


@pytest.mark.parametrize(
    ("sig", "phase", "module", "extra"),
    [
        (signal.SIGINT, "readiness", "fixture_pass", {"STANDIN_BOOT_DELAY": "30"}),
        (signal.SIGTERM, "readiness", "fixture_pass", {"STANDIN_BOOT_DELAY": "30"}),
        (signal.SIGINT, "tests", "fixture_slow", {}),
        (signal.SIGTERM, "tests", "fixture_slow", {}),
    ],
    ids=["SIGINT-readiness", "SIGTERM-readiness", "SIGINT-tests", "SIGTERM-tests"],
)
def test_signal_to_nox_process_group(
    images: object, tmp_path: Path, client: object, sig: int, phase: str, module: str, extra: dict[str, str]
) -> None:
    env = standin_env(tmp_path, (*COMPOSE_FILES, FAULTS_OVERRIDE), **extra)
    run = nox_run(module, env)
    run.wait_for(f"[harness] phase: {phase}")
    if phase == "tests":
        run.wait_for(": Starting Test")  # the test process really runs inside the container
    run.signal_group(sig)
    code = run.finish(timeout=120)
    assert code == 128 + sig, run.output
    project = project_of(run)
    assert engine.project_resources(client, project).empty
    ending = Path(env["HARNESS_LOG_FILE"]).read_text().splitlines()[-15:]  # the final block
    said = f"[harness] reason         interrupted by {signal.Signals(sig).name} during phase {phase}"
    assert any(line.startswith(said) for line in ending), ending


def test_two_concurrent_runs_get_different_names_and_ports(images: object, tmp_path: Path, client: object) -> None:
    envs = [standin_env(tmp_path / str(i)) for i in range(2)]
    runs = [cli_run("fixture_pass", e) for e in envs]
    codes = [r.finish() for r in runs]
    assert codes == [0, 0], "\n\n".join(r.output for r in runs)
    projects = [project_of(r) for r in runs]
    ports = [result_json(e, p)["port"] for e, p in zip(envs, projects, strict=False)]
    assert projects[0] != projects[1]
    assert ports[0] != ports[1]
    for project in projects:
        assert wait_until_gone(client, project, 0)[0].empty


def test_tests_outliving_their_timeout_fail(images: object, tmp_path: Path, client: object) -> None:
    env = standin_env(tmp_path, HARNESS_TEST_TIMEOUT="5")
    run = cli_run("fixture_slow", env)
    assert run.finish() == 1, run.output
    assert "outlived its timeout of 5 s" in run.output
    assert engine.project_resources(client, project_of(run)).empty
