"""Teardown first, whatever fails: a full disk, the engine's errors, a signal at the instant a child starts."""

from __future__ import annotations

import errno
import io
import os
import signal
import sys
from pathlib import Path

import docker.errors
import pytest
import requests

from harness import cleanup, phases, proc, report
from harness.compose import Compose
from harness.config import Config
from harness.errors import Interrupted
from harness.phases import RunPhases
from harness.records import CleanupReport, Resources
from harness.run import GuardedRun
from harness.signals import SignalGuard
from tests.unit.conftest import wait_gone


@pytest.fixture
def config(tmp_path: Path) -> Config:
    addons = tmp_path / "addons"
    (addons / "known_module").mkdir(parents=True)
    (addons / "known_module" / "__manifest__.py").write_text("{'name': 'Known', 'installable': True}")
    return Config(root=tmp_path).with_overrides(
        addons_path=Path("addons"), log_file=Path("proof.log"), artefacts_dir=Path("artefacts"), lock_dir=Path("locks")
    )


def test_a_full_disk_does_not_stop_the_teardown(config, monkeypatch):
    torn: list[str] = []

    def full(path, data):
        raise OSError(errno.ENOSPC, "No space left on device", str(path))

    monkeypatch.setattr(phases, "write_json", full)
    monkeypatch.setattr(
        phases, "teardown", lambda compose, factory, config: torn.append(compose.project) or clean(compose.project)
    )
    run = RunPhases(config, "known_module", echo=io.StringIO())
    run.compose = Compose(run.project, ())
    assert run.clean_up().clean
    assert torn == [run.project]


def clean(project: str) -> CleanupReport:
    return CleanupReport(project, 0, Resources(), 0.1, False)


@pytest.mark.parametrize(
    "error",
    [
        docker.errors.APIError("500 Server Error: engine restarting"),
        requests.exceptions.ConnectionError("Connection aborted"),
        docker.errors.DockerException("Error while fetching server API version"),
    ],
)
def test_any_sdk_error_is_reported_with_the_project_named(config, monkeypatch, error):
    monkeypatch.setattr(cleanup, "CHECK_RETRY_PAUSE", 0.0)

    def down(self, stop_timeout, timeout):
        raise requests.exceptions.ConnectionError("engine gone")

    def no_engine():
        raise error

    monkeypatch.setattr(Compose, "down", down)
    got = cleanup.teardown(Compose("hub-agent-test-x-1-abc", ()), no_engine, config.with_overrides(engine_wait=0.0))
    assert not got.clean
    assert "project hub-agent-test-x-1-abc may be left" in got.leftovers.describe()
    assert got.error


def test_an_engine_back_after_a_restart_is_asked_again(config, monkeypatch):
    monkeypatch.setattr(cleanup, "CHECK_RETRY_PAUSE", 0.0)
    monkeypatch.setattr(Compose, "down", lambda self, s, t: proc.Result(("docker",), 1, "", "", 0.0))
    answers = iter([docker.errors.APIError("restarting")])

    class Client:
        pass

    def factory():
        for exc in answers:
            raise exc
        return Client()

    monkeypatch.setattr(cleanup.engine, "project_resources", lambda client, project: Resources())
    assert cleanup.teardown(Compose("p", ()), factory, config).clean


def test_a_failing_cleanup_never_reads_nothing_to_clean_up(config, monkeypatch):
    class Run(GuardedRun):
        def phases(self) -> None:
            for path in (self.config.log_file, self.artefacts / self.config.log_file.name):
                self.log.add(path)
            self.compose = Compose(self.project, ())

        def clean_up(self):
            raise RuntimeError("a bug in the teardown")

    result = Run(config, "known_module", echo=io.StringIO()).execute()
    assert result.exit_code == 3
    assert result.cleanup is not None and not result.cleanup.clean
    assert "nothing to clean up" not in report.cleanup_text(result)
    assert "may be left" in report.cleanup_text(result)


