"""The database cache kept small: what every run's start removes (and `tidy`'s rules, one per function).

An entry's key holds the UTC day it was built on (Odoo's demo data holds dates relative to it),
so from the next day on no run computes that key again: the entry is dead weight (80 MB or more
on the engine). At its start, before it plans its own cache use, every run removes, of this
user's `db_cache_dir`:

- entries of past UTC days (not used for an hour: a run that planned a hit just before
  midnight may still be starting on it), and unusable marks of past days;
- half-built folders (`<key>.<pid>.tmp`, a `<key>/` with no entry.json, an `entry.json.*.tmp`)
  older than an hour: a build that died (a live build holds its key's lock and is never touched);
- lock files no run holds;
- the oldest-used complete entries beyond `db_cache_max_entries` (default 10);
- manifest memos (the user's private state folder) unused for `db_cache_unused_days`, and their
  half-written `*.tmp` older than an hour.

Deciding reads only the folder (names, times, entry.json): a run start with nothing to remove
makes no Docker call. Removing an entry takes its build lock (skipped when another run holds
it), then `docker rmi` without --force (an image a container runs on stays, and so does its
entry), then its folder. `nox -s reap` still checks against the engine (images gone, built from
images that are gone).
"""

from __future__ import annotations

import contextlib
import dataclasses
import datetime
import fcntl
import json
import os
import shutil
import time
from collections.abc import Callable
from pathlib import Path

from harness import engine
from harness.config import Config
from harness.dbcache import ENTRY_FILE, REPOSITORY, UNUSABLE_FILE, BuildLock
from harness.errors import EnvironmentProblem
from harness.paths import manifests_dir, private_dir, state_dir

Log = Callable[[str], None]

# A half-built folder or file this old belongs to a build or a write that died: a live one
# finishes in minutes (the longest build seen here: 60 s under load) or holds its key's lock.
# Also the grace an entry of a past day gets after its last use.
HALF_BUILT_SECONDS = 3600.0


@dataclasses.dataclass(frozen=True)
class Found:
    """One thing in the cache folder that the tidy removes, and why."""

    path: Path
    why: str
    key: str = ""  # an entry (its image goes too), else a file or folder only


@dataclasses.dataclass(frozen=True)
class Entry:
    """A complete entry: its key, its UTC day (ISO date, "" when unknown) and its last use (epoch)."""

    key: str
    day: str
    last_use: float


def tidy(config: Config, log: Log, *, now: float | None = None) -> list[Found]:
    """Remove what the run-start rules find (module docstring); returns what was removed.

    Never an error of the run: a folder that cannot be read or removed is said and left.
    """
    now = time.time() if now is None else now
    today = datetime.datetime.fromtimestamp(now, datetime.timezone.utc).date().isoformat()
    removed: list[Found] = []
    folder = config.db_cache_dir
    if folder.is_dir() and not folder.is_symlink():
        try:
            private_dir(folder)
        except EnvironmentProblem as exc:
            log(f"database cache tidy skipped: {exc}")
            return removed
        found = stale_in_cache(folder, config.db_cache_max_entries, today, now)
        removed += [item for item in found if _remove(config, item, log)]
    removed += [item for item in stale_memos(config, now) if _remove(config, item, log)]
    return removed


def stale_in_cache(folder: Path, max_entries: int, today: str, now: float) -> list[Found]:
    """What the rules remove from one cache folder (read only: names, times and entry.json)."""
    found: list[Found] = []
    complete: list[Entry] = []
    for path in sorted(folder.iterdir()):
        if path.is_symlink():
            continue  # never followed (the folder is private: nothing of ours is a link)
        age = now - _mtime(path)
        if path.suffix == ".tmp" and path.is_dir():
            if age > HALF_BUILT_SECONDS:
                found.append(Found(path, f"half-built, {_hours(age)} old"))
        elif path.suffix == ".lock" and path.is_file():
            if not _held(path):
                found.append(Found(path, "a build lock no run holds"))
        elif path.is_dir() and "." not in path.name:
            found += _in_entry(path, today, now, complete)
    complete.sort(key=lambda entry: entry.last_use, reverse=True)
    past = {item.key for item in found if item.key}
    kept = [entry for entry in complete if entry.key not in past]
    for entry in kept[max(max_entries, 0) :]:
        found.append(Found(folder / entry.key, f"beyond the {max_entries} most recently used entries", entry.key))
    return found


