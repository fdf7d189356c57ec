"""A detached watchdog that tears a project down when its run dies without cleaning up.

The run keeps the write end of a pipe; the watchdog, in its own session,
blocks on the read end. The kernel closes the write end however the run
ends, SIGKILL and the OOM killer included, so the watchdog wakes at once:
it reads `done` after a normal cleanup and EOF otherwise. No polling, no
extra image (testcontainers needs its Ryuk container for the same job).
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from harness import docker_cli, proc
from harness.compose import Compose

DONE = b"done\n"


@dataclasses.dataclass
class Watchdog:
    """The run's side of the watchdog: the pipe's write end and the child process."""

    process: subprocess.Popen[bytes]
    write_fd: int | None

    def track(self, pid: int) -> None:
        """Tell the watchdog about a child of the run and when it started (stopped first if the run dies).

        The start time is read now, while the child is surely ours (not yet waited for): the
        watchdog later signals the pid only if a process with that very start time still runs.
        """
        from harness.cleanup import child_start_time  # psutil: only once a child exists

        self._send(f"pid {pid} {child_start_time(pid) or '-'}\n".encode())

    def _send(self, message: bytes) -> None:
        if self.write_fd is None:
            return
        with contextlib.suppress(OSError):
            os.write(self.write_fd, message)

    def disarm(self) -> None:
        """Tell the watchdog the run cleaned up after itself, so it exits without acting."""
        if self.write_fd is None:
            return
        self._send(DONE)
        os.close(self.write_fd)
        self.write_fd = None


def start(compose: Compose, root: Path, log_path: Path) -> Watchdog:
    """Start the watchdog for `compose.project`; it outlives this process's group and session."""
    read_fd, write_fd = os.pipe()  # both non-inheritable: only the watchdog gets read_fd
    log_path.parent.mkdir(parents=True, exist_ok=True)
    argv = [sys.executable, "-m", "harness.watchdog", "--fd", str(read_fd), "--project", compose.project]
    for path in compose.files:
        argv += ["--file", str(path)]
    # The engine this run pinned, named in the environment the watchdog is given (its own CLI calls
    # then name it with flags again): a context switched meanwhile cannot send it elsewhere.
    env = {**compose.environment(), **docker_cli.endpoint().cli_env()}
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(root), env.get("PYTHONPATH", "")]))
    try:
        with open(log_path, "ab") as log:
            # proc.spawn gives it a session of its own: it outlives this process's group.
            process = proc.spawn(
                argv, env=env, cwd=root, text=False, pass_fds=(read_fd,), stdout=log, stderr=subprocess.STDOUT
            )
    except BaseException:
        os.close(write_fd)
        raise
    finally:
        os.close(read_fd)
    return Watchdog(process, write_fd)


def _wait_for_owner(fd: int) -> tuple[bool, list[tuple[int, str | None]]]:
    """Block until the run disarms us (True) or dies (False); also return the children it reported
    (pid, start time)."""
    received = b""
    while True:
        chunk = os.read(fd, 4096)
        if not chunk:
            return received.endswith(DONE), parse_children(received.decode(errors="replace"))
        received += chunk


def parse_children(text: str) -> list[tuple[int, str | None]]:
    """`pid N START` lines as (pid, start time); a line without a readable start time gives None."""
    children = []
    for line in text.splitlines():
        parts = line.split()
        if len(parts) >= 2 and parts[0] == "pid" and parts[1].isdigit():
            start = parts[2] if len(parts) > 2 and parts[2] != "-" else None
            children.append((int(parts[1]), start))
    return children


def stop_orphans(children: list[tuple[int, str | None]]) -> list[int]:
    """Kill the dead run's children that still run (each leads its own process group): a `compose up`
    still creating containers would otherwise race the teardown. A pid whose process is gone, or
    whose start time differs (reused by someone else since), is never signalled. Returns the pids killed."""
    from harness.cleanup import process_liveness

    killed = []
    for pid, start in children:
        if start is None or process_liveness(pid, start) != "alive":
            continue
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(pid, signal.SIGKILL)
            killed.append(pid)
    return killed


def _say(text: str) -> None:
    """One line of the watchdog's log; a full disk or a closed file never stops it."""
    with contextlib.suppress(OSError, ValueError):
        print(text, flush=True)


def main(argv: list[str] | None = None) -> int:
    """Entry point of the detached process."""
    parser = argparse.ArgumentParser(prog="python -m harness.watchdog")
    parser.add_argument("--fd", type=int, required=True)
    parser.add_argument("--project", required=True)
    parser.add_argument("--file", action="append", default=[])
    args = parser.parse_args(argv)
    # Ignore the signals a dying terminal or process group sends: this process exists to outlive them.
    for sig in (signal.SIGINT, signal.SIGHUP, signal.SIGTERM):
        signal.signal(sig, signal.SIG_IGN)
    done, pids = _wait_for_owner(args.fd)
    if done:
        return 0
    stamp = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
    killed = stop_orphans(pids)
    from harness.cleanup import remove_owner, teardown
    from harness.config import load_config
    from harness.engine import connect

    # Teardown first, the log after: the log's disk may be full, and nothing may stop the teardown.
    config = load_config()
    compose = Compose(args.project, tuple(Path(f) for f in args.file), {})
    report = teardown(compose, lambda: connect(config.command_timeout), config)
    if report.clean:
        remove_owner(config, args.project)
    _say(f"{stamp} watchdog: the run owning {args.project} died before cleaning up; stopped its children {killed}")
    _say(
        f"watchdog: teardown of {args.project} took {report.seconds:.1f} s; "
        f"left: {report.leftovers.describe()}{'; ' + report.error if report.error else ''}"
    )
    return 0 if report.clean else 1


if __name__ == "__main__":
    sys.exit(main())
