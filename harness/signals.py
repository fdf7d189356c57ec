"""The run's signal guard: the first SIGINT/SIGTERM/SIGHUP stops the phase; later ones never stop the cleanup."""

from __future__ import annotations

import signal
import threading
from collections.abc import Callable
from types import FrameType
from typing import Any

from harness.errors import Interrupted

HANDLED_SIGNALS = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)


def signal_name(signum: int) -> str:
    """`SIGINT` for 2."""
    return signal.Signals(signum).name


class SignalGuard:
    """While active, the first SIGINT/SIGTERM/SIGHUP raises Interrupted; later ones are only recorded.

    `shield()` turns raising off for the cleanup, so a second Ctrl+C cannot abort it.
    """

    def __init__(self) -> None:
        self.received: list[int] = []
        # Where the run was when each signal came: set by the run, read by the handler.
        self.where: Callable[[], str] = lambda: ""
        self.received_in: list[str] = []
        self.shielded = False
        self._previous: dict[int, Any] = {}

    def __enter__(self) -> SignalGuard:
        # Handlers can only be installed from the main thread; elsewhere the caller owns signals.
        if threading.current_thread() is threading.main_thread():
            for sig in HANDLED_SIGNALS:
                self._previous[sig] = signal.signal(sig, self._handle)
        return self

    def _handle(self, signum: int, frame: FrameType | None) -> None:
        self.received.append(signum)
        self.received_in.append(self.where())
        if not self.shielded:
            self.shielded = True
            raise Interrupted(signum)

    def shield(self) -> None:
        """From now on signals are recorded, never raised."""
        self.shielded = True

    def __exit__(self, *exc: object) -> None:
        for sig, previous in self._previous.items():
            signal.signal(sig, previous)
        self._previous = {}
