"""SignalGuard and the exit codes signals map to (main thread, real signals to ourselves)."""

from __future__ import annotations

import os
import signal
import threading

import pytest

from harness.errors import Interrupted
from harness.signals import HANDLED_SIGNALS, SignalGuard, killed_by_signal


@pytest.fixture(autouse=True)
def restore_handlers():
    """Whatever a failing test does, leave this process's signal handlers as they were."""
    saved = {sig: signal.getsignal(sig) for sig in HANDLED_SIGNALS}
    yield
    for sig, handler in saved.items():
        signal.signal(sig, handler)


@pytest.mark.parametrize(("sig", "code"), [(signal.SIGTERM, 143), (signal.SIGINT, 130), (signal.SIGHUP, 129)])
def test_a_signal_inside_the_guard_raises_interrupted(sig, code):
    with pytest.raises(Interrupted) as caught, SignalGuard() as guard:
        os.kill(os.getpid(), sig)
        # Python runs the handler between bytecodes: the line below must never complete.
        for _ in range(1000):
            pass
        pytest.fail("the signal did not interrupt the guarded block")
    assert caught.value.signum == sig
    assert caught.value.exit_code == code
    assert str(caught.value) == signal.Signals(sig).name
    assert guard.received == [sig]


def test_interrupted_is_not_caught_by_except_exception():
    reached = []
    with pytest.raises(Interrupted), SignalGuard():
        try:
            os.kill(os.getpid(), signal.SIGTERM)
            for _ in range(1000):
                pass
        except Exception:  # what careless code in a phase might do
            reached.append("swallowed")
    assert reached == []


def test_only_the_first_signal_raises():
    guard = SignalGuard()
    with pytest.raises(Interrupted), guard:
        os.kill(os.getpid(), signal.SIGINT)
        for _ in range(1000):
            pass
    # The guard has exited, so install it again for the second part: once shielded it stays shielded.
    with guard:
        assert guard.shielded
        os.kill(os.getpid(), signal.SIGTERM)
        for _ in range(1000):
            pass
    assert guard.received == [signal.SIGINT, signal.SIGTERM]


def test_after_shield_signals_are_recorded_not_raised():
    with SignalGuard() as guard:
        guard.shield()
        os.kill(os.getpid(), signal.SIGTERM)
        os.kill(os.getpid(), signal.SIGINT)
        for _ in range(1000):
            pass
    assert guard.received == [signal.SIGTERM, signal.SIGINT]


def test_handlers_are_restored_on_exit():
    def mine(signum, frame):
        raise AssertionError("should not run")

    signal.signal(signal.SIGTERM, mine)
    before = {sig: signal.getsignal(sig) for sig in HANDLED_SIGNALS}
    with SignalGuard() as guard:
        for sig in HANDLED_SIGNALS:
            assert signal.getsignal(sig) == guard._handle
    assert {sig: signal.getsignal(sig) for sig in HANDLED_SIGNALS} == before


def test_handlers_are_restored_after_an_interrupt():
    before = {sig: signal.getsignal(sig) for sig in HANDLED_SIGNALS}
    with pytest.raises(Interrupted), SignalGuard():
        os.kill(os.getpid(), signal.SIGHUP)
        for _ in range(1000):
            pass
    assert {sig: signal.getsignal(sig) for sig in HANDLED_SIGNALS} == before


def test_outside_the_main_thread_the_guard_installs_nothing():
    before = {sig: signal.getsignal(sig) for sig in HANDLED_SIGNALS}
    errors: list[BaseException] = []

    def body():
        try:
            with SignalGuard() as guard:
                assert guard._previous == {}
        except BaseException as exc:  # noqa: BLE001 - reported to the main thread
            errors.append(exc)

    thread = threading.Thread(target=body)
    thread.start()
    thread.join(timeout=10)
    assert errors == []
    assert {sig: signal.getsignal(sig) for sig in HANDLED_SIGNALS} == before


@pytest.mark.parametrize(
    ("code", "killed"), [(137, True), (143, True), (-9, True), (1, False), (255, False), (0, False)]
)
def test_only_signal_codes_count_as_killed(code, killed):
    assert killed_by_signal(code) is killed
