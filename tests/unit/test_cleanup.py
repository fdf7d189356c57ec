"""Owner records, process identity, teardown and the sweep, against a fake Docker client."""

from __future__ import annotations

import dataclasses
import json
import os
import socket
import stat
import subprocess
import sys
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest

from harness import cleanup, engine
from harness.cleanup import (
    CleanupReport,
    OwnerRecord,
    compose_for_sweep,
    owners_dir,
    process_is,
    process_liveness,
    process_start_time,
    read_owner,
    remove_owner,
    sweep,
    teardown,
    write_owner,
)
from harness.compose import Compose
from harness.config import Config
from harness.naming import project_name
from harness.proc import Result

LABEL = engine.PROJECT_LABEL
NOW = datetime(2025, 1, 1, 12, 0, 0, tzinfo=timezone.utc)


# --- a tiny fake of the Docker SDK: only what engine.py calls


def _matches(labels: dict[str, str], filters: dict | None) -> bool:
    for rule in (filters or {}).get("label", []):
        key, sep, value = rule.partition("=")
        if key not in labels or (sep and labels[key] != value):
            return False
    return True


@dataclasses.dataclass
class FakeObject:
    name: str
    labels: dict[str, str]
    attrs: dict
    collection: FakeCollection

    def remove(self, **kwargs) -> None:
        self.collection.items.remove(self)
        self.collection.removed.append(self.name)


class FakeCollection:
    def __init__(self) -> None:
        self.items: list[FakeObject] = []
        self.removed: list[str] = []
        self.filters_seen: list[dict | None] = []

    def list(self, all: bool = False, filters: dict | None = None) -> list[FakeObject]:  # noqa: A002 - SDK name
        self.filters_seen.append(filters)
        return [item for item in self.items if _matches(item.labels, filters)]


class FakeAPI:
    """The low-level APIClient calls the harness uses for containers (listing entries, no inspect)."""

    def __init__(self, containers: FakeCollection) -> None:
        self.collection = containers

    def containers(self, all: bool = False, filters: dict | None = None) -> list[dict]:  # noqa: A002 - SDK name
        entries = []
        for item in self.collection.list(all=all, filters=filters):
            created = item.attrs.get("Created", "")
            epoch = (
                int(datetime.strptime(created[:19], "%Y-%m-%dT%H:%M:%S").replace(tzinfo=timezone.utc).timestamp())
                if created
                else None
            )
            entries.append({"Id": item.name, "Names": [f"/{item.name}"], "Labels": item.labels, "Created": epoch})
        return entries

    def remove_container(self, container_id: str, **kwargs) -> None:
        for item in list(self.collection.items):
            if item.name == container_id:
                item.remove(**kwargs)


class FakeClient:
    def __init__(self) -> None:
        self.containers = FakeCollection()
        self.networks = FakeCollection()
        self.volumes = FakeCollection()
        self.api = FakeAPI(self.containers)

    def add_project(self, project: str, created: datetime | None, *, volume: bool = True) -> None:
        stamp = "" if created is None else created.strftime("%Y-%m-%dT%H:%M:%S.123456789Z")
        labels = {LABEL: project, engine.SERVICE_LABEL: "odoo"}
        self.containers.items.append(FakeObject(f"{project}-odoo-1", labels, {"Created": stamp}, self.containers))
        self.networks.items.append(
            FakeObject(
                f"{project}_default", {LABEL: project}, {"Labels": {LABEL: project}, "Created": stamp}, self.networks
            )
        )
        if volume:
            self.volumes.items.append(
                FakeObject(
                    f"{project}_pgdata",
                    {LABEL: project},
                    {"Labels": {LABEL: project}, "CreatedAt": stamp},
                    self.volumes,
                )
            )

    def add_unlabelled(self) -> None:
        self.containers.items.append(FakeObject("manual", {}, {"Created": ""}, self.containers))


@pytest.fixture
def config(tmp_path: Path) -> Config:
    return Config(root=tmp_path).with_overrides(lock_dir=Path("locks"), reap_max_age=3600.0)


