"""Waiting until Odoo can serve: the first of `/web/health` answering 200 or Docker saying healthy."""

from __future__ import annotations

import time
from collections.abc import Callable

import requests

from harness.engine import ContainerState
from harness.errors import ReadinessFailed


def health_answers(url: str, timeout: float) -> bool:
    """True when GET `url` answers 200 within `timeout` seconds."""
    try:
        return requests.get(url, timeout=(timeout, timeout)).status_code == 200
    except requests.RequestException:
        return False


def check_state(service: str, state: ContainerState | None) -> bool:
    """True when Docker reports the container healthy; raise when it can never become ready."""
    if state is None:
        return False
    if state.status in {"exited", "dead"}:
        raise ReadinessFailed(f"the {service} container exited (code {state.exit_code}) before it became ready")
    if state.health == "unhealthy":
        raise ReadinessFailed(f"Docker reports the {service} container unhealthy")
    return state.health == "healthy"


def wait_until_ready(
    *,
    url: str,
    service: str,
    state: Callable[[], ContainerState | None],
    timeout: float,
    poll: float,
    progress: Callable[[str], None],
    progress_interval: float,
    answers: Callable[[str, float], bool] = health_answers,
    clock: Callable[[], float] = time.monotonic,
    sleep: Callable[[float], None] = time.sleep,
) -> float:
    """Poll every `poll` seconds until ready; return the seconds waited.

    Fails fast (ReadinessFailed) when the container exits or turns unhealthy,
    and after `timeout` seconds otherwise.
    """
    started = clock()
    next_report = started
    while True:
        tick = clock()
        current = state()
        if check_state(service, current) or answers(url, poll):
            return clock() - started
        elapsed = clock() - started
        if elapsed >= timeout:
            raise ReadinessFailed(
                f"{service} was not ready after {timeout:.0f} s (no 200 from {url}, Docker health: "
                f"{current.health if current else 'no container'})"
            )
        if clock() >= next_report:
            status = f"{current.status}, health {current.health or 'n/a'}" if current else "no container yet"
            progress(f"phase readiness: waiting for {service}, {elapsed:.1f} s of {timeout:.0f} s, {status}")
            next_report += progress_interval
        sleep(max(0.0, poll - (clock() - tick)))
