"""The one command runner: argument lists, timeouts, own sessions, typed results.

Every process the harness starts goes through `spawn` (directly or via `run` / `stream`), so
every child runs in a session of its own and a missing executable is always an
EnvironmentProblem. Callers that must know each child (the watchdog stops them if the run dies)
pass `on_spawn`; nothing is registered globally.
"""

from __future__ import annotations

import dataclasses
import os
import selectors
import signal
import subprocess
import time
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

from harness.errors import EnvironmentProblem
from harness.signals import critical

# How long a child gets between SIGTERM and SIGKILL when we stop it.
TERMINATE_GRACE = 5.0
# A child's line longer than this is handed on in pieces of this size: a program that prints
# without a newline for minutes cannot grow the harness without bound (the proof log keeps it all).
MAX_LINE_BYTES = 1 << 20
# Called with the pid of a child just started.
SpawnListener = Callable[[int], None]


@dataclasses.dataclass(frozen=True)
class Result:
    """What one finished command did."""

    argv: tuple[str, ...]
    returncode: int
    stdout: str
    stderr: str
    seconds: float

    @property
    def ok(self) -> bool:
        """True when the command exited 0."""
        return self.returncode == 0

    @property
    def output(self) -> str:
        """stdout and stderr together, for messages."""
        return "\n".join(part for part in (self.stdout.strip(), self.stderr.strip()) if part)


@dataclasses.dataclass(frozen=True)
class StreamResult:
    """What a streamed command did; `timed_out` when we stopped it at its deadline."""

    returncode: int | None
    seconds: float
    timed_out: bool


def spawn(
    argv: Sequence[str],
    *,
    env: Mapping[str, str] | None = None,
    cwd: Path | None = None,
    on_spawn: SpawnListener | None = None,
    text: bool = True,
    **popen: Any,
) -> subprocess.Popen[Any]:
    """Start `argv` in a session of its own with stdin from /dev/null; the caller owns the child.

    `popen` passes stdout, stderr and pass_fds through to Popen.
    """
    try:
        # Own session: a Ctrl+C at the terminal reaches only the harness, which
        # decides what its children do (the cleanup's `down` must not be hit).
        child = subprocess.Popen(
            list(argv),
            env=None if env is None else dict(env),
            cwd=cwd,
            stdin=subprocess.DEVNULL,
            start_new_session=True,
            text=text,
            errors="replace" if text else None,
            **popen,
        )
    except FileNotFoundError:
        raise EnvironmentProblem(f"{argv[0]!r} not found on PATH; run `bash scripts/provision-engine.sh`") from None
    except OSError as exc:
        raise EnvironmentProblem(f"cannot start {argv[0]!r}: {exc.strerror}") from None
    if on_spawn is not None:
        on_spawn(child.pid)
    return child


def stop(child: subprocess.Popen[Any], grace: float = TERMINATE_GRACE) -> None:
    """SIGTERM the child's process group, then SIGKILL it after `grace` seconds."""
    for sig, wait in ((signal.SIGTERM, grace), (signal.SIGKILL, grace)):
        if child.poll() is not None:
            return
        try:
            os.killpg(child.pid, sig)
        except ProcessLookupError:
            return
        try:
            child.wait(timeout=wait)
            return
        except subprocess.TimeoutExpired:
            continue


def run(
    argv: Sequence[str],
    *,
    timeout: float,
    env: Mapping[str, str] | None = None,
    on_spawn: SpawnListener | None = None,
    cwd: Path | None = None,
) -> Result:
    """Run `argv` to completion and capture its output; raise EnvironmentProblem on timeout."""
    started = time.monotonic()
    child = None
    try:
        with critical():  # a signal now is raised once `child` is set: the except below stops it
            child = spawn(argv, env=env, cwd=cwd, on_spawn=on_spawn, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        stdout, stderr = child.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        stop(child)
        raise EnvironmentProblem(f"`{' '.join(argv[:4])} ...` did not finish within {timeout:.0f} s") from None
    except BaseException:
        # Interrupted (signal) or anything else: never leave the child behind.
        if child is not None:
            stop(child)
        raise
    return Result(tuple(argv), child.returncode, stdout, stderr, time.monotonic() - started)


def stream(
    argv: Sequence[str],
    on_line: Callable[[str], None],
    *,
    timeout: float,
    env: Mapping[str, str] | None = None,
    poll: float = 0.25,
    on_spawn: SpawnListener | None = None,
    on_idle: Callable[[float], None] | None = None,
    clock: Callable[[], float] = time.monotonic,
) -> StreamResult:
    """Run `argv`, handing each line of stdout+stderr to `on_line` as it arrives.

    `on_idle(seconds so far)` is called after every `poll` seconds without output; `clock` is
    the time source of the deadline (tests inject one).
    """
    started = clock()
    deadline = started + timeout
    child = None
    try:
        with critical():  # a signal now is raised once `child` is set: the except below stops it
            child = spawn(
                argv, env=env, on_spawn=on_spawn, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=False
            )
    except BaseException:
        if child is not None:
            stop(child)
            if child.stdout is not None:
                child.stdout.close()
        raise
    assert child.stdout is not None
    fd = child.stdout.fileno()
    # Raw reads, no Python buffering: select() then tells the truth about what is
    # pending, and a partial line can never block us past the deadline.
    pending = b""
    timed_out = False
    try:
        with selectors.DefaultSelector() as selector:
            selector.register(fd, selectors.EVENT_READ)
            while True:
                if clock() > deadline:
                    timed_out = True
                    stop(child)
                    break
                if not selector.select(timeout=poll):
                    if on_idle is not None:
                        on_idle(clock() - started)
                    continue
                chunk = os.read(fd, 65536)
                if not chunk:
                    break
                *lines, pending = (pending + chunk).split(b"\n")
                for line in lines:
                    on_line(_decode(line))
                while len(pending) > MAX_LINE_BYTES:
                    on_line(_decode(pending[:MAX_LINE_BYTES]))
                    pending = pending[MAX_LINE_BYTES:]
        if pending:
            on_line(_decode(pending))
        child.wait(timeout=TERMINATE_GRACE)
    except BaseException:
        stop(child)
        raise
    finally:
        child.stdout.close()
    return StreamResult(None if timed_out else child.returncode, clock() - started, timed_out)


def _decode(line: bytes) -> str:
    """One line of a child's output as text: bad bytes replaced, a Windows line end dropped."""
    return line.decode("utf-8", errors="replace").rstrip("\r")