@pytest.fixture
def torn_down(monkeypatch):
    """Replace the real teardown (which would run `docker compose down`); record the projects."""
    calls: list[Compose] = []

    def fake_teardown(compose, client_factory, config):
        calls.append(compose)
        return CleanupReport(compose.project, 0, engine.Resources(), 0.1, False)

    monkeypatch.setattr(cleanup, "teardown", fake_teardown)
    return calls


def dead_pid() -> int:
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    child.wait()
    return child.pid


def write_record(config: Config, project: str, **changes) -> None:
    """An owner record as write_owner would write it, with some fields changed."""
    compose = Compose(project, (config.root / "docker-compose.agent.yml",), {"ODOO_PORT": "8090"})
    path = write_owner(config, compose)
    data = json.loads(path.read_text())
    data.update(changes)
    path.write_text(json.dumps(data))


# --- process identity


def test_process_start_time_of_self_is_a_stable_string():
    first = process_start_time(os.getpid())
    assert first is not None and float(first) > 0
    assert process_start_time(os.getpid()) == first


def test_process_start_time_differs_between_processes():
    child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(600)"])  # lives until killed
    try:
        assert process_start_time(child.pid) is not None
        assert process_is(child.pid, process_start_time(child.pid))
        assert not process_is(os.getpid(), "0.00")
    finally:
        child.kill()
        child.wait()


def test_process_start_time_of_a_dead_pid_is_none():
    assert process_start_time(dead_pid()) is None
    assert not process_is(dead_pid(), "1.00")


def test_a_zombie_is_not_a_live_owner():
    """A child that exited but was not waited for still has a pid: it is not running."""
    # It runs until we close its stdin: its start time is read while it surely runs (a child
    # that exits at once can be a zombie already on a loaded machine).
    child = subprocess.Popen([sys.executable, "-c", "import sys; sys.stdin.read()"], stdin=subprocess.PIPE)
    started = process_start_time(child.pid)
    child.stdin.close()
    # Block until it has exited, leaving it unreaped (a zombie): the event itself, not a time budget.
    os.waitid(os.P_PID, child.pid, os.WEXITED | os.WNOWAIT)
    try:
        assert started is not None
        assert process_start_time(child.pid) is None
        assert not process_is(child.pid, started)
    finally:
        child.wait()


def test_process_start_time_is_the_start_in_seconds_since_the_epoch():
    child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(600)"])  # lives until killed
    try:
        started = process_start_time(child.pid)
        assert started is not None
        assert abs(float(started) - time.time()) < 5  # the child started just now
    finally:
        child.kill()
        child.wait()


def test_a_record_of_an_older_harness_is_unknown_while_its_pid_runs():
    """Older records hold kernel clock ticks: a run that may still be live is never "dead"."""
    assert process_liveness(os.getpid(), "123456") == "unknown"
    assert process_liveness(dead_pid(), "123456") == "dead"


def test_a_process_we_may_not_inspect_is_unknown(monkeypatch):
    class Hidden:
        def __init__(self, pid: int) -> None:
            raise cleanup.psutil.AccessDenied(pid)

    monkeypatch.setattr(cleanup.psutil, "Process", Hidden)
    assert process_liveness(1, "1.00") == "unknown"
    assert not process_is(1, "1.00")


def hidepid(monkeypatch, visible: set[int]) -> None:
    """/proc mounted hidepid=2: psutil sees no process but `visible`; kill(pid, 0) still answers."""
    real = cleanup.psutil.Process

    def process(pid: int):
        if pid not in visible:
            raise cleanup.psutil.NoSuchProcess(pid)
        return real(pid)

    monkeypatch.setattr(cleanup.psutil, "Process", process)


def test_a_live_process_hidden_by_hidepid_is_unknown_not_dead(monkeypatch):
    child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(30)"])
    try:
        started = process_start_time(child.pid)
        hidepid(monkeypatch, visible=set())
        assert process_liveness(child.pid, started) == "unknown"
        assert process_liveness(dead_pid(), started) == "dead"  # kill(pid, 0): ESRCH
    finally:
        child.kill()
        child.wait()


