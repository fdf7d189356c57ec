"""Fault injection: signals in every phase, broken environments, concurrency. Nothing may leak.

Every case records a row (case, exit code, leftovers, seconds until the
project was gone) for the matrix printed at the end of the session.
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import psutil
import pytest

from harness import engine
from tests.integration.conftest import (
    COMPOSE_FILES,
    FAULTS_OVERRIDE,
    ROOT,
    SIGNALS,
    cli_run,
    fault_pause,
    nox_run,
    project_of,
    record,
    seen,
    slow_run_in_its_tests,
    standin_env,
    wait_until_gone,
    write_test_module,
)

pytestmark = pytest.mark.integration

# Per phase: the module, extra environment, and the line that proves the run is in that phase.
PHASES = {
    "before-up": ("fixture_pass", fault_pause("port", 30), "fault injection: pausing"),
    "up": ("fixture_pass", {}, "[harness] phase: up"),
    "readiness": ("fixture_pass", {"STANDIN_BOOT_DELAY": "30"}, "[harness] phase: readiness"),
    "tests": ("fixture_slow", {}, ": Starting Test"),
    "teardown": (
        "fixture_pass",
        fault_pause("teardown", 4),
        "fault injection: pausing 4 s in phase teardown",
    ),
}
# How long the watchdog may take after SIGKILL (dockerd stops containers within the 3 s stop timeout).
WATCHDOG_DEADLINE = 60.0


@pytest.mark.parametrize("phase", list(PHASES))
@pytest.mark.parametrize("signame", list(SIGNALS))
def test_signal_in_every_phase(images: object, tmp_path: Path, client: object, signame: str, phase: str) -> None:
    module, extra, marker = PHASES[phase]
    env = standin_env(tmp_path, (*COMPOSE_FILES, FAULTS_OVERRIDE), **extra)
    run = nox_run(module, env)
    run.wait_for(marker)
    if phase == "up":
        time.sleep(1.0)  # compose is creating the network, volumes and containers by now
    signal_row(f"{signame} during {phase}", run, env, client, signame)
    log = Path(env["HARNESS_LOG_FILE"]).read_text()
    # The proof log is intact up to the interruption: the phase we interrupted is in it.
    assert marker in log
    if signame != "SIGKILL":
        shown = "port" if phase == "before-up" else phase
        ending = log.splitlines()[-15:]  # the final block
        said = f"[harness] reason         interrupted by {signame} during phase {shown}"
        assert any(line.startswith(said) for line in ending), ending


def signal_row(case: str, run: object, env: dict[str, str], client: object, signame: str, timeout: float = 180) -> None:
    """Send `signame` to the run's process group, as a terminal does; record the row once the run has
    exited and nothing carries its project's label (SIGKILL: once the watchdog removed it).

    Asserts nothing is left and the exit code is the signal's (-9: the killed process itself).
    """
    project = project_of(run)
    sent = time.monotonic()
    run.signal_group(SIGNALS[signame])
    code = run.finish(timeout=timeout)
    left, _ = wait_until_gone(client, project, WATCHDOG_DEADLINE if signame == "SIGKILL" else 0)
    saw = watchdog_seen(env, project) if signame == "SIGKILL" else seen(run.output)
    record(case, code, "none" if left.empty else left.describe(), time.monotonic() - sent, saw)
    assert left.empty, f"{left.describe()}\n{run.output}"
    assert code == (-9 if signame == "SIGKILL" else 128 + SIGNALS[signame]), run.output


def watchdog_seen(env: dict[str, str], project: str) -> str:
    """A killed run prints no final block: what the watchdog's log (artefacts/<project>/watchdog.log) says."""
    log = Path(env["HARNESS_ARTEFACTS_DIR"]) / project / "watchdog.log"
    deadline = time.monotonic() + 10  # it writes once its teardown is done, just after the label is gone
    lines: list[str] = []
    while time.monotonic() < deadline:
        lines = [line for line in (log.read_text(errors="replace") if log.exists() else "").splitlines() if line]
        if any("teardown of" in line for line in lines):
            break
        time.sleep(0.2)
    if not log.exists():
        return "no final block (killed); no watchdog.log: killed before the watchdog was armed (nothing existed yet)"
    said = next((line for line in reversed(lines) if "teardown of" in line), "no teardown line in watchdog.log")
    return "no final block (killed); watchdog.log: " + " ".join(said.split())


