"""The sweep against the real engine: dead owners' projects go, live runs and other prefixes stay."""

from __future__ import annotations

import dataclasses
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from harness import engine
from harness.cleanup import owners_dir, process_start_time
from harness.compose import Compose
from harness.naming import project_name
from tests.integration.conftest import ADDONS, COMPOSE_FILES, PREFIX, ROOT, config_from, standin_env

pytestmark = pytest.mark.integration


def start_db_only(project: str, port: int) -> Compose:
    """A project with just its db service: the sweep only looks at labels."""
    compose = Compose(project, COMPOSE_FILES, {"ODOO_PORT": str(port), "HARNESS_ADDONS_PATH": str(ADDONS)})
    result = compose.run("up", "-d", "db", timeout=120)
    assert result.ok, result.output
    return compose


def owner_file(lock_dir: Path, project: str, pid: int, pid_start: str | None) -> None:
    path = owners_dir(dataclasses.replace(config_from({}), lock_dir=lock_dir)) / f"{project}.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    record = {
        "project": project,
        "pid": pid,
        "pid_start": pid_start,
        "host": os.uname().nodename,
        "created": 0.0,
    }
    path.write_text(json.dumps(record))


def reap(env: dict[str, str], *args: str) -> str:
    result = subprocess.run(
        [sys.executable, "-m", "harness", "reap", *args],
        cwd=ROOT,
        env={**os.environ, **env},
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    return result.stdout


def test_reap_removes_dead_owners_projects_only(images: object, tmp_path: Path, client: object) -> None:
    lock_dir = tmp_path / "locks"
    env = standin_env(tmp_path, HARNESS_LOCK_DIR=str(lock_dir))
    dead = project_name(PREFIX, "reap_dead")
    live = project_name(PREFIX, "reap_live")
    other = project_name("zzother", "reap_other")
    finished = subprocess.Popen(["true"])  # its pid belongs to no live process afterwards
    finished.wait()
    projects = []
    try:
        projects = [start_db_only(name, 8097 + i) for i, name in enumerate((dead, live, other))]
        owner_file(lock_dir, dead, finished.pid, "1")  # a start time no live process has
        owner_file(lock_dir, live, os.getpid(), process_start_time(os.getpid()))

        listing = reap(env, "--dry-run")
        assert f"would remove: {dead}" in listing
        assert f"kept: {live}" in listing
        assert other not in listing
        assert not engine.project_resources(client, dead).empty, "--dry-run must remove nothing"

        reap(env)
        assert engine.project_resources(client, dead).empty
        assert not (owners_dir(dataclasses.replace(config_from({}), lock_dir=lock_dir)) / f"{dead}.json").exists()
        assert not engine.project_resources(client, live).empty
        assert not engine.project_resources(client, other).empty
    finally:
        for compose in projects:
            compose.down(3, 120)
    for name in (dead, live, other):
        assert engine.project_resources(client, name).empty
