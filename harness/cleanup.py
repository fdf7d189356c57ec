"""Cleaning up: one project's teardown, verified by label, and the sweep of dead runs' projects (by owner record)."""

from __future__ import annotations

import contextlib
import dataclasses
import os
import socket
import time
from collections.abc import Callable
from datetime import datetime, timezone
from pathlib import Path
from typing import Literal

import psutil
from docker import DockerClient

from harness import engine
from harness.compose import Compose, compose_env
from harness.config import Config
from harness.errors import HarnessError
from harness.paths import owners_dir, private_state_dir, read_json
from harness.proof import write_json
from harness.records import CleanupReport, Resources

# A label check the engine did not answer (restarting, or its connection lost) is tried again after
# this pause, until config.engine_wait has passed; then the project is reported as possibly left.
CHECK_RETRY_PAUSE = 2.0


def unknown_leftovers(project: str) -> Resources:
    """What the result names when the engine could not be asked: the whole project, maybe left."""
    return Resources(containers=(f"<unknown: the engine did not answer; project {project} may be left>",))


def _describe(exc: Exception) -> str:
    return exc.message if isinstance(exc, HarnessError) else f"{type(exc).__name__}: {exc}"


def teardown(compose: Compose, client_factory: Callable[[], DockerClient], config: Config) -> CleanupReport:
    """`down -v --remove-orphans`, then check the label; force-remove by exact label whatever stayed.

    Never raises for the engine's faults: an SDK error (connection lost, API error, an engine
    restarting) is retried, then reported with the project named as possibly left.
    """
    started = time.monotonic()
    down_code: int | None = None
    error = ""
    try:
        down_code = compose.down(config.stop_timeout, config.down_timeout).returncode
    except Exception as exc:  # noqa: BLE001 - the label check below still runs
        error = _describe(exc)
    forced = False
    left = unknown_leftovers(compose.project)
    deadline = time.monotonic() + config.engine_wait
    while True:
        try:
            client = client_factory()
            left = engine.project_resources(client, compose.project)
            if not left.empty:
                # `down` exits 0 even when it leaves a network "still in use": its code proves nothing.
                forced = True
                engine.remove_project_resources(client, compose.project)
                left = engine.project_resources(client, compose.project)
            error = ""
            break
        except Exception as exc:  # noqa: BLE001 - docker.errors.*, requests' connection errors, HarnessError
            left = unknown_leftovers(compose.project)
            error = _describe(exc)
            if time.monotonic() + CHECK_RETRY_PAUSE > deadline:
                break
            time.sleep(CHECK_RETRY_PAUSE)
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


def child_start_time(pid: int) -> str | None:
    """When our child `pid` started, even if it already exited (a zombie not yet waited for)."""
    try:
        return f"{psutil.Process(pid).create_time():.2f}"
    except (psutil.NoSuchProcess, psutil.AccessDenied, ValueError):
        return None


# What the harness can tell about a run's process: it runs, it is gone, or it cannot be seen
# (another user's under /proc hidepid=2, another host's, one psutil may not inspect).
Liveness = Literal["alive", "dead", "unknown"]


def process_liveness(pid: int, start: str | None) -> Liveness:
    """Whether the process `pid` that started at `start` (from process_start_time) still runs.

    psutil's NoSuchProcess alone does not prove a process gone: with /proc mounted hidepid=2
    another user's processes are invisible. kill(pid, 0) still tells: ESRCH only when no
    process has that pid. What cannot be checked is "unknown", never "dead".
    """
    try:
        process = psutil.Process(pid)
        if process.status() == psutil.STATUS_ZOMBIE:
            return "dead"
        if start is None or "." not in start:
            # No start time, or a record of an older harness (kernel clock ticks): the pid alone.
            return "unknown"
        return "alive" if abs(process.create_time() - float(start)) <= START_TIME_TOLERANCE else "dead"
    except psutil.AccessDenied:
        return "unknown"
    except (psutil.NoSuchProcess, ValueError):
        pass
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return "dead"
    except (PermissionError, OverflowError, ValueError):
        return "unknown"
    return "unknown"  # it exists, but psutil cannot see it: its start time cannot be checked


def process_is(pid: int, start: str | None) -> bool:
    """True while the process `pid` that started at `start` certainly still runs."""
    return process_liveness(pid, start) == "alive"


