"""Host ports: probe by binding, lock per port across processes, never `lsof`."""

from __future__ import annotations

import contextlib
import dataclasses
import errno
import fcntl
import os
import pwd
import socket
import stat
from collections.abc import Callable, Iterable
from pathlib import Path

from harness.errors import EnvironmentProblem, NoFreePort

# Port locks and owner records are shared by every user's runs on the machine: with a folder
# per user, two users would lease the same port and the sweep could not tell a live run of
# another user from a dead one. A folder the harness creates gets /tmp's mode: everyone
# creates files, and the sticky bit keeps each user from deleting another's (a deleted lock
# file would let a second run take a port that is still held).
SHARED_DIR_MODE = 0o1777


@dataclasses.dataclass
class PortLease:
    """A host port this process holds: the flock on its lock file lives until `release()`."""

    port: int
    lock_path: Path
    _fd: int | None = None

    def release(self) -> None:
        """Drop the lock; the kernel also drops it if the process dies."""
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None


def port_is_bindable(port: int, host: str = "127.0.0.1") -> bool:
    """True when nothing on this machine listens on `host:port` (we can bind it ourselves)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        # SO_REUSEADDR, as Docker's proxy binds: a port whose last connections
        # linger in TIME_WAIT is free for it, while any listener still makes it busy.
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((host, port))
        except OSError as exc:
            if exc.errno in (errno.EADDRINUSE, errno.EACCES):
                return False
            raise
    return True


def _owner_name(uid: int) -> str:
    try:
        return pwd.getpwuid(uid).pw_name
    except KeyError:
        return str(uid)


def shared_dir(path: Path) -> Path:
    """`path`, a folder every user's runs on this machine can write to; created with mode 1777 when missing.

    A folder that already exists keeps its mode (one named in HARNESS_LOCK_DIR stays as its
    owner made it). One this user cannot write to is an environment error saying how to fix it.
    """
    try:
        path.mkdir(parents=True)
    except FileExistsError:
        pass
    else:
        path.chmod(SHARED_DIR_MODE)  # mkdir's mode is cut by the umask; chmod is not
    if not os.access(path, os.W_OK | os.X_OK):
        info = path.stat()
        raise EnvironmentProblem(
            f"{path} belongs to {_owner_name(info.st_uid)} (mode {stat.S_IMODE(info.st_mode):o}) and user "
            f"{_owner_name(os.geteuid())} cannot write to it: every user's runs on this machine share its port "
            f"locks and owner records. Its owner can open it to all users as /tmp is: "
            f"`find {path} -type d -exec chmod 1777 {{}} +`; "
            f"or set HARNESS_LOCK_DIR to a folder of your own (runs of other users are then not seen)"
        )
    return path


def open_lock_file(path: Path) -> tuple[int, bool]:
    """A descriptor for flock on `path`, creating it; and whether it is writable.

    Never opens an existing file with O_CREAT (fs.protected_regular refuses that for another
    user's file in a sticky folder); a file this user creates is made writable by all
    (0666, whatever the umask). Another user's read-only lock file is opened read-only:
    flock needs no write access.
    """
    while True:
        try:
            return os.open(path, os.O_RDWR), True
        except FileNotFoundError:
            pass
        except PermissionError:
            return os.open(path, os.O_RDONLY), False
        try:
            fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_EXCL, 0o666)
        except FileExistsError:
            continue  # another run created it between our two opens
        os.fchmod(fd, 0o666)
        return fd, True


def _try_lock(lock_dir: Path, port: int) -> PortLease | None:
    path = shared_dir(lock_dir) / f"port-{port}.lock"
    fd, writable = open_lock_file(path)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        os.close(fd)
        return None
    if writable:  # who holds it, for a human reading the folder
        os.ftruncate(fd, 0)
        os.write(fd, f"{os.getpid()}\n".encode())
    return PortLease(port, path, fd)


def acquire_port(
    ports: Iterable[int],
    lock_dir: Path,
    *,
    host: str = "127.0.0.1",
    docker_published: Callable[[], set[int]] = set,
    skip: Iterable[int] = (),
    range_text: str = "",
) -> PortLease:
    """Lock and return the first port of `ports` no harness run holds and nothing listens on.

    `docker_published` names ports Docker already publishes (they may hold no
    host socket at all with userland-proxy off). Raises NoFreePort naming the
    busy ports and why each was busy.
    """
    busy: list[str] = []
    published = docker_published()
    skipped = set(skip)
    for port in ports:
        if port in skipped:
            busy.append(f"{port} (lost to another process on up)")
            continue
        if port in published:
            busy.append(f"{port} (published by a Docker container)")
            continue
        lease = _try_lock(lock_dir, port)
        if lease is None:
            busy.append(f"{port} (held by another harness run)")
            continue
        if port_is_bindable(port, host):
            return lease
        lease.release()
        busy.append(f"{port} (in use on {host})")
    raise NoFreePort(f"No available ports in range {range_text}: busy: {', '.join(busy) or 'none'}")


@contextlib.contextmanager
def hold_ports(ports: Iterable[int], host: str = "127.0.0.1") -> Iterable[list[socket.socket]]:
    """Listen on every port given (for tests and the port-exhaustion demonstration)."""
    sockets: list[socket.socket] = []
    try:
        for port in ports:
            sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # TIME_WAIT leftovers must not stop us
            sock.bind((host, port))
            sock.listen()
            sockets.append(sock)
        yield sockets
    finally:
        for sock in sockets:
            sock.close()