def _in_entry(path: Path, today: str, now: float, complete: list[Entry]) -> list[Found]:
    """The rules for one `<key>/` folder; a complete entry that stays is added to `complete`."""
    key = path.name
    found = [
        Found(tmp, f"half-written, {_hours(now - _mtime(tmp))} old")
        for tmp in path.glob(f"{ENTRY_FILE}.*.tmp")
        if now - _mtime(tmp) > HALF_BUILT_SECONDS
    ]
    entry_file = path / ENTRY_FILE
    if entry_file.is_file():
        last_use = _mtime(entry_file)
        day = _entry_day(entry_file)
        if day and day < today and now - last_use > HALF_BUILT_SECONDS:
            return [Found(path, f"built for {day} (UTC): no run computes its key again", key)]
        complete.append(Entry(key, day, last_use))
        return found
    unusable = path / UNUSABLE_FILE
    if unusable.is_file():
        day = _field_day(unusable, "when")
        if day and day < today:
            return [Found(path, f"marked unusable on {day} (UTC): no run computes its key again", key)]
        return found
    if now - _mtime(path) > HALF_BUILT_SECONDS:
        return [Found(path, f"half-built (no {ENTRY_FILE}), {_hours(now - _mtime(path))} old", key)]
    return found


def stale_memos(config: Config, now: float) -> list[Found]:
    """Manifest memos unused for db_cache_unused_days, and half-written ones older than an hour."""
    folder = manifests_dir(config)
    if not folder.is_dir() or folder.is_symlink() or state_dir(config.lock_dir).is_symlink():
        return []
    found = []
    for path in sorted(folder.iterdir()):
        if not path.is_file() or path.is_symlink():
            continue
        age = now - _mtime(path)
        if path.suffix == ".tmp" and age > HALF_BUILT_SECONDS:
            found.append(Found(path, f"half-written manifest memo, {_hours(age)} old"))
        elif path.suffix == ".json" and age > config.db_cache_unused_days * 86400:
            found.append(Found(path, f"manifest memo unused for {age / 86400:.0f} days"))
    return found


def _remove(config: Config, item: Found, log: Log) -> bool:
    """Remove one thing found; False when it stays (being built, its image in use, an error)."""
    try:
        if item.key:
            return _remove_entry(config, item, log)
        if item.path.suffix == ".lock":
            return _remove_lock(item, log)
        if item.path.is_dir():
            shutil.rmtree(item.path)
        else:
            item.path.unlink()
    except FileNotFoundError:
        return False  # another run's tidy was first
    except OSError as exc:
        log(f"database cache tidy could not remove {item.path}: {exc}")
        return False
    log(f"database cache tidy: removed {item.path.name}: {item.why}")
    return True


def _remove_entry(config: Config, item: Found, log: Log) -> bool:
    """An entry: under its build lock, its image (no --force), then its folder."""
    lock = BuildLock(config, item.key)
    if not lock.acquire():
        return False  # a run is building it right now
    try:
        image = f"{REPOSITORY}:{item.key}"
        result = engine.remove_images([image], config.command_timeout)
        if not result.ok and "no such image" not in result.output.lower():
            log(f"database cache tidy kept entry {item.key} ({item.why}): {result.output.strip()[-200:]}")
            return False
        shutil.rmtree(item.path)
        lock.path.unlink(missing_ok=True)  # held: a run opening it now opens it again (BuildLock)
    finally:
        lock.release()
    log(f"database cache tidy: removed entry {item.key}: {item.why}")
    return True


def _remove_lock(item: Found, log: Log) -> bool:
    """A lock file, removed while this process holds it (a run that opened it meanwhile opens it again)."""
    fd = os.open(item.path, os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            return False  # taken since it was found
        item.path.unlink()
    finally:
        os.close(fd)  # also drops the lock
    log(f"database cache tidy: removed {item.path.name}: {item.why}")
    return True


def _held(path: Path) -> bool:
    """True when a run holds the lock file (a probe: taken and let go at once when free)."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC)
    except OSError:
        return True  # cannot tell: leave it
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        return True
    finally:
        os.close(fd)
    return False


def _entry_day(entry_file: Path) -> str:
    """The UTC day of an entry's key: `day` in entry.json, else the day of `created` ("" unknown)."""
    data = _read(entry_file)
    day = data.get("day")
    return day if isinstance(day, str) and day else _field_day(entry_file, "created", data)


def _field_day(path: Path, field: str, data: dict[str, object] | None = None) -> str:
    """The UTC date of an ISO timestamp field of a JSON file ("" when missing or unreadable)."""
    value = (data if data is not None else _read(path)).get(field)
    if not isinstance(value, str):
        return ""
    try:
        stamp = datetime.datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return ""
    if stamp.tzinfo is None:
        stamp = stamp.replace(tzinfo=datetime.timezone.utc)
    return stamp.astimezone(datetime.timezone.utc).date().isoformat()


def _read(path: Path) -> dict[str, object]:
    with contextlib.suppress(OSError, ValueError):
        data = json.loads(path.read_text(encoding="utf-8"))
        if isinstance(data, dict):
            return data
    return {}


def _mtime(path: Path) -> float:
    try:
        return os.lstat(path).st_mtime
    except FileNotFoundError:
        return time.time()  # gone meanwhile: young, so left alone


def _hours(seconds: float) -> str:
    return f"{seconds / 3600:.1f} h"
