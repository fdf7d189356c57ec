"""Output a test prints for minutes never grows the harness without bound."""

from __future__ import annotations

import sys
import tracemalloc

from harness import proc
from harness.odoo_log import BLOCK_HEAD_LINES, BLOCK_TAIL_LINES, LogAnalyser

HEAD = "2025-01-01 00:00:00,000 1 ERROR harness_test odoo.addons.loud.tests.test_loud: FAIL: TestLoud.test_print"


def test_a_failure_block_printing_100_mb_keeps_its_head_and_tail_only():
    analyser = LogAnalyser("loud", "harness_test")
    tracemalloc.start()
    analyser.feed(HEAD)
    analyser.feed("Traceback (most recent call last):")
    for number in range(50_000):
        analyser.feed(f"  printed line {number:07d} " + "x" * 2000)
    analyser.feed("AssertionError: loud")
    analyser.feed(" ")
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    assert peak < 20 * 2**20, f"peak {peak / 2**20:.1f} MiB for ~100 MB of output"
    (failure,) = analyser.result().failures
    assert failure.message == "AssertionError: loud"
    lines = failure.details.splitlines()
    assert len(lines) == BLOCK_HEAD_LINES + 1 + BLOCK_TAIL_LINES
    assert "lines cut here (all are in the proof log)" in lines[BLOCK_HEAD_LINES]
    assert lines[-1] == "AssertionError: loud"


def test_loose_output_outside_blocks_is_not_kept():
    analyser = LogAnalyser("loud", "harness_test")
    tracemalloc.start()
    for number in range(30_000):
        analyser.feed(f"print {number} " + "y" * 2000)
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    assert peak < 10 * 2**20
    assert analyser.result().lines == 30_000


def test_a_line_without_end_is_handed_on_in_pieces():
    sizes: list[int] = []
    code = "import sys; sys.stdout.write('z' * (5 * 2**20 + 7)); sys.stdout.flush()"
    outcome = proc.stream([sys.executable, "-c", code], lambda line: sizes.append(len(line)), timeout=60)
    assert outcome.returncode == 0
    assert sum(sizes) == 5 * 2**20 + 7
    assert max(sizes) <= proc.MAX_LINE_BYTES