@dataclasses.dataclass(frozen=True)
class OwnerRecord:
    """The process that owns a project, written before the project's first resource exists.

    It carries no command, file list or environment: the sweep rebuilds what `down` needs
    from the project's name and its own configuration, so a record can never make it run
    anything of someone else's.
    """

    project: str
    pid: int
    pid_start: str | None
    host: str
    created: float
    uid: int = -1

    def liveness(self) -> Liveness:
        """alive / dead / unknown (a record of another host is never "dead": we cannot look)."""
        if self.host != socket.gethostname():
            return "unknown"
        return process_liveness(self.pid, self.pid_start)

    def is_alive(self) -> bool:
        """True only while the owning process certainly runs."""
        return self.liveness() == "alive"


def _owners_dir_for_writing(config: Config) -> Path:
    """The owners folder, created (and checked) private: mode 0700, this user's, not a link."""
    return private_state_dir(owners_dir(config), config)


def write_owner(config: Config, compose: Compose) -> Path:
    """Record this process as the owner of `compose.project` (who and since when; nothing to run)."""
    pid = os.getpid()
    record = OwnerRecord(compose.project, pid, process_start_time(pid), socket.gethostname(), time.time(), os.geteuid())
    path = _owners_dir_for_writing(config) / f"{compose.project}.json"
    write_json(path, dataclasses.asdict(record))
    return path


_RECORD_FIELDS = {field.name for field in dataclasses.fields(OwnerRecord)}


def read_owner(config: Config, project: str) -> OwnerRecord | None:
    """The owner record of `project`, or None (also for a file this user did not write, or a link)."""
    data = read_json(owners_dir(config) / f"{project}.json")
    if not isinstance(data, dict):
        return None
    try:
        # Older records also held `files` and `env`: they are never read again.
        record = OwnerRecord(**{key: value for key, value in data.items() if key in _RECORD_FIELDS})
    except TypeError:
        return None
    if not isinstance(record.pid, int) or record.project != project:
        return None
    return record


def remove_owner(config: Config, project: str) -> None:
    """Forget the owner record once the project is gone."""
    with contextlib.suppress(OSError):
        (owners_dir(config) / f"{project}.json").unlink()


def compose_for_sweep(config: Config, project: str) -> Compose:
    """A Compose handle for `down` of a project known only by name: this configuration's own compose
    files and environment (the variables they read, with a placeholder port), nothing from a record."""
    return Compose(project, config.compose_files, compose_env(config, config.ports[0]))


# What the sweep did with a project: `failed` when its teardown left something.
SweepAction = Literal["removed", "would remove", "kept", "failed"]


@dataclasses.dataclass(frozen=True)
class SweepEntry:
    """One project the sweep looked at and what it decided."""

    project: str
    action: SweepAction
    reason: str


def sweep(
    config: Config,
    client: DockerClient,
    *,
    dry_run: bool = False,
    now: datetime | None = None,
    log: Callable[[str], None] = print,
    verbose: bool = True,
) -> list[SweepEntry]:
    """Remove this prefix's projects whose owner is gone, or that have no owner and are too old.

    `verbose=False` (a run's pre-flight sweep) leaves out the projects it keeps.
    """
    now = now or datetime.now(timezone.utc)
    entries: list[SweepEntry] = []
    for info in engine.list_projects(client, config.project_prefix):
        record = read_owner(config, info.name)
        age = (now - info.created).total_seconds() if info.created else None
        age_text = "unknown" if age is None else f"{age:.0f} s"
        young = age is None or age < config.reap_max_age
        liveness = record.liveness() if record is not None else "unknown"
        if liveness == "alive":
            entries.append(SweepEntry(info.name, "kept", f"owner pid {record.pid} is alive"))
            continue
        if liveness == "unknown" and young:
            who = (
                "no owner record of this user (another user's run, or one whose record is gone)"
                if record is None
                else f"owner pid {record.pid} cannot be seen (another user's or host's process, or hidden)"
            )
            entries.append(SweepEntry(info.name, "kept", f"{who}; age {age_text} < {config.reap_max_age:.0f} s"))
            continue
        if record is None:
            reason = f"no owner record and {age_text} old"
        elif liveness == "dead":
            reason = f"owner pid {record.pid} is gone"
        else:
            reason = f"owner pid {record.pid} cannot be seen and the project is {age_text} old"
        if dry_run:
            entries.append(SweepEntry(info.name, "would remove", reason))
            continue
        report = teardown(compose_for_sweep(config, info.name), lambda: client, config)
        if report.clean:
            remove_owner(config, info.name)
        entries.append(SweepEntry(info.name, "removed" if report.clean else "failed", reason))
    for entry in entries:
        # A run's own sweep says only what it did: live runs (other users' among them) are none of its business.
        if verbose or entry.action != "kept":
            log(f"reap: {entry.action}: {entry.project} ({entry.reason})")
    return entries
