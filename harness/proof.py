"""Proof of execution: the streamed log, the run's artefact folder and its result.json."""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Iterable
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


class ProofLog:
    """Writes each line to the console and to every log file, flushed per line.

    Flushing per line means an interrupt, or even SIGKILL, loses nothing that
    was printed before it.
    """

    def __init__(self, paths: Iterable[Path], echo: TextIO | None = None) -> None:
        self.echo = sys.stdout if echo is None else echo
        self.files: list[TextIO] = []
        self.paths: list[Path] = []
        for path in paths:
            self.add(path)

    def add(self, path: Path) -> None:
        """Start writing to another (fresh) file as well."""
        self.files.append(fresh_file(path))
        self.paths.append(path)

    def line(self, text: str) -> None:
        """One line of output (Odoo's or ours)."""
        for stream in (*self.files, self.echo):
            try:
                stream.write(text + "\n")
                stream.flush()
            except (OSError, ValueError):
                # A closed console or a full disk must not stop the cleanup.
                pass

    def harness(self, text: str) -> None:
        """A line of the harness's own, tagged so readers can tell it from Odoo's."""
        self.line(f"{HARNESS_TAG} {text}")

    def close(self) -> None:
        """Close the files (the console stays open)."""
        for stream in self.files:
            stream.close()
        self.files = []


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
