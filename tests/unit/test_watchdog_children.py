"""The watchdog signals only the run's children that still run with the start time it recorded."""

from __future__ import annotations

import subprocess
import sys

from harness import watchdog
from harness.cleanup import child_start_time
from tests.unit.conftest import wait_gone


def test_parse_children_reads_pid_and_start_time():
    text = "pid 12 1700000000.25\npid 13 -\npid x 1\nnoise\npid 14\n"
    assert watchdog.parse_children(text) == [(12, "1700000000.25"), (13, None), (14, None)]


def test_only_a_live_child_with_its_recorded_start_time_is_killed():
    live = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"], start_new_session=True)
    reused = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"], start_new_session=True)
    gone = subprocess.Popen([sys.executable, "-c", "pass"], start_new_session=True)
    gone_start = child_start_time(gone.pid)
    gone.wait()
    try:
        children = [
            (live.pid, child_start_time(live.pid)),
            (reused.pid, "1.00"),  # the pid now belongs to a process started later: someone else's
            (gone.pid, gone_start),
            (reused.pid, None),  # no start time recorded: never signalled
        ]
        assert watchdog.stop_orphans(children) == [live.pid]
        assert wait_gone(live.pid, 10)
        assert reused.poll() is None
    finally:
        for child in (live, reused):
            child.kill()
            child.wait()
