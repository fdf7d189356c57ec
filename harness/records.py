"""Plain records of what a run did (phase times, what the teardown left): no Docker, no psutil.

The ground floor of the house: the reporting layer (result, report, junit, github) reads these,
and the modules that talk to the engine fill them in.
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Callable
from datetime import datetime, timezone


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


@dataclasses.dataclass(frozen=True)
class Resources:
    """Containers, networks and volumes that carry one project's label."""

    containers: tuple[str, ...] = ()
    networks: tuple[str, ...] = ()
    volumes: tuple[str, ...] = ()

    @property
    def empty(self) -> bool:
        """True when nothing of the project is left."""
        return not (self.containers or self.networks or self.volumes)

    def describe(self) -> str:
        """`containers: a, b; networks: -; volumes: -` for messages and proofs."""
        return "; ".join(
            f"{kind}: {', '.join(names) or '-'}"
            for kind, names in (("containers", self.containers), ("networks", self.networks), ("volumes", self.volumes))
        )


@dataclasses.dataclass(frozen=True)
class CleanupReport:
    """What the teardown did and what, if anything, it left."""

    project: str
    down_returncode: int | None
    leftovers: Resources
    seconds: float
    forced: bool
    error: str = ""

    @property
    def clean(self) -> bool:
        """True when nothing with the project's label remains."""
        return self.leftovers.empty and not self.error


@dataclasses.dataclass(frozen=True)
class CacheReport:
    """What the database cache did for the run: `hit`, `built` or `uncached`, and why."""

    state: str
    reason: str
    key: str = ""

    def describe(self) -> str:
        """`hit: hub-harness-dbcache:...: harness_test holds the 14 recorded modules`."""
        return f"{self.state}: {self.reason}" if self.reason else self.state