def test_an_os_error_of_the_phases_is_an_environment_error(config):
    class Run(GuardedRun):
        def phases(self) -> None:
            raise OSError(errno.ENOSPC, "No space left on device", "/artefacts/command.txt")

    result = Run(config, "known_module", echo=io.StringIO()).execute()
    assert result.exit_code == 3
    assert result.message == "cannot write /artefacts/command.txt: No space left on device (errno 28)"


@pytest.mark.parametrize("runner", ["run", "stream"])
def test_a_signal_the_instant_a_child_starts_still_stops_it(runner):
    """The window between Popen and the caller's try: the signal is raised once the child is known."""
    started: list[int] = []

    def signal_at_spawn(pid: int) -> None:
        started.append(pid)
        os.kill(os.getpid(), signal.SIGTERM)  # delivered inside spawn, before proc has its child

    argv = [sys.executable, "-c", "import time; time.sleep(60)"]
    with SignalGuard() as guard, pytest.raises(Interrupted):
        if runner == "run":
            proc.run(argv, timeout=60, on_spawn=signal_at_spawn)
        else:
            proc.stream(argv, lambda line: None, timeout=60, on_spawn=signal_at_spawn)
    assert guard.received == [signal.SIGTERM]
    assert wait_gone(started[0], 10), "the child outlived the signal"


def test_a_port_retry_keeps_the_cache_build_lock(config, monkeypatch, tmp_path):
    """Between a lost port and the next `up`, no second run may start building the same key."""
    from harness import dbcache_steps, ports, watchdog

    events: list[str] = []

    class Lease:
        def __init__(self, port):
            self.port, self.lock_path = port, tmp_path / f"port-{port}.lock"

        def release(self):
            events.append(f"port {self.port} released")

    leases = iter([Lease(8130), Lease(8131)])

    class Use:
        files = ()

        def release(self):
            events.append("build lock released")

    answers = iter(
        [proc.Result(("up",), 1, "Bind for 127.0.0.1:8130 failed: port is already allocated", "", 0.1)]
        + [proc.Result(("up",), 0, "", "", 0.1)]
    )
    monkeypatch.setattr(ports, "wait_for_port", lambda acquire, **kw: next(leases))
    monkeypatch.setattr(dbcache_steps, "prepare", lambda *a, **k: Use())
    monkeypatch.setattr(phases, "write_owner", lambda *a: None)
    monkeypatch.setattr(watchdog, "start", lambda *a: type("W", (), {"track": lambda self, pid: None})())
    monkeypatch.setattr(Compose, "up", lambda self, timeout, **kw: next(answers))
    monkeypatch.setattr(Compose, "down", lambda self, s, t: events.append("down") or proc.Result(("d",), 0, "", "", 0))
    run = RunPhases(config, "known_module", echo=io.StringIO())
    monkeypatch.setattr(run, "prepare_image", lambda: None)
    monkeypatch.setattr(run, "override_files", lambda: ())
    run.start_environment()
    assert events == ["down", "port 8130 released"]
    assert run.port == 8131
    run.release_port()
    assert events[-1] == "build lock released"


@pytest.mark.skipif(not Path("/dev/full").exists(), reason="needs /dev/full (a device that is always full)")
def test_a_proof_log_on_a_full_disk_is_exit_3_after_a_teardown(config):
    torn: list[str] = []

    class Run(GuardedRun):
        def phases(self) -> None:
            self.log.add(self.config.log_file)
            self.log.files[0].close()
            self.log.files[0] = open("/dev/full", "w", encoding="utf-8")  # noqa: SIM115 - closed by the log
            self.compose = Compose(self.project, ())
            self.log.harness("this line meets a full disk")

        def clean_up(self):
            torn.append(self.project)
            return clean(self.project)

    echo = io.StringIO()
    result = Run(config, "known_module", echo=echo).execute()
    assert torn == [result.project]
    assert result.exit_code == 3
    assert "No space left on device; the output was cut here" in result.message
    assert "this line meets a full disk" in echo.getvalue()  # the console still has it


