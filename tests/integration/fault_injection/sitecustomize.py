"""Test-only fault injection: Python imports this at start-up when its folder is on PYTHONPATH.

`FAULT_PAUSE=PHASE:SECONDS` makes a guarded run sleep right after it announces PHASE
(`[harness] phase: PHASE`), so a test can send a signal there, or take the run's port, at a
known point. The harness itself knows nothing of it: this wraps `GuardedRun.enter`, the one
method every phase goes through. tests/integration/conftest.py's `fault_pause()` sets it up
for a child run (`nox` or `python -m harness`), whose children inherit it.
"""

from __future__ import annotations

import os


def _install(spec: str) -> None:
    import time

    from harness.run import GuardedRun

    pause_phase, _, seconds = spec.partition(":")
    original = GuardedRun.enter

    def enter(self: GuardedRun, phase: str, detail: str = "") -> None:
        original(self, phase, detail)
        if phase == pause_phase:
            self.log.harness(f"fault injection: pausing {seconds} s in phase {phase}")
            time.sleep(float(seconds or 0))

    GuardedRun.enter = enter  # type: ignore[method-assign]


if os.environ.get("FAULT_PAUSE"):
    _install(os.environ["FAULT_PAUSE"])
