"""Proof of execution: the streamed log, the run's artefact folder and its result.json."""

from __future__ import annotations

import contextlib
import json
import os
import sys
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path
from typing import Any, TextIO

from harness.errors import EnvironmentProblem

HARNESS_TAG = "[harness]"


def fresh_file(path: Path) -> TextIO:
    """Open `path` as a new, empty file.

    Unlinking first gives this run its own inode: a concurrent run that still
    writes to the old file can never mix its lines into ours, and a stale log
    from an earlier run is gone before anything else happens.
    """
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.unlink(missing_ok=True)
        return open(path, "x", encoding="utf-8", errors="replace")  # noqa: SIM115 - closed by ProofLog
    except OSError as exc:
        raise EnvironmentProblem(f"cannot write the proof log {path}: {exc.strerror}") from None


def use_colour(stream: TextIO, env: Mapping[str, str] | None = None) -> bool:
    """Colours only on a terminal, and never with NO_COLOR set (no-color.org) or TERM=dumb."""
    env = os.environ if env is None else env
    if env.get("NO_COLOR") or env.get("TERM") == "dumb":
        return False
    try:
        return stream.isatty()
    except (AttributeError, ValueError, OSError):
        return False


class ProofLog:
    """Writes each line to the console and to every log file, flushed per line.

    Flushing per line means an interrupt, or even SIGKILL, loses nothing that
    was printed before it. The files always get plain text; the console may get
    a coloured twin of a line (`colour` says whether it takes colours).
    """

    def __init__(self, paths: Iterable[Path], echo: TextIO | None = None) -> None:
        self.echo = sys.stdout if echo is None else echo
        self.colour = use_colour(self.echo)
        self.files: list[TextIO] = []
        self.paths: list[Path] = []
        # Applied to every line before it goes anywhere (the run hides its passwords with it).
        self.redact: Callable[[str], str] = lambda text: text
        # The first file write that failed (a full disk): the run ends with exit 3 naming it.
        self.write_error: str | None = None
        for path in paths:
            self.add(path)

    def add(self, path: Path) -> None:
        """Start writing to another (fresh) file as well."""
        self.files.append(fresh_file(path))
        self.paths.append(path)

    def line(self, text: str, *, styled: str | None = None) -> None:
        """One line of output (Odoo's or ours); `styled` is what a colour console shows instead."""
        self.to_files(text)
        self.to_console(text, styled=styled)

    def to_files(self, text: str) -> None:
        """The log files' half of `line`: a write that fails is remembered in `write_error`."""
        text = self.redact(text)
        for stream, path in zip(self.files, self.paths, strict=False):
            problem = _write(stream, text)
            if problem and self.write_error is None:
                self.write_error = f"cannot write the proof log {path}: {problem}; the output was cut here"

    def to_console(self, text: str, *, styled: str | None = None) -> None:
        """The console's half of `line` (its coloured twin on a colour console)."""
        _write(self.echo, self.redact(styled) if styled is not None and self.colour else self.redact(text))

    def harness(self, text: str, *, styled: str | None = None) -> None:
        """A line of the harness's own, tagged so readers can tell it from Odoo's."""
        self.line(f"{HARNESS_TAG} {text}", styled=None if styled is None else f"{HARNESS_TAG} {styled}")

    def console(self, text: str) -> None:
        """A line for the console only (a CI system's workflow command), never in the proof logs."""
        _write(self.echo, self.redact(text))

    def close(self) -> None:
        """Close the files (the console stays open)."""
        for stream in self.files:
            # A full disk: what could be written is written, and the result says so.
            with contextlib.suppress(OSError):
                stream.close()
        self.files = []


def _write(stream: TextIO, text: str) -> str:
    """Write one line; '' when it worked, else why not (a closed console or a full disk never raises:
    nothing may stop the cleanup)."""
    try:
        stream.write(text + "\n")
        stream.flush()
    except OSError as exc:
        return exc.strerror or str(exc)
    except ValueError as exc:
        return str(exc)
    return ""


def write_json(path: Path, data: dict[str, Any]) -> None:
    """Write `data` as indented JSON, atomically."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(json.dumps(data, indent=2, sort_keys=True, default=str) + "\n", encoding="utf-8")
    os.replace(tmp, path)


def tail(path: Path, lines: int) -> list[str]:
    """The last `lines` lines of a text file (empty when it does not exist)."""
    try:
        return path.read_text(encoding="utf-8", errors="replace").splitlines()[-lines:]
    except OSError:
        return []
