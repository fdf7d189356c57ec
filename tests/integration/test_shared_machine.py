"""A second local user plants links and forged records in every folder a root run uses: the run refuses.

The second user is `nobody` (uid 65534, present on every Debian/Ubuntu host): the test plants
with its rights (subprocess `user=`), then runs the harness as root, as CI and `sudo nox` do.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from harness import engine, paths
from harness.cleanup import owners_dir, process_start_time
from harness.naming import project_name
from tests.integration.conftest import PREFIX, cli_run, config_from, record, standin_env
from tests.integration.test_reap import start_db_only

pytestmark = [
    pytest.mark.integration,
    pytest.mark.skipif(os.geteuid() != 0, reason="the attack is on a root run; planting as nobody needs root"),
]

NOBODY = 65534


def as_nobody(*argv: str | Path) -> subprocess.CompletedProcess[str]:
    """Run argv with user nobody's rights (no shell)."""
    return subprocess.run([str(a) for a in argv], user=NOBODY, capture_output=True, text=True, timeout=30)


@pytest.fixture
def base() -> Iterator[Path]:
    """A folder laid out as /tmp (1777): nobody can create in it (pytest's tmp_path is root's 0700)."""
    folder = Path(tempfile.mkdtemp(prefix="h18-shared-"))
    folder.chmod(0o1777)
    yield folder
    shutil.rmtree(folder, ignore_errors=True)


def test_symlinked_lock_files_are_refused_and_never_written_through(images, tmp_path, base, client) -> None:
    lock_dir = paths.shared_dir(base / "locks")  # root's, 1777: as root's first run made it
    victim = base / "victim"
    victim.write_text("precious\n")
    env = standin_env(tmp_path, HARNESS_LOCK_DIR=str(lock_dir))
    config = config_from(env)
    for port in config.ports:  # every port of the range
        planted = as_nobody("ln", "-s", victim, lock_dir / f"port-{port}.lock")
        assert planted.returncode == 0, planted.stderr
    started = time.monotonic()
    run = cli_run("fixture_pass", env)
    code = run.finish(timeout=120)
    record("symlinked lock file planted by another user", code, "none (nothing started)", time.monotonic() - started)
    assert code == 3, run.output
    assert "refusing" in run.output and "it is a symbolic link" in run.output
    assert victim.read_text() == "precious\n"
    assert "[harness] phase: up" not in run.output


def test_a_state_folder_planted_by_another_user_is_refused(images, tmp_path, base, client) -> None:
    lock_dir = base / "locks"
    state = paths.state_dir(lock_dir)  # <lock_dir>-0: nobody makes it first, with forged records inside
    evil = base / "evil"
    evil.mkdir()
    forged = base / "forged.json"
    forged.write_text(
        json.dumps(
            {
                "project": project_name(PREFIX, "forged"),
                "pid": 1,
                "pid_start": "1.00",
                "host": os.uname().nodename,
                "created": 0.0,
                "files": [str(evil / "evil.yml")],
                "env": {"PATH": str(evil), "LD_PRELOAD": str(evil / "evil.so")},
            }
        )
    )
    forged.chmod(0o644)
    assert as_nobody("mkdir", "-p", state / "owners", state / "manifests").returncode == 0
    assert as_nobody("cp", forged, state / "owners" / f"{project_name(PREFIX, 'forged')}.json").returncode == 0
    assert as_nobody("ln", "-s", base / "victim", state / "manifests" / "sha256_x.json").returncode == 0
    started = time.monotonic()
    run = cli_run("fixture_pass", standin_env(tmp_path, HARNESS_LOCK_DIR=str(lock_dir)))
    code = run.finish(timeout=120)
    record("state folder planted by another user", code, "none (nothing started)", time.monotonic() - started)
    assert code == 3, run.output
    assert f"refusing {state}: it belongs to nobody" in run.output
    assert "[harness] phase: up" not in run.output
    assert list(evil.iterdir()) == []


def test_a_forged_record_with_path_and_ld_preload_runs_nothing_of_its_writer(images, tmp_path, base, client) -> None:
    """A record in the user's own folder (an older harness's, or one copied there) naming PATH and
    LD_PRELOAD: the sweep removes the dead run's project with its own docker and environment."""
    lock_dir = base / "locks"
    env = standin_env(tmp_path, HARNESS_LOCK_DIR=str(lock_dir))
    config = config_from(env)
    evil = base / "evil"
    evil.mkdir(mode=0o755)
    marker = base / "evil-ran"
    fake_docker = evil / "docker"
    fake_docker.write_text(f"#!/bin/sh\ntouch {marker}\n")
    fake_docker.chmod(0o755)
    project = project_name(PREFIX, "forged")
    compose = start_db_only(project, config.port_range[0])
    try:
        folder = paths.private_state_dir(owners_dir(config), config)
        finished = subprocess.Popen(["true"])
        finished.wait()
        (folder / f"{project}.json").write_text(
            json.dumps(
                {
                    "project": project,
                    "pid": finished.pid,
                    "pid_start": process_start_time(os.getpid()),
                    "host": os.uname().nodename,
                    "created": 0.0,
                    "files": [str(evil / "evil.yml")],
                    "env": {"PATH": str(evil), "LD_PRELOAD": str(evil / "evil.so")},
                }
            )
        )
        started = time.monotonic()
        result = subprocess.run(
            [sys.executable, "-m", "harness", "reap"],
            cwd=config.root,
            env={**os.environ, **env},
            capture_output=True,
            text=True,
            timeout=180,
        )
        seconds = time.monotonic() - started
        left = engine.project_resources(client, project)
        shown = left.describe() if not left.empty else "none"
        record("forged owner record (PATH, LD_PRELOAD)", result.returncode, shown, seconds)
        assert result.returncode == 0, result.stdout + result.stderr
        assert f"reap: removed: {project}" in result.stdout
        assert left.empty
        assert not marker.exists(), "the sweep ran the record's docker"
        assert "evil.so" not in result.stdout + result.stderr  # the loader never saw LD_PRELOAD
    finally:
        compose.down(3, 120)