def _finish_case(case: str, run: object, client: object, expected: int) -> str:
    code = run.finish(timeout=240)
    project = project_of(run)
    left, _ = wait_until_gone(client, project, 0)
    record(case, code, "none" if left.empty else left.describe(), run_seconds(run), seen(run.output))
    assert left.empty, left.describe()
    assert code == expected, run.output
    return project


def run_seconds(run: object) -> float:
    """Cleanup seconds as the run itself measured them."""
    for line in reversed(run.lines):
        if "[harness] cleanup of " in line and " took " in line:
            return float(line.split(" took ", 1)[1].split(" s", 1)[0])
    return 0.0


def test_compose_up_failing(images: object, tmp_path: Path, client: object) -> None:
    broken = tmp_path / "missing-image.override.yml"
    broken.write_text("services:\n  odoo:\n    image: hub-harness/does-not-exist:none\n    pull_policy: never\n")
    env = standin_env(tmp_path, (*COMPOSE_FILES, broken))
    run = cli_run("fixture_pass", env)
    _finish_case("compose up fails (missing image)", run, client, 3)
    assert "docker compose up failed" in run.output


def test_odoo_crashing_at_boot_fails_fast(images: object, tmp_path: Path, client: object) -> None:
    env = standin_env(tmp_path, (*COMPOSE_FILES, FAULTS_OVERRIDE), STANDIN_CRASH_AT_BOOT="1")
    started = time.monotonic()
    run = cli_run("fixture_pass", env)
    project = _finish_case("odoo crashes at boot", run, client, 3)
    assert time.monotonic() - started < 60, "readiness must fail fast, not wait out its timeout"
    assert "exited" in run.output
    assert (Path(env["HARNESS_ARTEFACTS_DIR"]) / project / "services" / "odoo.log").is_file()


def test_port_taken_between_probe_and_up(images: object, tmp_path: Path, client: object) -> None:
    env = standin_env(tmp_path, **fault_pause("up", 3))
    run = cli_run("fixture_pass", env)
    line = run.wait_for("[harness] phase: up (attempt 1, port ")
    port = int(line.rsplit("port ", 1)[1].rstrip(")"))
    with socket.socket() as thief:
        # As Docker's proxy binds: earlier tests' connections may linger in TIME_WAIT on this port.
        thief.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        thief.bind(("127.0.0.1", port))
        thief.listen()
        _finish_case("port taken between probe and up", run, client, 0)
    assert "retrying" in run.output
    assert "(attempt 2, port " in run.output


def test_log_file_not_writable(images: object, tmp_path: Path, client: object) -> None:
    blocker = tmp_path / "not-a-directory"
    blocker.write_text("")
    env = standin_env(tmp_path, HARNESS_LOG_FILE=str(blocker / "proof.log"))
    run = cli_run("fixture_pass", env)
    code = run.finish()
    record("log file not writable", code, "none", 0.0, seen(run.output))
    assert code == 3, run.output
    assert "cannot write the proof log" in run.output


def test_eight_concurrent_runs_of_mixed_modules(images: object, tmp_path: Path, client: object) -> None:
    cases = {
        "fixture_pass": 0,
        "fixture_fail": 1,
        "fixture_error": 1,
        "fixture_notests": 5,  # no tests package: NO TESTS (issue 17), not a failure
        "fixture_importerror": 1,
    }
    modules = [
        "fixture_pass",
        "fixture_fail",
        "fixture_pass",
        "fixture_error",
        "fixture_notests",
        "fixture_pass",
        "fixture_importerror",
        "fixture_pass",
    ]
    started = time.monotonic()
    runs = [cli_run(m, standin_env(tmp_path / f"run{i}", HARNESS_READY_TIMEOUT="240")) for i, m in enumerate(modules)]
    codes = [r.finish(timeout=400) for r in runs]
    projects = [project_of(r) for r in runs]
    leftovers = [engine.project_resources(client, p) for p in projects]
    record(
        "8 concurrent runs, mixed modules",
        codes,
        "none" if all(x.empty for x in leftovers) else "LEAK",
        time.monotonic() - started,
        "each run its own final block: " + ", ".join(seen(r.output, 60).split(";")[0] for r in runs[:2]) + ", ...",
    )
    assert codes == [cases[m] for m in modules], "\n\n".join(r.output[-3000:] for r in runs)
    assert len(set(projects)) == 8
    assert all(x.empty for x in leftovers)


