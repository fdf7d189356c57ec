"""A second local user plants links and forged records in every folder a root run uses: the run refuses.

The second user is `nobody` (uid 65534, present on every Debian/Ubuntu host): the test plants
with its rights (subprocess `user=`), then runs the harness as root, as CI and `sudo nox` do.
"""

from __future__ import annotations

import importlib.util
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
from tests.integration.conftest import (
    PREFIX,
    ROOT,
    cli_run,
    config_from,
    record,
    seen,
    slow_run_in_its_tests,
    standin_env,
)
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
    record(
        "symlinked lock file planted by another user",
        code,
        "none (nothing started)",
        time.monotonic() - started,
        seen(run.output),
    )
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
    record(
        "state folder planted by another user",
        code,
        "none (nothing started)",
        time.monotonic() - started,
        seen(run.output),
    )
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
        said = next((line for line in result.stdout.splitlines() if project in line), "")
        record(
            "forged owner record (PATH, LD_PRELOAD)",
            result.returncode,
            shown,
            seconds,
            said + ("; the record's docker RAN" if marker.exists() else "; the record's docker never ran"),
        )
        assert result.returncode == 0, result.stdout + result.stderr
        assert f"reap: removed: {project}" in result.stdout
        assert left.empty
        assert not marker.exists(), "the sweep ran the record's docker"
        assert "evil.so" not in result.stdout + result.stderr  # the loader never saw LD_PRELOAD
    finally:
        compose.down(3, 120)


PEER = "hubpeer"  # a second local user in the docker group, made for this test
# What the peer runs, as the peer, in a mount namespace whose /proc is hidepid=2: it writes an owner
# record naming the root run's harness process (its own private folder), checks it cannot see that
# process, then runs the harness's reap.
PEER_SCRIPT = """
import json, os, socket, subprocess, sys
from pathlib import Path
from harness import cleanup, paths
from harness.config import load_config
project, pid, start = sys.argv[1], int(sys.argv[2]), sys.argv[3]
config = load_config(Path(os.environ["HARNESS_ROOT"]), env=dict(os.environ))
folder = paths.private_state_dir(cleanup.owners_dir(config), config)
record = {"project": project, "pid": pid, "pid_start": start, "host": socket.gethostname(), "created": 0.0}
(folder / f"{project}.json").write_text(json.dumps(record))
print("root's harness process visible in /proc:", os.path.exists(f"/proc/{pid}"))
reap = subprocess.run([sys.executable, "-m", "harness", "reap"], capture_output=True, text=True, timeout=120)
print(reap.stdout + reap.stderr, end="")
sys.exit(reap.returncode)
"""


def _peer_user() -> int:
    if subprocess.run(["id", "-u", PEER], capture_output=True, check=False, timeout=30).returncode != 0:
        subprocess.run(
            ["useradd", "--system", "--no-create-home", "--shell", "/usr/sbin/nologin", "--groups", "docker", PEER],
            check=True,
            timeout=30,
        )
    return int(subprocess.run(["id", "-u", PEER], capture_output=True, text=True, check=True, timeout=30).stdout)


def _portable_harness(into: Path) -> Path:
    """The harness and what it imports, copied where the peer can read them (root's folders may be 0700)."""
    site = into / "site"
    for name in ("harness", "docker", "psutil", "requests", "urllib3", "certifi", "idna", "charset_normalizer"):
        spec = importlib.util.find_spec(name)
        assert spec is not None and spec.submodule_search_locations, name
        shutil.copytree(spec.submodule_search_locations[0], site / name, ignore=shutil.ignore_patterns("__pycache__"))
    root = into / "root"
    root.mkdir()
    for name in ("pyproject.toml", "docker-compose.agent.yml"):
        shutil.copy(ROOT / name, root / name)
    for path in into.rglob("*"):
        path.chmod(0o755 if path.is_dir() else 0o644)
    into.chmod(0o755)
    return site


@pytest.mark.skipif(not Path("/usr/bin/python3").exists(), reason="the peer runs the system's python3")
def test_a_live_run_of_another_user_hidden_by_hidepid_is_kept(images, tmp_path, base, client) -> None:
    """Root's run is live; a second user whose /proc is hidepid=2 (it cannot see root's processes)
    sweeps, with a record naming that process: "cannot be seen" is unknown, never dead: kept."""
    peer = _peer_user()
    share = base / "peer"
    share.mkdir()
    site = _portable_harness(share)
    home = base / "peer-home"
    home.mkdir()
    os.chown(home, peer, peer)
    _, run, project = slow_run_in_its_tests(tmp_path)
    harness_pid = run.process.pid
    peer_env = {
        "PATH": "/usr/bin:/bin",
        "HOME": str(home),
        "PYTHONPATH": str(site),
        "HARNESS_ROOT": str(share / "root"),
        "HARNESS_PREFIX": PREFIX,
        "HARNESS_LOCK_DIR": str(base / "locks"),
    }
    mount_hidden = 'mount -t proc -o hidepid=2 proc /proc && exec setpriv --reuid=$0 --regid=$0 --init-groups -- "$@"'
    started = time.monotonic()
    peer_run = subprocess.run(
        ["unshare", "--mount", "--propagation", "private", "--", "sh", "-c", mount_hidden, PEER]
        + ["/usr/bin/python3", "-c", PEER_SCRIPT, project, str(harness_pid), process_start_time(harness_pid) or ""],
        env=peer_env,
        capture_output=True,
        text=True,
        timeout=180,
    )
    seconds = time.monotonic() - started
    alive = engine.project_resources(client, project)
    code = run.finish(timeout=240)
    kept = next((line for line in peer_run.stdout.splitlines() if project in line), "")
    record(
        "live run of another user hidden by hidepid=2 (the peer sweeps)",
        f"peer reap {peer_run.returncode}, run {code}",
        "none" if engine.project_resources(client, project).empty else "LEFT",
        seconds,
        kept + "; the run: " + seen(run.output, 120),
    )
    assert "visible in /proc: False" in peer_run.stdout, peer_run.stdout + peer_run.stderr
    assert peer_run.returncode == 0, peer_run.stdout + peer_run.stderr
    assert f"reap: kept: {project} (owner pid {harness_pid} cannot be seen" in peer_run.stdout, peer_run.stdout
    assert not alive.empty, "the peer's sweep removed a live run"
    assert code == 0, run.output
