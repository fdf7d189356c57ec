"""Waiting until Odoo can serve: the first of `/web/health` answering 200 or Docker saying healthy."""

from __future__ import annotations

import time
from collections.abc import Callable

import requests

from harness import docker_cli
from harness.engine import ContainerState
from harness.errors import ReadinessFailed

# Bind addresses that mean "every interface": not an address to connect to.
ANY_ADDRESS = {"", "0.0.0.0", "::", "[::]"}


def poll_host(publish_host: str, endpoint: docker_cli.Endpoint | None) -> str:
    """Where a port the engine publishes can be reached from here.

    For a tcp:// or ssh:// engine that is the engine's machine (its ports are published
    there, not here); for a local engine (a unix socket, Docker Desktop, an npipe) the
    bind address `publish_host`, or 127.0.0.1 when it binds every interface.
    """
    if endpoint is not None and endpoint.remote_host:
        return endpoint.remote_host
    return "127.0.0.1" if publish_host in ANY_ADDRESS else publish_host


def health_url(publish_host: str, port: int, endpoint: docker_cli.Endpoint | None = None) -> str:
    """`http://HOST:PORT/web/health` on the host Docker publishes on (the pinned engine's by default)."""
    host = poll_host(publish_host, endpoint if endpoint is not None else docker_cli.current_endpoint())
    if ":" in host and not host.startswith("["):
        host = f"[{host}]"  # an IPv6 literal
    return f"http://{host}:{port}/web/health"


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
            progress(
                f"phase readiness: waiting for {service} (200 from {url} or Docker: healthy), "
                f"{elapsed:.1f} s of {timeout:.0f} s so far, {status}"
            )
            next_report += progress_interval
        sleep(max(0.0, poll - (clock() - tick)))
