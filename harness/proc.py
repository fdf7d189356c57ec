"""A tiny command runner: argument lists, timeouts, own sessions, typed results."""

from __future__ import annotations

import dataclasses
import os
import selectors
import signal
import subprocess
import time
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from harness.errors import EnvironmentProblem

# How long a child gets between SIGTERM and SIGKILL when we stop it.
TERMINATE_GRACE = 5.0
# Called with the pid of every child started here: the watchdog must know them,
# because children in their own session outlive a SIGKILLed harness.
SPAWN_LISTENERS: list[Callable[[int], None]] = []


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


def _spawn(
    argv: Sequence[str], env: Mapping[str, str] | None, *, text: bool = True, **kwargs: object
) -> subprocess.Popen[Any]:
    try:
        # Own session: a Ctrl+C at the terminal reaches only the harness, which
        # decides what its children do (the cleanup's `down` must not be hit).
        child = subprocess.Popen(
            list(argv),
            env=None if env is None else dict(env),
            stdin=subprocess.DEVNULL,
            start_new_session=True,
            text=text,
            errors="replace" if text else None,
            **kwargs,  # type: ignore[arg-type]
        )
    except FileNotFoundError:
        raise EnvironmentProblem(f"{argv[0]!r} not found on PATH; run `bash scripts/provision-engine.sh`") from None
    except OSError as exc:
        raise EnvironmentProblem(f"cannot start {argv[0]!r}: {exc.strerror}") from None
    for listener in SPAWN_LISTENERS:
        listener(child.pid)
    return child


def stop(proc: subprocess.Popen[Any], grace: float = TERMINATE_GRACE) -> None:
    """SIGTERM the child's process group, then SIGKILL it after `grace` seconds."""
    for sig, wait in ((signal.SIGTERM, grace), (signal.SIGKILL, grace)):
        if proc.poll() is not None:
            return
        try:
            os.killpg(proc.pid, sig)
        except ProcessLookupError:
            return
        try:
            proc.wait(timeout=wait)
            return
        except subprocess.TimeoutExpired:
            continue


def run(argv: Sequence[str], *, timeout: float, env: Mapping[str, str] | None = None) -> Result:
    """Run `argv` to completion and capture its output; raise EnvironmentProblem on timeout."""
    started = time.monotonic()
    proc = _spawn(argv, env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        stdout, stderr = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        stop(proc)
        raise EnvironmentProblem(f"`{' '.join(argv[:4])} ...` did not finish within {timeout:.0f} s") from None
    except BaseException:
        # Interrupted (signal) or anything else: never leave the child behind.
        stop(proc)
        raise
    return Result(tuple(argv), proc.returncode, stdout, stderr, time.monotonic() - started)


def stream(
    argv: Sequence[str],
    on_line: Callable[[str], None],
    *,
    timeout: float,
    env: Mapping[str, str] | None = None,
    poll: float = 0.25,
) -> StreamResult:
    """Run `argv`, handing each line of stdout+stderr to `on_line` as it arrives."""
    started = time.monotonic()
    deadline = started + timeout
    proc = _spawn(argv, env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=False)
    assert proc.stdout is not None
    fd = proc.stdout.fileno()
    # Raw reads, no Python buffering: select() then tells the truth about what is
    # pending, and a partial line can never block us past the deadline.
    pending = b""
    timed_out = False
    try:
        with selectors.DefaultSelector() as selector:
            selector.register(fd, selectors.EVENT_READ)
            while True:
                if time.monotonic() > deadline:
                    timed_out = True
                    stop(proc)
                    break
                if not selector.select(timeout=poll):
                    continue
                chunk = os.read(fd, 65536)
                if not chunk:
                    break
                *lines, pending = (pending + chunk).split(b"\n")
                for line in lines:
                    on_line(line.decode("utf-8", errors="replace").rstrip("\r"))
        if pending:
            on_line(pending.decode("utf-8", errors="replace").rstrip("\r"))
        proc.wait(timeout=TERMINATE_GRACE)
    except BaseException:
        stop(proc)
        raise
    finally:
        proc.stdout.close()
    return StreamResult(None if timed_out else proc.returncode, time.monotonic() - started, timed_out)