def test_a_process_of_another_user_that_we_may_not_signal_is_unknown(monkeypatch):
    hidepid(monkeypatch, visible=set())

    def eperm(pid, sig):
        raise PermissionError(1, "Operation not permitted")

    monkeypatch.setattr(cleanup.os, "kill", eperm)
    assert process_liveness(1, "1.00") == "unknown"


# --- owner records


def record(**changes) -> OwnerRecord:
    base = OwnerRecord("p", os.getpid(), process_start_time(os.getpid()), socket.gethostname(), 0.0, os.geteuid())
    return dataclasses.replace(base, **changes)


def test_owner_is_alive_for_this_process():
    assert record().is_alive()


def test_owner_with_a_different_start_time_is_dead():
    """The pid was reused by another process: not our owner any more."""
    assert not record(pid_start="1.00").is_alive()


def test_owner_without_a_start_time_is_unknown_while_its_pid_runs():
    assert record(pid_start=None).liveness() == "unknown"


def test_owner_whose_pid_is_gone_is_dead():
    assert not record(pid=dead_pid()).is_alive()


def test_owner_on_another_host_is_unknown():
    assert record(host=socket.gethostname() + "-elsewhere", pid=dead_pid(), pid_start="1.00").liveness() == "unknown"


def test_write_read_remove_owner_round_trip(config):
    env = {"ODOO_PORT": "8091", "HARNESS_DB_PASSWORD": "pw", "HARNESS_ADMIN_PASSWORD": "secret-of-the-run"}
    compose = Compose("hub-agent-test-x-1-abc", (config.root / "a.yml", config.root / "b.yml"), env)
    path = write_owner(config, compose)
    # A record carries nothing to run and no environment: no password, no PATH, no file list.
    text = path.read_text()
    assert "pw" not in text and "secret-of-the-run" not in text and "a.yml" not in text
    assert path == config.root / f"locks-{os.geteuid()}" / "owners" / "hub-agent-test-x-1-abc.json"
    assert owners_dir(config) == path.parent
    assert [p.name for p in path.parent.iterdir()] == [path.name]  # no temporary left behind
    got = read_owner(config, compose.project)
    assert got is not None
    assert got.project == compose.project
    assert got.pid == os.getpid()
    assert got.pid_start == process_start_time(os.getpid())
    assert got.host == socket.gethostname()
    assert got.uid == os.geteuid()
    assert got.is_alive()
    remove_owner(config, compose.project)
    assert read_owner(config, compose.project) is None
    remove_owner(config, compose.project)  # idempotent


def test_owner_records_go_to_a_folder_only_the_user_can_enter(config):
    path = write_owner(config, Compose("hub-agent-test-x-1-abc", ()))
    assert stat.S_IMODE(path.parent.stat().st_mode) == 0o700
    assert stat.S_IMODE(path.parent.parent.stat().st_mode) == 0o700
    assert path.parent.stat().st_uid == os.geteuid()


def test_a_record_this_user_did_not_write_is_never_read(config, monkeypatch):
    write_owner(config, Compose("hub-agent-test-x-1-abc", ()))
    monkeypatch.setattr(os, "geteuid", lambda: os.getuid() + 4242)  # the file now belongs to "another user"
    assert read_owner(config, "hub-agent-test-x-1-abc") is None


def test_a_symlinked_record_is_never_followed(config, tmp_path):
    write_owner(config, Compose("hub-agent-test-x-1-abc", ()))
    real = owners_dir(config) / "hub-agent-test-x-1-abc.json"
    (owners_dir(config) / "hub-agent-test-y-1-abc.json").symlink_to(real)
    assert read_owner(config, "hub-agent-test-y-1-abc") is None


def test_a_forged_record_cannot_choose_what_the_sweep_runs(config, torn_down):
    """A record with PATH, LD_PRELOAD and compose files of its writer's: the sweep reads none of it."""
    client = FakeClient()
    project = "hub-agent-test-forged-1-aaa"
    client.add_project(project, NOW - timedelta(seconds=30))
    write_record(
        config,
        project,
        pid=dead_pid(),
        files=["/home/mallory/evil.yml"],
        env={"PATH": "/home/mallory/bin", "LD_PRELOAD": "/home/mallory/evil.so"},
    )
    entries = sweep(config, client, now=NOW, log=lambda line: None)
    assert entries[0].action == "removed"
    (compose,) = torn_down
    assert compose.files == config.compose_files
    environment = compose.environment()
    assert environment.get("PATH") == os.environ.get("PATH")
    assert environment.get("LD_PRELOAD") == os.environ.get("LD_PRELOAD")


