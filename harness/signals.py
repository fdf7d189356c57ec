"""The run's signal guard: the first SIGINT/SIGTERM/SIGHUP stops the phase; later ones never stop the cleanup."""

from __future__ import annotations

import contextlib
import signal
import threading
from collections.abc import Callable, Iterator
from types import FrameType
from typing import Any

from harness.errors import Interrupted

HANDLED_SIGNALS = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)

# Critical sections (proc.spawn's Popen and its bookkeeping): a signal arriving inside one is
# raised when the outermost one ends, so a child is never started without its caller knowing it.
_critical_depth = 0
_deferred: list[SignalGuard] = []


@contextlib.contextmanager
def critical() -> Iterator[None]:
    """Defer the guard's Interrupted until the block ends (nothing is deferred when no guard is active)."""
    global _critical_depth
    _critical_depth += 1
    try:
        yield
    finally:
        _critical_depth -= 1
        if _critical_depth == 0 and _deferred:
            guard = _deferred.pop()
            _deferred.clear()
            guard.raise_deferred()


def signal_name(signum: int) -> str:
    """`SIGINT` for 2."""
    return signal.Signals(signum).name


def killed_by_signal(returncode: int | None) -> bool:
    """Whether an exit code says a signal killed the process: -N from Popen, 128+N from a shell or `exec`."""
    if returncode is None:
        return False
    return returncode < 0 or 128 < returncode < 128 + signal.NSIG


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
        self._pending: int | None = None
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
        if self.shielded:
            return
        if _critical_depth > 0:
            self._pending = signum
            _deferred.append(self)
            return
        self.shielded = True
        raise Interrupted(signum)

    def raise_deferred(self) -> None:
        """Raise the signal that came during a critical section, unless the guard was shielded since."""
        signum, self._pending = self._pending, None
        if signum is not None and not self.shielded:
            self.shielded = True
            raise Interrupted(signum)

    def shield(self) -> None:
        """From now on signals are recorded, never raised."""
        self.shielded = True

    def __exit__(self, *exc: object) -> None:
        for sig, previous in self._previous.items():
            signal.signal(sig, previous)
        self._previous = {}
