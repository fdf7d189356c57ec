"""Teardown of one project, verified by label; owner records; the sweep of dead runs' projects."""

from __future__ import annotations

import contextlib
import dataclasses
import json
import os
import socket
import time
from collections.abc import Callable
from datetime import datetime, timezone
from pathlib import Path

import psutil
from docker import DockerClient

from harness import engine
from harness.compose import Compose
from harness.config import Config
from harness.errors import HarnessError
from harness.paths import owners_dir, shared_dir
from harness.proof import write_json
from harness.records import CleanupReport, Resources


def teardown(compose: Compose, client_factory: Callable[[], DockerClient], config: Config) -> CleanupReport:
    """`down -v --remove-orphans`, then check the label; force-remove by exact label whatever stayed."""
    started = time.monotonic()
    down_code: int | None = None
    error = ""
    try:
        down_code = compose.down(config.stop_timeout, config.down_timeout).returncode
    except HarnessError as exc:
        error = exc.message
    forced = False
    try:
        client = client_factory()
        left = engine.project_resources(client, compose.project)
        if not left.empty:
            # `down` exits 0 even when it leaves a network "still in use": its code proves nothing.
            forced = True
            engine.remove_project_resources(client, compose.project)
            left = engine.project_resources(client, compose.project)
        error = ""
    except HarnessError as exc:
        left = Resources(containers=("<unknown: engine not reachable>",))
        error = error or exc.message
    return CleanupReport(compose.project, down_code, left, time.monotonic() - started, forced, error)


# --- Owner records: who started a project, so a sweep can tell live runs from dead ones.


# How far two readings of one process's start time may differ. psutil derives it on
# Linux from the boot time, which the kernel reports to the second and which clock
# adjustments can move by a second; macOS and Windows report it exactly. A reused pid
# belongs to a process started after ours ended, so a tolerance this small cannot
# mistake it for ours.
START_TIME_TOLERANCE = 1.5


def process_start_time(pid: int) -> str | None:
    """When `pid` started (seconds since the epoch, as text), or None when it is gone.

    Together with the pid and the host it names one process for good: pids are reused,
    start times are not. psutil reads it the same way on Linux, macOS and Windows.
    """
    try:
        process = psutil.Process(pid)
        if process.status() == psutil.STATUS_ZOMBIE:
            return None
        return f"{process.create_time():.2f}"
    except (psutil.NoSuchProcess, psutil.AccessDenied, ValueError):
        return None


def process_is(pid: int, start: str | None) -> bool:
    """True while the process `pid` that started at `start` (from process_start_time) still runs.

    When the process exists but may not be inspected (another user's, on some systems),
    it counts as running: the sweep must never remove a live run's project.
    """
    if start is None:
        return False
    try:
        process = psutil.Process(pid)
        if process.status() == psutil.STATUS_ZOMBIE:
            return False
        if "." not in start:
            # A record of an older harness (kernel clock ticks): the pid alone is all it can tell.
            return True
        return abs(process.create_time() - float(start)) <= START_TIME_TOLERANCE
    except psutil.AccessDenied:
        return True
    except (psutil.NoSuchProcess, ValueError):
        return False


@dataclasses.dataclass(frozen=True)
class OwnerRecord:
    """The process that owns a project, written before the project's first resource exists."""

    project: str
    pid: int
    pid_start: str | None
    host: str
    created: float
    files: tuple[str, ...]
    env: dict[str, str]

    def is_alive(self) -> bool:
        """True while the owning process still runs (records from other hosts count as alive)."""
        if self.host != socket.gethostname():
            return True
        return process_is(self.pid, self.pid_start)


def _owners_dir_for_writing(config: Config) -> Path:
    """The owners folder, created open to every user (paths.shared_dir): each user's runs record there."""
    shared_dir(config.lock_dir)
    return shared_dir(owners_dir(config))


def write_owner(config: Config, compose: Compose) -> Path:
    """Record this process as the owner of `compose.project` (with the project's environment, for `down`)."""
    pid = os.getpid()
    record = OwnerRecord(
        compose.project,
        pid,
        process_start_time(pid),
        socket.gethostname(),
        time.time(),
        tuple(str(f) for f in compose.files),
        # What `down` needs to read the compose files; never a password (the folder is shared).
        {key: value for key, value in compose.env.items() if "PASSWORD" not in key},
    )
    path = _owners_dir_for_writing(config) / f"{compose.project}.json"
    write_json(path, dataclasses.asdict(record))
    return path


def read_owner(config: Config, project: str) -> OwnerRecord | None:
    """The owner record of `project`, or None."""
    path = owners_dir(config) / f"{project}.json"
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        data["files"] = tuple(data["files"])
        return OwnerRecord(**data)
    except (OSError, ValueError, TypeError, KeyError):
        return None


def remove_owner(config: Config, project: str) -> None:
    """Forget the owner record once the project is gone.

    A record of another user's run, swept by this user, stays: the sticky owners folder lets
    only its writer delete it, and a record whose project is gone is never read again.
    """
    with contextlib.suppress(FileNotFoundError, PermissionError):
        (owners_dir(config) / f"{project}.json").unlink()


def compose_for_record(project: str, record: OwnerRecord | None) -> Compose:
    """A Compose handle able to run `down` for a project we may know only by name."""
    if record is None:
        # Compose rebuilds a project from its labels when given only -p.
        return Compose(project, ())
    return Compose(project, tuple(Path(f) for f in record.files), record.env)


@dataclasses.dataclass(frozen=True)
class SweepEntry:
    """One project the sweep looked at and what it decided."""

    project: str
    action: str  # "removed", "would remove", "kept"
    reason: str


def sweep(
    config: Config,
    client: DockerClient,
    *,
    dry_run: bool = False,
    now: datetime | None = None,
    log: Callable[[str], None] = print,
) -> list[SweepEntry]:
    """Remove this prefix's projects whose owner is gone, or that have no owner and are too old."""
    now = now or datetime.now(timezone.utc)
    entries: list[SweepEntry] = []
    for info in engine.list_projects(client, config.project_prefix):
        record = read_owner(config, info.name)
        age = (now - info.created).total_seconds() if info.created else None
        if record is not None and record.is_alive():
            entries.append(SweepEntry(info.name, "kept", f"owner pid {record.pid} is alive"))
            continue
        if record is None and (age is None or age < config.reap_max_age):
            age_text = "unknown" if age is None else f"{age:.0f} s"
            entries.append(
                SweepEntry(info.name, "kept", f"no owner record, age {age_text} < {config.reap_max_age:.0f} s")
            )
            continue
        reason = f"owner pid {record.pid} is gone" if record else f"no owner record and {age:.0f} s old"
        if dry_run:
            entries.append(SweepEntry(info.name, "would remove", reason))
            continue
        report = teardown(compose_for_record(info.name, record), lambda: client, config)
        if report.clean:
            remove_owner(config, info.name)
        entries.append(SweepEntry(info.name, "removed" if report.clean else "failed", reason))
    for entry in entries:
        log(f"reap: {entry.action}: {entry.project} ({entry.reason})")
    return entries
