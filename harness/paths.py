"""Where the harness keeps things, and which folders and files it may trust: shared, private, the container's.

Shared (one per machine, every user's runs): the lock folder (`lock_dir`) with its port locks.
Private (this user's, mode 0700, checked): the state folder `<lock_dir>-<uid>` with owner records
(`owners/`) and manifest memos (`manifests/`), and the database cache folder (`db_cache_dir`)
with its entries and build locks. Every module that needs one of these folders asks this one.

Another user who can write to a folder the harness uses could otherwise turn a root run against
the machine: a symlinked or hard-linked lock file makes the run write through the link, a forged
record makes it run a command of theirs. Every check here fails with an EnvironmentProblem that
names the path and why it was refused; nothing here ever deletes or rewrites what it refuses.
"""

from __future__ import annotations

import contextlib
import json
import os
import pwd
import stat
from pathlib import Path
from typing import TYPE_CHECKING, Any

from harness.errors import EnvironmentProblem

if TYPE_CHECKING:
    from harness.config import Config

# Where docker-compose.agent.yml mounts the first addons folder inside the odoo container (the
# further ones: harness/addons_path.py).
CONTAINER_ADDONS = "/mnt/extra-addons"

PRIVATE_MODE = 0o700
# What the harness gives a shared folder it creates: /tmp's mode (everyone creates files, the
# sticky bit keeps each user from deleting or replacing another's).
SHARED_MODE = 0o1777
# A lock or memo file this user creates: readable by others (flock needs only a read descriptor).
FILE_MODE = 0o644


def owner_name(uid: int) -> str:
    """The user name of `uid`, or the number when it has none."""
    try:
        return pwd.getpwuid(uid).pw_name
    except KeyError:
        return str(uid)


def state_dir(lock_dir: Path) -> Path:
    """This user's private state folder beside the shared lock folder: `<lock_dir>-<uid>`.

    Owner records and manifest memos live there; only the user can read or write it, so no
    other user can plant anything the harness would read.
    """
    return lock_dir.with_name(f"{lock_dir.name}-{os.geteuid()}")


def _refuse(path: Path, why: str, fix: str) -> EnvironmentProblem:
    return EnvironmentProblem(f"refusing {path}: {why}; {fix}")


def _make_dir(path: Path, mode: int) -> bool:
    """Create `path` (parents as the umask allows) with exactly `mode`; False when it existed."""
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        os.mkdir(path, PRIVATE_MODE)  # never open to others before the chmod below
    except FileExistsError:
        return False
    os.chmod(path, mode, follow_symlinks=False)
    return True


def private_dir(path: Path) -> Path:
    """`path`, a folder only this user can enter: created 0700, else checked (ours, not a link, 0700).

    A folder of ours that others may enter is closed (chmod 0700); one that is a symbolic link,
    not a folder, or belongs to another user is refused, naming it.
    """
    _make_dir(path, PRIVATE_MODE)
    info = os.lstat(path)
    me = os.geteuid()
    if stat.S_ISLNK(info.st_mode):
        raise _refuse(path, "it is a symbolic link (private state is never kept behind a link)", "remove the link")
    if not stat.S_ISDIR(info.st_mode):
        raise _refuse(path, "it is not a folder", "remove it")
    if info.st_uid != me:
        raise _refuse(
            path,
            f"it belongs to {owner_name(info.st_uid)}, not to {owner_name(me)} (private state must be the user's own)",
            f"remove it (`rm -rf {path}`, as its owner or root) and run again",
        )
    if stat.S_IMODE(info.st_mode) != PRIVATE_MODE:
        os.chmod(path, PRIVATE_MODE, follow_symlinks=False)
    return path