@pytest.mark.parametrize("content", ["", "{not json", '{"project": "p"}', "[]"])
def test_unreadable_owner_record_is_none(config, content):
    owners_dir(config).mkdir(parents=True)
    (owners_dir(config) / "p.json").write_text(content)
    assert read_owner(config, "p") is None


def test_compose_for_sweep_uses_the_harness_own_files_and_variables(config):
    compose = compose_for_sweep(config, "p")
    assert compose.project == "p" and compose.files == config.compose_files
    assert set(compose.env) >= {"ODOO_PORT", "HARNESS_ADDONS_PATH"}
    assert not {"PATH", "LD_PRELOAD"} & set(compose.env)


# --- engine queries with the fake client


def test_list_projects_filters_by_prefix_and_keeps_the_oldest_time():
    client = FakeClient()
    client.add_project("hub-agent-test-a-1-aaa", NOW)
    client.add_project("hub-agent-test-b-2-bbb", None)
    client.add_project("evv-agent-test-a-1-aaa", NOW)
    client.add_project("hubx-agent-test-a-1-aaa", NOW)
    client.add_project("myapp", NOW)
    client.add_unlabelled()
    older = NOW - timedelta(hours=1)
    client.volumes.items.append(
        FakeObject(
            "v",
            {LABEL: "hub-agent-test-a-1-aaa"},
            {"Labels": {LABEL: "hub-agent-test-a-1-aaa"}, "CreatedAt": older.strftime("%Y-%m-%dT%H:%M:%SZ")},
            client.volumes,
        )
    )
    projects = engine.list_projects(client, "hub-agent-test-")
    assert [p.name for p in projects] == ["hub-agent-test-a-1-aaa", "hub-agent-test-b-2-bbb"]
    assert projects[0].created == older
    assert projects[1].created is None
    assert client.containers.filters_seen[0] == {"label": [LABEL]}


def test_project_resources_by_exact_label():
    client = FakeClient()
    client.add_project("hub-agent-test-a-1-aaa", NOW)
    client.add_project("hub-agent-test-a-1-aaab", NOW)
    found = engine.project_resources(client, "hub-agent-test-a-1-aaa")
    assert found == engine.Resources(
        ("hub-agent-test-a-1-aaa-odoo-1",), ("hub-agent-test-a-1-aaa_default",), ("hub-agent-test-a-1-aaa_pgdata",)
    )
    assert engine.project_resources(client, "nothing").empty


# --- teardown (compose down faked, engine faked)


def test_teardown_force_removes_what_down_left(config, monkeypatch):
    client = FakeClient()
    client.add_project("hub-agent-test-x-1-abc", NOW)
    client.add_project("hub-agent-test-y-1-abc", NOW)
    downs = []

    def fake_down(self, stop_timeout, timeout):
        downs.append((self.project, stop_timeout, timeout))
        return Result(("docker",), 0, "", "", 0.0)  # exit 0 yet everything is still there

    monkeypatch.setattr(Compose, "down", fake_down)
    report = teardown(Compose("hub-agent-test-x-1-abc", ()), lambda: client, config)
    assert downs == [("hub-agent-test-x-1-abc", config.stop_timeout, config.down_timeout)]
    assert report.forced and report.clean and report.down_returncode == 0
    assert engine.project_resources(client, "hub-agent-test-x-1-abc").empty
    assert not engine.project_resources(client, "hub-agent-test-y-1-abc").empty  # the neighbour is untouched


