"""Readiness: `/web/health` answering 200 or Docker saying healthy, with a fake clock."""

from __future__ import annotations

import http.server
import threading

import pytest

from harness.engine import ContainerState
from harness.errors import ExitCode, ReadinessFailed
from harness.readiness import check_state, health_answers, wait_until_ready

URL = "http://127.0.0.1:8091/web/health"
STARTING = ContainerState("running", "starting", None)


class FakeTime:
    """A monotonic clock that only moves when the code sleeps (or a fake answer takes time)."""

    def __init__(self) -> None:
        self.now = 1000.0
        self.sleeps: list[float] = []

    def clock(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        assert seconds >= 0
        self.sleeps.append(seconds)
        self.now += seconds


def wait(fake: FakeTime, *, answers, state=lambda: STARTING, timeout=300.0, poll=0.25, interval=2.0, progress=None):
    lines: list[str] = [] if progress is None else progress
    return wait_until_ready(
        url=URL,
        service="odoo",
        state=state,
        timeout=timeout,
        poll=poll,
        progress=lines.append,
        progress_interval=interval,
        answers=answers,
        clock=fake.clock,
        sleep=fake.sleep,
    )


def test_returns_as_soon_as_health_answers():
    fake = FakeTime()
    calls: list[tuple[str, float]] = []

    def answers(url: str, timeout: float) -> bool:
        calls.append((url, timeout))
        return len(calls) == 3

    waited = wait(fake, answers=answers, poll=0.25)
    assert calls == [(URL, 0.25)] * 3
    assert fake.sleeps == [0.25, 0.25]
    assert waited == pytest.approx(0.5)


def test_poll_interval_counts_the_time_the_probe_took():
    fake = FakeTime()
    calls = []

    def slow_answers(url: str, timeout: float) -> bool:
        calls.append(url)
        fake.now += 0.1  # each probe takes 0.1 s
        return len(calls) == 4

    waited = wait(fake, answers=slow_answers, poll=0.25)
    assert fake.sleeps == pytest.approx([0.15, 0.15, 0.15])
    assert waited == pytest.approx(0.85)  # probes start at 0, 0.25, 0.5, 0.75 (not every 0.35 s)


def test_a_probe_slower_than_the_poll_does_not_sleep():
    fake = FakeTime()
    calls = []

    def very_slow(url: str, timeout: float) -> bool:
        calls.append(url)
        fake.now += 1.0
        return len(calls) == 2

    wait(fake, answers=very_slow, poll=0.25)
    assert fake.sleeps == [0.0]


def test_returns_when_docker_says_healthy_even_if_the_port_is_silent():
    fake = FakeTime()
    states = iter([STARTING, STARTING, ContainerState("running", "healthy", None)])
    waited = wait(fake, answers=lambda url, t: False, state=lambda: next(states), poll=0.5)
    assert waited == pytest.approx(1.0)


@pytest.mark.parametrize(
    ("final", "words"),
    [
        (ContainerState("exited", None, 1), ["exited", "code 1"]),
        (ContainerState("dead", "unhealthy", 137), ["exited", "code 137"]),
        (ContainerState("running", "unhealthy", None), ["unhealthy"]),
    ],
)
def test_fails_fast_when_the_container_exits_or_turns_unhealthy(final, words):
    fake = FakeTime()
    states = iter([None, STARTING, final])
    with pytest.raises(ReadinessFailed) as caught:
        wait(fake, answers=lambda url, t: False, state=lambda: next(states), timeout=300, poll=0.25)
    assert fake.now - 1000.0 == pytest.approx(0.5)  # two polls, far from the 300 s timeout
    for word in words:
        assert word in caught.value.message
    assert "odoo" in caught.value.message
    assert caught.value.exit_code == ExitCode.ENVIRONMENT


def test_a_dead_container_beats_a_stale_200():
    fake = FakeTime()
    with pytest.raises(ReadinessFailed, match="exited"):
        wait(fake, answers=lambda url, t: True, state=lambda: ContainerState("exited", None, 3))


def test_times_out_with_a_message_naming_the_url():
    fake = FakeTime()
    calls = []

    def never(url: str, timeout: float) -> bool:
        calls.append(url)
        return False

    with pytest.raises(ReadinessFailed) as caught:
        wait(fake, answers=never, timeout=5, poll=0.25)
    elapsed = fake.now - 1000.0
    assert 5.0 <= elapsed < 5.25
    assert len(calls) == 21  # a poll at 0, 0.25, ..., 5.0
    message = caught.value.message
    assert URL in message
    assert "after 5 s" in message
    assert "starting" in message


def test_timeout_without_any_container():
    fake = FakeTime()
    with pytest.raises(ReadinessFailed, match="no container"):
        wait(fake, answers=lambda url, t: False, state=lambda: None, timeout=1, poll=0.5)


def test_progress_lines_report_elapsed_time_and_health():
    fake = FakeTime()
    lines: list[str] = []
    with pytest.raises(ReadinessFailed):
        wait(fake, answers=lambda url, t: False, timeout=5, poll=0.5, interval=2.0, progress=lines)
    assert len(lines) == 3  # at 0, 2 and 4 s, not at every poll
    assert "0.0 s of 5 s" in lines[0]
    assert "2.0 s of 5 s" in lines[1]
    assert "4.0 s of 5 s" in lines[2]
    for line in lines:
        assert line.startswith("phase readiness: waiting for odoo")
        assert "running, health starting" in line


def test_progress_before_the_container_exists():
    fake = FakeTime()
    lines: list[str] = []
    states = iter([None, ContainerState("running", None, None), ContainerState("running", "healthy", None)])
    wait(fake, answers=lambda url, t: False, state=lambda: next(states), poll=1.0, interval=1.0, progress=lines)
    assert "no container yet" in lines[0]
    assert "running, health n/a" in lines[1]
    assert len(lines) == 2


def test_check_state():
    assert check_state("odoo", None) is False
    assert check_state("odoo", ContainerState("running", None, None)) is False
    assert check_state("odoo", ContainerState("running", "starting", None)) is False
    assert check_state("odoo", ContainerState("running", "healthy", None)) is True
    with pytest.raises(ReadinessFailed, match="exited"):
        check_state("odoo", ContainerState("exited", None, 0))
    with pytest.raises(ReadinessFailed, match="unhealthy"):
        check_state("odoo", ContainerState("running", "unhealthy", None))


@pytest.fixture
def http_server():
    """A local server: /web/health answers 200, anything else 503."""

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self):  # noqa: N802 - the stdlib's name
            self.send_response(200 if self.path == "/web/health" else 503)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, *args):
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


def test_health_answers_against_a_real_socket(http_server, unused_ports):
    # Generous bounds: only a broken server would use them, however loaded the machine is.
    assert health_answers(f"{http_server}/web/health", 60.0) is True
    assert health_answers(f"{http_server}/other", 60.0) is False
    (closed,) = unused_ports(1)
    assert health_answers(f"http://127.0.0.1:{closed}/web/health", 0.5) is False