@pytest.mark.parametrize(
    ("state", "said"),
    [
        (None, "container is gone after known_module's tests"),
        (phases.engine.ContainerState("exited", None, 255), "container is exited (exit code 255)"),
        (requests.exceptions.ConnectionError("connection refused"), "engine stopped answering"),
        (docker.errors.APIError("500 Server Error"), "engine stopped answering"),
    ],
)
def test_a_test_process_ended_by_its_environment_is_exit_3_not_a_failure(config, monkeypatch, state, said):
    """An engine restarted mid-run ends `compose exec` with a code of its own: the module is not blamed."""
    run = RunPhases(config, "known_module", echo=io.StringIO())
    run.client = object()

    def looked(client, project, service):
        if isinstance(state, Exception):
            raise state
        return state

    monkeypatch.setattr(phases.engine, "service_state", looked)
    with pytest.raises(phases.EnvironmentProblem) as raised:
        run.check_environment_survived("known_module")
    assert said in raised.value.message
    assert raised.value.exit_code == 3


def test_a_running_container_after_a_failing_test_process_leaves_the_verdict_to_the_module(config, monkeypatch):
    run = RunPhases(config, "known_module", echo=io.StringIO())
    run.client = object()
    monkeypatch.setattr(phases.engine, "service_state", lambda *_: phases.engine.ContainerState("running", None, None))
    run.check_environment_survived("known_module")  # no exception: exit 1 stays the module's


def test_the_teardown_waits_engine_wait_for_an_engine_that_restarts(config, monkeypatch):
    """An engine stopping every container before it restarts takes seconds: asked until engine_wait."""
    monkeypatch.setattr(cleanup, "CHECK_RETRY_PAUSE", 0.01)
    monkeypatch.setattr(Compose, "down", lambda self, s, t: proc.Result(("docker",), 1, "", "", 0.0))
    asked: list[float] = []

    def restarting():
        asked.append(0.0)
        if len(asked) < 20:
            raise requests.exceptions.ConnectionError("connection refused")
        return object()

    monkeypatch.setattr(cleanup.engine, "project_resources", lambda client, project: Resources())
    # engine_wait far beyond any machine's pace: what ends the asking is the engine answering.
    got = cleanup.teardown(Compose("p", ()), restarting, config.with_overrides(engine_wait=600.0))
    assert got.clean and len(asked) == 20
    asked.clear()
    gave_up = cleanup.teardown(Compose("p", ()), restarting, config.with_overrides(engine_wait=0.0))
    assert not gave_up.clean and "may be left" in gave_up.leftovers.describe()
    assert len(asked) == 1  # no time to wait: asked once


def test_a_killed_test_process_is_followed_until_the_engine_going_down_shows(config, monkeypatch):
    """Code 137 while the engine shuts down: its API says "running" a moment longer, then "exited"."""
    run = RunPhases(config, "known_module", echo=io.StringIO())
    run.client = object()
    monkeypatch.setattr(phases, "KILLED_SETTLE_POLL", 0.01)
    monkeypatch.setattr(phases, "KILLED_SETTLE", 600.0)  # only the container's "exited" ends the looks
    states = iter(["running", "running", "exited"])
    monkeypatch.setattr(phases.engine, "service_state", lambda *_: phases.engine.ContainerState(next(states), None, 0))
    with pytest.raises(phases.EnvironmentProblem, match="container is exited"):
        run.check_environment_survived("known_module", 137)
    # A test that failed (exit 1) is judged at once: one look, no wait.
    looks: list[int] = []

    def running(*_):
        looks.append(1)
        return phases.engine.ContainerState("running", None, None)

    monkeypatch.setattr(phases.engine, "service_state", running)
    run.check_environment_survived("known_module", 1)
    assert looks == [1]