def test_teardown_reports_an_unreachable_engine(config, monkeypatch):
    from harness.errors import EnvironmentProblem

    monkeypatch.setattr(Compose, "down", lambda self, s, t: Result(("docker",), 0, "", "", 0.0))

    def no_engine():
        raise EnvironmentProblem("the Docker engine does not answer")

    # engine_wait 0: asked once. The default (30 s) would make this test sleep out the wait that
    # test_teardown_first covers; the report of an engine that never answers is the same.
    report = teardown(Compose("p", ()), no_engine, config.with_overrides(engine_wait=0.0))
    assert not report.clean
    assert "does not answer" in report.error


# --- the sweep


def test_sweep_removes_a_project_whose_owner_died(config, torn_down):
    client = FakeClient()
    project = "hub-agent-test-traction-1-aaa"
    client.add_project(project, NOW - timedelta(seconds=30))
    write_record(config, project, pid=dead_pid())
    lines: list[str] = []
    entries = sweep(config, client, now=NOW, log=lines.append)
    assert [(e.project, e.action) for e in entries] == [(project, "removed")]
    assert "is gone" in entries[0].reason
    assert [c.project for c in torn_down] == [project]
    # down runs with the harness's own files and environment, never the record's
    assert torn_down[0].files == config.compose_files and "PATH" not in torn_down[0].env
    assert read_owner(config, project) is None
    assert lines == [f"reap: removed: {project} ({entries[0].reason})"]


def test_sweep_removes_a_project_whose_pid_was_reused(config, torn_down):
    client = FakeClient()
    project = "hub-agent-test-traction-1-aaa"
    client.add_project(project, NOW - timedelta(seconds=30))
    write_record(config, project, pid_start="1.00")  # our pid, but not our process
    entries = sweep(config, client, now=NOW, log=lambda line: None)
    assert entries[0].action == "removed"
    assert len(torn_down) == 1


def test_sweep_keeps_a_project_with_a_live_owner_however_old(config, torn_down):
    client = FakeClient()
    project = "hub-agent-test-traction-1-aaa"
    client.add_project(project, NOW - timedelta(days=3))
    write_record(config, project)
    entries = sweep(config, client, now=NOW, log=lambda line: None)
    assert [(e.project, e.action) for e in entries] == [(project, "kept")]
    assert "alive" in entries[0].reason
    assert torn_down == []
    assert read_owner(config, project) is not None


def test_sweep_keeps_a_young_project_without_owner(config, torn_down):
    client = FakeClient()
    client.add_project("hub-agent-test-young-1-aaa", NOW - timedelta(seconds=config.reap_max_age - 60))
    client.add_project("hub-agent-test-undated-1-aaa", None)
    entries = sweep(config, client, now=NOW, log=lambda line: None)
    assert {e.project: e.action for e in entries} == {
        "hub-agent-test-undated-1-aaa": "kept",
        "hub-agent-test-young-1-aaa": "kept",
    }
    assert torn_down == []


def test_sweep_removes_an_old_project_without_owner(config, torn_down):
    client = FakeClient()
    project = "hub-agent-test-old-1-aaa"
    client.add_project(project, NOW - timedelta(seconds=config.reap_max_age + 60))
    entries = sweep(config, client, now=NOW, log=lambda line: None)
    assert [(e.project, e.action) for e in entries] == [(project, "removed")]
    assert "no owner record" in entries[0].reason
    assert torn_down[0].files == config.compose_files  # the harness's own compose files


def test_sweep_dry_run_removes_nothing(config, torn_down):
    client = FakeClient()
    dead = "hub-agent-test-dead-1-aaa"
    old = "hub-agent-test-old-1-bbb"
    client.add_project(dead, NOW)
    client.add_project(old, NOW - timedelta(days=1))
    write_record(config, dead, pid=dead_pid())
    lines: list[str] = []
    entries = sweep(config, client, dry_run=True, now=NOW, log=lines.append)
    assert {e.project: e.action for e in entries} == {dead: "would remove", old: "would remove"}
    assert torn_down == []
    assert read_owner(config, dead) is not None
    assert all(line.startswith("reap: would remove: ") for line in lines)


