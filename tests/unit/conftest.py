"""Shared helpers for the unit tests: no Docker engine, no network beyond 127.0.0.1."""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import time
from pathlib import Path

import psutil
import pytest


def pid_alive(pid: int) -> bool:
    """True while `pid` runs (a zombie waiting to be reaped counts as gone); psutil works without /proc."""
    try:
        return psutil.Process(pid).status() != psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return False


def wait_gone(pid: int, timeout: float = 3.0) -> bool:
    """Wait until `pid` no longer runs; True when it is gone."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if not pid_alive(pid):
            return True
        time.sleep(0.02)
    return not pid_alive(pid)


def free_ports(count: int) -> list[int]:
    """`count` distinct ports the kernel considers free right now (bind port 0, note, close)."""
    sockets = []
    try:
        for _ in range(count):
            sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            sock.bind(("127.0.0.1", 0))
            sockets.append(sock)
        return [sock.getsockname()[1] for sock in sockets]
    finally:
        for sock in sockets:
            sock.close()


@pytest.fixture
def unused_ports():
    """`unused_ports(n)`: n ports free right now, chosen by the kernel (no collisions with other tests)."""
    return free_ports


@pytest.fixture
def process_gone():
    """`process_gone(pid, timeout)`: True once `pid` no longer runs."""
    return wait_gone


@pytest.fixture
def harness_root(tmp_path: Path) -> Path:
    """A project root with an empty `[tool.harness]` table."""
    (tmp_path / "pyproject.toml").write_text('[project]\nname = "x"\n\n[tool.harness]\n', encoding="utf-8")
    return tmp_path


@pytest.fixture
def kill_later():
    """Register pids to SIGKILL at teardown, so a failing test never leaves a child behind."""
    pids: list[int] = []
    yield pids.append
    for pid in pids:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.kill(pid, signal.SIGKILL)


@pytest.fixture(autouse=True)
def pinned_engine(monkeypatch: pytest.MonkeyPatch) -> None:
    """A known engine for every docker argv (no `docker context inspect` in a unit test)."""
    from harness import docker_cli
    from tests.unit.pinned import ENDPOINT

    monkeypatch.setattr(docker_cli, "_pinned", ENDPOINT)