def test_second_ctrl_c_does_not_abort_the_cleanup(images: object, tmp_path: Path, client: object) -> None:
    env = standin_env(tmp_path, **fault_pause("teardown", 3))
    run = nox_run("fixture_slow", env)
    run.wait_for(": Starting Test")
    run.signal_group(signal.SIGINT)
    run.wait_for("fault injection: pausing 3 s in phase teardown")
    run.signal_group(signal.SIGINT)  # the impatient second Ctrl+C, while the cleanup runs
    project = _finish_case("second SIGINT during the cleanup", run, client, 130)
    assert "interrupted by SIGINT during phase tests" in run.output
    assert engine.project_resources(client, project).empty


def test_sigkill_of_the_harness_process_alone(images: object, tmp_path: Path, client: object) -> None:
    # Only the harness dies; its children (`compose exec`) live on in their own sessions
    # until the watchdog stops them and tears the project down.
    env, run, project = slow_run_in_its_tests(tmp_path)
    sent = time.monotonic()
    os.kill(run.process.pid, signal.SIGKILL)
    code = run.finish(timeout=60)
    left, _ = wait_until_gone(client, project, WATCHDOG_DEADLINE)
    record(
        "SIGKILL of the harness process alone, during tests",
        code,
        left.describe() if not left.empty else "none",
        time.monotonic() - sent,
        watchdog_seen(env, project),
    )
    assert code == -9
    assert left.empty, left.describe()


@pytest.mark.skipif(os.geteuid() != 0, reason="mounting a small tmpfs needs root")
def test_disk_full_during_tests(images: object, tmp_path: Path, client: object) -> None:
    """The log and artefacts on a small disk that fills while the tests run: teardown first, then exit 3."""
    disk = tmp_path / "disk"
    disk.mkdir()
    subprocess.run(["mount", "-t", "tmpfs", "-o", "size=1m", "tmpfs", str(disk)], check=True, timeout=30)
    try:
        env = standin_env(
            tmp_path,
            HARNESS_LOG_FILE=str(disk / "proof_of_execution_tests.log"),
            HARNESS_ARTEFACTS_DIR=str(disk / "artefacts"),
        )
        run = nox_run("fixture_slow", env)
        run.wait_for(": Starting Test")
        with (disk / "filler").open("wb", buffering=0) as filler:  # every byte left, while the tests run
            try:
                while True:
                    filler.write(b"\0" * 4096)
            except OSError:
                pass
        _finish_case("disk full during tests", run, client, 3)
        assert "ENVIRONMENT ERROR" in run.output and "No space left on device" in run.output
        assert "nothing left" in run.output  # the teardown ran whole, and said so
    finally:
        subprocess.run(["umount", "-l", str(disk)], check=False, timeout=30)