def test_sweep_never_touches_other_prefixes(config, torn_down):
    client = FakeClient()
    for other in ("evv-agent-test-x-1-aaa", "hubx-agent-test-x-1-aaa", "production-db", "hub-other-1"):
        client.add_project(other, NOW - timedelta(days=30))
    entries = sweep(config, client, now=NOW, log=lambda line: None)
    assert entries == []
    assert torn_down == []


def test_sweep_keeps_the_record_when_teardown_fails(config, monkeypatch):
    client = FakeClient()
    project = "hub-agent-test-stuck-1-aaa"
    client.add_project(project, NOW)
    write_record(config, project, pid=dead_pid())

    def failing_teardown(compose, client_factory, config):
        return CleanupReport(compose.project, 1, engine.Resources(networks=("n",)), 0.1, True, "")

    monkeypatch.setattr(cleanup, "teardown", failing_teardown)
    entries = sweep(config, client, now=NOW, log=lambda line: None)
    assert entries[0].action == "failed"
    assert read_owner(config, project) is not None


def test_sweep_finds_projects_of_a_prefix_that_needed_sanitising(tmp_path, torn_down):
    config = Config(root=tmp_path, prefix="EVV.x").with_overrides(lock_dir=Path("locks"))
    project = project_name(config.prefix, "traction")
    client = FakeClient()
    client.add_project(project, NOW - timedelta(days=1))
    entries = sweep(config, client, now=NOW, log=lambda line: None)
    assert [(e.project, e.action) for e in entries] == [(project, "removed")]


# --- hosts without /proc (macOS, Windows): liveness comes from psutil alone


class FakeMacProcesses:
    """psutil as a macOS host answers it: a process table, no /proc behind it."""

    NoSuchProcess = cleanup.psutil.NoSuchProcess
    AccessDenied = cleanup.psutil.AccessDenied
    STATUS_ZOMBIE = cleanup.psutil.STATUS_ZOMBIE

    def __init__(self, table: dict[int, float]) -> None:
        self.table = table
        fake = self

        class Process:
            def __init__(self, pid: int) -> None:
                if pid not in fake.table:
                    raise fake.NoSuchProcess(pid)
                self.pid = pid

            def status(self) -> str:
                return "running"

            def create_time(self) -> float:
                return fake.table[self.pid]

        self.Process = Process


@pytest.fixture
def mac_host(monkeypatch):
    """sys.platform says darwin and nothing under /proc can be opened, by any means."""
    import builtins
    import io

    monkeypatch.setattr(sys, "platform", "darwin")
    real_open = builtins.open

    def refuse(file, *args, **kwargs):
        if str(file).startswith("/proc"):
            raise FileNotFoundError(2, "No such file or directory", str(file))
        return real_open(file, *args, **kwargs)

    monkeypatch.setattr(builtins, "open", refuse)
    monkeypatch.setattr(io, "open", refuse)
    table = {os.getpid(): 1_732_000_000.25}
    monkeypatch.setattr(cleanup, "psutil", FakeMacProcesses(table))
    with pytest.raises(OSError):
        Path("/proc/self/stat").read_text()
    return table


def test_on_a_host_without_proc_a_live_run_is_kept_and_a_dead_one_removed(config, torn_down, mac_host):
    client = FakeClient()
    live, dead, reused = "hub-agent-test-live-1-aaa", "hub-agent-test-dead-1-bbb", "hub-agent-test-reused-1-ccc"
    for project in (live, dead, reused):
        client.add_project(project, NOW - timedelta(days=2))
    write_record(config, live)  # this process, as write_owner records it
    assert read_owner(config, live).pid_start == "1732000000.25"
    write_record(config, dead, pid=424242)  # not in the process table
    write_record(config, reused, pid_start="1731990000.00")  # our pid, another start
    entries = {e.project: e for e in sweep(config, client, now=NOW, log=lambda line: None)}
    assert entries[live].action == "kept"
    assert entries[dead].action == "removed"
    assert entries[reused].action == "removed"
    assert sorted(c.project for c in torn_down) == sorted([dead, reused])
    assert read_owner(config, live) is not None


