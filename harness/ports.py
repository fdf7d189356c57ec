"""Host ports: probe by binding, lock per port across processes, never `lsof`."""

from __future__ import annotations

import contextlib
import dataclasses
import errno
import fcntl
import os
import socket
import time
from collections.abc import Callable, Iterable
from pathlib import Path

from harness import paths
from harness.errors import NoFreePort

# Port locks are the one thing every user's runs on the machine share (harness/paths.py checks
# the folder and opens each file without following links): with a folder per user, two users'
# runs would lease the same port and only the bind probe and the `up` retry would part them.


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


def _try_lock(lock_dir: Path, port: int) -> PortLease | None:
    path = paths.shared_dir(lock_dir) / f"port-{port}.lock"
    fd, ours = paths.open_lock_file(path)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        os.close(fd)
        return None
    if ours:  # who holds it, for a human reading the folder; another user's file is never written
        paths.write_fd(fd, f"{os.getpid()}\n")
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


def wait_for_port(
    acquire: Callable[[], PortLease],
    *,
    wait: float,
    poll: float = 0.5,
    on_wait: Callable[[str], None] = lambda message: None,
    clock: Callable[[], float] = time.monotonic,
    sleep: Callable[[float], None] = time.sleep,
) -> PortLease:
    """`acquire()`, and while every port is busy try again every `poll` s for up to `wait` s (a queue).

    With `wait` 0 the first NoFreePort goes to the caller, as without a queue.
    """
    deadline = clock() + wait
    said = False
    while True:
        try:
            return acquire()
        except NoFreePort as exc:
            if clock() + poll > deadline:
                raise
            if not said:
                on_wait(f"every port is busy; waiting up to {wait:.0f} s for one ({exc})")
                said = True
            sleep(poll)


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