def _restart_engine(pause: float) -> None:
    """Stop the engine as its service manager would, wait `pause` s, start it again the same way.

    systemd's docker.service when it runs the engine, else the running dockerd's own command line
    and environment (as scripts/provision-engine.sh started it), in a session of its own.
    """
    systemd = subprocess.run(["systemctl", "is-active", "--quiet", "docker"], check=False, timeout=30)
    if systemd.returncode == 0:
        subprocess.run(["systemctl", "stop", "docker"], check=True, timeout=120)
        time.sleep(pause)
        subprocess.run(["systemctl", "start", "docker"], check=True, timeout=120)
    else:
        pid = int(subprocess.run(["pgrep", "-xo", "dockerd"], capture_output=True, text=True, timeout=30).stdout)
        argv = [a.decode() for a in Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0") if a]
        environ = dict(
            item.decode().split("=", 1) for item in Path(f"/proc/{pid}/environ").read_bytes().split(b"\0") if item
        )
        os.kill(pid, signal.SIGTERM)
        deadline = time.monotonic() + 90
        while Path(f"/proc/{pid}").exists() and time.monotonic() < deadline:
            time.sleep(0.2)
        time.sleep(pause)
        with open("/var/log/harness-dockerd.log", "ab") as log:
            subprocess.Popen(
                argv, env=environ, stdin=subprocess.DEVNULL, stdout=log, stderr=log, start_new_session=True
            )
    deadline = time.monotonic() + 90
    while subprocess.run(["docker", "info"], capture_output=True, check=False, timeout=30).returncode != 0:
        assert time.monotonic() < deadline, "the engine did not come back"
        time.sleep(0.5)


@pytest.mark.skipif(os.geteuid() != 0, reason="stopping and starting the engine needs root")
def test_engine_stopped_and_started_during_tests(images: object, tmp_path: Path, client: object) -> None:
    """The engine stops (every container with it) and starts again while the tests run: exit 3, nothing left."""
    _, run, project = slow_run_in_its_tests(tmp_path)
    sent = time.monotonic()
    _restart_engine(pause=2.0)
    code = run.finish(timeout=240)
    left, _ = wait_until_gone(client, project, 0)
    record(
        "engine stopped and started during tests",
        code,
        "none" if left.empty else left.describe(),
        time.monotonic() - sent,
        seen(run.output),
    )
    assert left.empty, left.describe()
    assert code == 3, run.output
    assert "ENVIRONMENT ERROR" in run.output
    assert "after fixture_slow's tests" in run.output or "engine stopped answering" in run.output
    assert "FAILED" not in run.output.split("[harness] result", 1)[-1].splitlines()[0]


LOUD_MB = 300
LOUD_RSS_LIMIT_MB = 200


def test_a_test_printing_300_mb_keeps_the_harness_small(images: object, tmp_path: Path, client: object) -> None:
    """A module whose test prints 300 MB: the harness's RSS stays under 200 MB; the proof log keeps it all."""
    loud = (
        "import sys\n\nfrom odoo.tests import TransactionCase\n\n\n"
        "class TestLoud(TransactionCase):\n"
        "    def test_print(self):\n"
        "        line = 'x' * 1023 + '\\n'\n"
        f"        for _ in range({LOUD_MB} * 1024):\n"
        "            sys.stdout.write(line)\n"
        "        sys.stdout.flush()\n"
        "        self.assertTrue(True)\n"
    )
    write_test_module(tmp_path / "addons", "fixture_loud", ["base"], {"test_loud": loud})
    env = standin_env(tmp_path, HARNESS_ADDONS_PATH=str(tmp_path / "addons"))
    console = tmp_path / "console.txt"
    started = time.monotonic()
    with console.open("wb") as out:
        process = subprocess.Popen(
            [sys.executable, "-m", "harness", "run", "fixture_loud"],
            cwd=ROOT,
            env={**os.environ, **env},
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        harness = psutil.Process(process.pid)
        peak = 0
        while process.poll() is None:
            with contextlib.suppress(psutil.Error):
                peak = max(peak, harness.memory_info().rss)
            time.sleep(0.1)
    code = process.wait(timeout=600)
    seconds = time.monotonic() - started
    with console.open("rb") as shown:
        shown.seek(max(0, console.stat().st_size - 8192))
        tail = shown.read().decode(errors="replace")
    project = next(
        line.split("[harness] cleanup of ", 1)[1].split(" ", 1)[0]
        for line in tail.splitlines()
        if "[harness] cleanup of " in line
    )
    left, _ = wait_until_gone(client, project, 0)
    proof = Path(env["HARNESS_LOG_FILE"])
    peak_mb = peak / 2**20
    record(
        f"a test printing {LOUD_MB} MB",
        code,
        "none" if left.empty else left.describe(),
        seconds,
        f"peak RSS {peak_mb:.0f} MB; proof log {proof.stat().st_size / 2**20:.0f} MB; " + seen(tail),
    )
    assert left.empty, left.describe()
    assert code == 0, tail
    assert peak_mb < LOUD_RSS_LIMIT_MB, f"the harness grew to {peak_mb:.0f} MB"
    assert proof.stat().st_size > LOUD_MB * 2**20 or "cut here" in proof.read_text(errors="replace")[-4096:]