def test_on_a_host_without_proc_a_live_run_survives_repeated_sweeps(config, torn_down, mac_host):
    client = FakeClient()
    project = "hub-agent-test-live-1-aaa"
    client.add_project(project, NOW - timedelta(days=30))
    write_record(config, project)
    mac_host[os.getpid()] += 0.9  # a later reading that differs slightly (clock adjustment)
    for _ in range(3):
        assert [e.action for e in sweep(config, client, now=NOW, log=lambda line: None)] == ["kept"]
    assert torn_down == []


# --- a live run the harness cannot see (hidepid) is "unknown": kept until reap_max_age


def test_sweep_keeps_a_hidden_live_owner_until_reap_max_age(config, torn_down, monkeypatch):
    child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(30)"])
    try:
        young, old = "hub-agent-test-young-1-aaa", "hub-agent-test-old-1-bbb"
        client = FakeClient()
        client.add_project(young, NOW - timedelta(seconds=config.reap_max_age - 60))
        client.add_project(old, NOW - timedelta(seconds=config.reap_max_age + 60))
        for project in (young, old):
            write_record(config, project, pid=child.pid, pid_start=process_start_time(child.pid))
        hidepid(monkeypatch, visible=set())
        lines: list[str] = []
        entries = {e.project: e for e in sweep(config, client, now=NOW, log=lines.append)}
        assert entries[young].action == "kept"
        assert "cannot be seen" in entries[young].reason
        assert entries[old].action == "removed"
        assert [c.project for c in torn_down] == [old]
        assert any(line.startswith(f"reap: kept: {young} (owner pid {child.pid} cannot be seen") for line in lines)
    finally:
        child.kill()
        child.wait()


# --- Docker's timestamps


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("2025-01-01T12:00:00Z", datetime(2025, 1, 1, 12, 0, 0, tzinfo=timezone.utc)),
        ("2025-01-01T12:00:00.123456789Z", datetime(2025, 1, 1, 12, 0, 0, 123456, tzinfo=timezone.utc)),
        ("2025-01-01T04:00:00.5-08:00", datetime(2025, 1, 1, 12, 0, 0, 500000, tzinfo=timezone.utc)),
        ("2025-01-01T13:30:00+01:30", datetime(2025, 1, 1, 12, 0, 0, tzinfo=timezone.utc)),
        ("2025-01-01T12:00:00", datetime(2025, 1, 1, 12, 0, 0, tzinfo=timezone.utc)),
        ("2025-01-01t12:00:00.1z", datetime(2025, 1, 1, 12, 0, 0, 100000, tzinfo=timezone.utc)),
    ],
)
def test_docker_timestamps_keep_their_offset(text, expected):
    assert engine.parse_created(text) == expected


@pytest.mark.parametrize("text", ["", "yesterday", "2025-13-01T00:00:00Z", "2025-01-01 12:00"])
def test_what_is_no_docker_timestamp_is_none(text):
    assert engine.parse_created(text) is None


def test_a_project_west_of_utc_is_not_older_than_it_is(config, torn_down):
    """A volume created 10 minutes ago on a host at -08:00 must not pass reap_max_age (1 h)."""
    client = FakeClient()
    project = "hub-agent-test-west-1-aaa"
    local = (NOW - timedelta(minutes=10)).astimezone(timezone(timedelta(hours=-8)))
    client.volumes.items.append(
        FakeObject("v", {LABEL: project}, {"Labels": {LABEL: project}, "CreatedAt": local.isoformat()}, client.volumes)
    )
    entries = sweep(config, client, now=NOW, log=lambda line: None)
    assert [(e.project, e.action) for e in entries] == [(project, "kept")]
    assert torn_down == []


def test_a_runs_own_sweep_does_not_list_the_projects_it_keeps(config):
    client = FakeClient()
    project = "hub-agent-test-other-1-aaa"
    client.add_project(project, NOW - timedelta(seconds=30))  # no owner record: another user's, young
    quiet: list[str] = []
    entries = sweep(config, client, now=NOW, log=quiet.append, verbose=False)
    assert [e.action for e in entries] == ["kept"] and quiet == []
    loud: list[str] = []
    sweep(config, client, now=NOW, log=loud.append)
    assert loud and "kept" in loud[0]
