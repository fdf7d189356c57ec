"""What one run produced: its phases' times and the RunResult every caller reads (result.json)."""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Callable
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from harness.cleanup import CleanupReport


def utc_stamp(epoch: float) -> str:
    """`2026-11-26T10:00:00.123Z`: an ISO 8601 UTC time with milliseconds."""
    return datetime.fromtimestamp(epoch, timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"


@dataclasses.dataclass(frozen=True)
class PhaseTime:
    """One phase the run went through: when it started (UTC) and how long it took."""

    name: str
    started_at: str
    seconds: float


class PhaseClock:
    """Times the run's phases: each `enter` ends the phase before it; `stop` ends the last one.

    A phase entered twice (`port` and `up` when a port is retried) is recorded twice, in order.
    """

    def __init__(self, monotonic: Callable[[], float] = time.monotonic, wall: Callable[[], float] = time.time) -> None:
        self._monotonic = monotonic
        self._wall = wall
        self._open: tuple[str, float, float] | None = None
        self.phases: list[PhaseTime] = []

    def enter(self, name: str) -> None:
        """Start timing `name` (and stop timing the phase before it)."""
        self.stop()
        self._open = (name, self._wall(), self._monotonic())

    def stop(self) -> None:
        """Stop timing the current phase, if any."""
        if self._open is not None:
            name, wall, started = self._open
            self.phases.append(PhaseTime(name, utc_stamp(wall), round(self._monotonic() - started, 3)))
            self._open = None

    def totals(self) -> dict[str, float]:
        """Seconds per phase name, in the order phases were first entered."""
        totals: dict[str, float] = {}
        for phase in self.phases:
            totals[phase.name] = round(totals.get(phase.name, 0.0) + phase.seconds, 3)
        return totals


@dataclasses.dataclass
class RunResult:
    """Everything a caller (nox, the CLI, validation, CI) needs to know about one run; result.json."""

    module: str
    project: str
    exit_code: int
    message: str
    phase: str  # the phase the run was in when it ended (before the teardown)
    port: int | None = None
    summary: str = ""
    reasons: tuple[str, ...] = ()
    signal: str | None = None
    started_at: str = ""
    seconds: float = 0.0
    phases: list[PhaseTime] = dataclasses.field(default_factory=list)
    odoo_exit: int | None = None  # the test process's own exit code; None when it never ran
    cleanup: CleanupReport | None = None
    artefacts: Path | None = None
    log_file: Path | None = None

    def to_json(self) -> dict[str, Any]:
        """A JSON-ready dict for result.json."""
        data = dataclasses.asdict(self)
        data["cleanup"] = (
            None
            if self.cleanup is None
            else {
                "clean": self.cleanup.clean,
                "seconds": round(self.cleanup.seconds, 2),
                "forced": self.cleanup.forced,
                "leftovers": self.cleanup.leftovers.describe(),
                "down_returncode": self.cleanup.down_returncode,
                "error": self.cleanup.error,
            }
        )
        return data