def shared_dir(path: Path) -> Path:
    """`path`, a folder every user's runs may write to, checked before anything in it is trusted.

    Created with mode 1777 when missing. An existing one must be a real folder (not a link),
    owned by root or by this user, and, when others may write to it, sticky (else they could
    replace this user's files). This user must be able to write to it.
    """
    created = _make_dir(path, SHARED_MODE)
    info = os.lstat(path)
    me = os.geteuid()
    if stat.S_ISLNK(info.st_mode):
        raise _refuse(path, "it is a symbolic link", "remove the link, or set HARNESS_LOCK_DIR to a folder of your own")
    if not stat.S_ISDIR(info.st_mode):
        raise _refuse(path, "it is not a folder", "remove it, or set HARNESS_LOCK_DIR to a folder of your own")
    mode = stat.S_IMODE(info.st_mode)
    if info.st_uid not in (0, me):
        raise _refuse(
            path,
            f"it belongs to {owner_name(info.st_uid)}, who could replace any file in it; a shared folder must "
            f"belong to root or to {owner_name(me)}",
            f"let root create it for every user (`sudo install -d -m 1777 -o root {path}`), "
            "or set HARNESS_LOCK_DIR to a folder of your own",
        )
    if mode & (stat.S_IWGRP | stat.S_IWOTH) and not mode & stat.S_ISVTX:
        raise _refuse(
            path,
            f"others may write to it (mode {mode:o}) and it is not sticky, so they could replace this user's files",
            f"`chmod +t {path}` (as its owner)",
        )
    if not created and not os.access(path, os.W_OK | os.X_OK):
        raise _refuse(
            path,
            f"user {owner_name(me)} cannot write to it (mode {mode:o}, owner {owner_name(info.st_uid)})",
            f"its owner can open it to all users as /tmp is (`chmod 1777 {path}`), "
            "or set HARNESS_LOCK_DIR to a folder of your own",
        )
    return path


def open_lock_file(path: Path) -> tuple[int, bool]:
    """A descriptor to flock `path` with, creating it; and whether this user created it (may write it).

    Never follows a link (O_NOFOLLOW) and never opens anything but a regular file with one
    link: a symbolic link, a FIFO, a device or a hard link planted in a shared folder is refused,
    naming it. A file another user created is opened read-only (flock needs no more) and never
    written; one this user creates gets mode 0644.
    """
    me = os.geteuid()
    while True:
        try:
            before = os.lstat(path)
        except FileNotFoundError:
            try:
                fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC, FILE_MODE)
            except FileExistsError:
                continue  # another run created it between our lstat and open
            os.fchmod(fd, FILE_MODE)
            return fd, True
        _check_plain_file(path, before)
        ours = before.st_uid == me
        flags = (os.O_RDWR if ours else os.O_RDONLY) | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC
        try:
            fd = os.open(path, flags)
        except FileNotFoundError:
            continue  # removed meanwhile: create it
        except PermissionError:
            if not ours:
                raise _refuse(path, "this user may not even read it", "remove it (as its owner or root)") from None
            ours = False  # our own file, made read-only: flock needs no more
            fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC)
        except OSError as exc:
            raise _refuse(path, f"it cannot be opened without following it ({exc.strerror})", "remove it") from None
        after = os.fstat(fd)
        if (after.st_dev, after.st_ino) != (before.st_dev, before.st_ino):
            os.close(fd)  # replaced between lstat and open: look again
            continue
        try:
            _check_plain_file(path, after)
        except EnvironmentProblem:
            os.close(fd)
            raise
        return fd, ours


def _check_plain_file(path: Path, info: os.stat_result) -> None:
    if stat.S_ISLNK(info.st_mode):
        raise _refuse(
            path,
            "it is a symbolic link, and the harness never writes through a link in a folder others can write to",
            "remove it (as its owner or root)",
        )
    if not stat.S_ISREG(info.st_mode):
        raise _refuse(path, "it is not a regular file", "remove it (as its owner or root)")
    if info.st_nlink != 1:
        raise _refuse(
            path,
            f"it has {info.st_nlink} hard links (another name for some other file)",
            "remove it (as its owner or root)",
        )


def write_fd(fd: int, text: str) -> None:
    """Replace the content of a file this user created and holds open (e.g. a lock's holder pid)."""
    os.ftruncate(fd, 0)
    os.pwrite(fd, text.encode(), 0)


def read_json(path: Path) -> Any:
    """The JSON in `path`, read without following a link; None when missing, unreadable or not JSON."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC)
    except OSError:
        return None
    with contextlib.closing(os.fdopen(fd, "rb")) as handle:
        info = os.fstat(handle.fileno())
        if not stat.S_ISREG(info.st_mode) or info.st_uid != os.geteuid():
            return None  # not a file this user wrote: never trusted
        try:
            return json.loads(handle.read().decode("utf-8"))
        except (ValueError, UnicodeDecodeError):
            return None


def owners_dir(config: Config) -> Path:
    """Where this user's owner records live: `owners/` in the user's private state folder."""
    return state_dir(config.lock_dir) / "owners"


def manifests_dir(config: Config) -> Path:
    """Where the addons of an Odoo image are memoised, by image ID (harness/dependencies.py): private."""
    return state_dir(config.lock_dir) / "manifests"


def private_state_dir(folder: Path, config: Config) -> Path:
    """`folder` (owners_dir or manifests_dir), created and checked private, as its parent state folder."""
    private_dir(state_dir(config.lock_dir))
    return private_dir(folder)
