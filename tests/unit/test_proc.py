"""The command runner: captured output, timeouts that kill, own sessions, streamed lines."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
import time

import pytest

from harness import proc
from harness.errors import EnvironmentProblem, ExitCode

PY = sys.executable


def python(code: str) -> list[str]:
    return [PY, "-u", "-c", textwrap.dedent(code)]


def test_run_captures_output_and_exit_code():
    result = proc.run(python("import sys; print('out'); print('err', file=sys.stderr); sys.exit(7)"), timeout=30)
    assert result.returncode == 7
    assert not result.ok
    assert result.stdout == "out\n"
    assert result.stderr == "err\n"
    assert result.output == "out\nerr"
    assert result.argv[0] == PY
    assert result.seconds >= 0


def test_run_ok():
    result = proc.run(python("print('fine')"), timeout=30)
    assert result.ok and result.returncode == 0


def test_run_gives_the_child_an_empty_stdin():
    result = proc.run(python("import sys; print(repr(sys.stdin.read()))"), timeout=30)
    assert result.stdout.strip() == "''"


def test_run_passes_the_environment():
    env = {**os.environ, "HARNESS_UNIT_VALUE": "42"}
    result = proc.run(python("import os; print(os.environ.get('HARNESS_UNIT_VALUE'))"), timeout=30, env=env)
    assert result.stdout.strip() == "42"


def test_run_decodes_invalid_utf8_without_failing():
    result = proc.run(python("import sys; sys.stdout.buffer.write(b'ok \\xff\\n')"), timeout=30)
    assert result.stdout.startswith("ok ")


def test_run_timeout_raises_and_kills_the_whole_group(tmp_path, process_gone, kill_later):
    pids = tmp_path / "pids"
    code = f"""
        import os, subprocess, sys, time
        grandchild = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(600)"])
        with open({str(pids)!r} + ".tmp", "w") as f:
            f.write(f"{{os.getpid()}} {{grandchild.pid}}")
        os.rename({str(pids)!r} + ".tmp", {str(pids)!r})
        time.sleep(600)
    """

    def wait_until_both_run(pid: int) -> None:
        # The timeout starts counting only once child and grandchild exist, however slow the machine.
        kill_later(pid)
        wait_for_file(pids)

    with pytest.raises(EnvironmentProblem) as caught:
        proc.run(python(code), timeout=0.5, on_spawn=wait_until_both_run)
    assert "did not finish within 0 s" in caught.value.message  # 0.5 s, rounded
    assert caught.value.exit_code == ExitCode.ENVIRONMENT
    child, grandchild = (int(p) for p in pids.read_text().split())
    kill_later(grandchild)
    # proc.run returned: the child was reaped, so it is gone for good (not merely a zombie).
    assert process_gone(child, timeout=0)
    assert process_gone(grandchild, timeout=60)  # the process group went too


def wait_for_file(path, timeout: float = 60.0) -> None:
    """Block until `path` exists (a generous bound: only a broken test waits that long)."""
    deadline = time.monotonic() + timeout
    while not path.exists():
        assert time.monotonic() < deadline, f"{path} never appeared"
        time.sleep(0.01)


def test_run_reports_the_child_to_its_listener_before_waiting():
    pids: list[int] = []
    result = proc.run(python("import os; print(os.getpid())"), timeout=60, on_spawn=pids.append)
    assert pids == [int(result.stdout)]


def test_missing_executable_is_an_environment_problem():
    with pytest.raises(EnvironmentProblem, match="'no-such-binary-for-harness' not found on PATH"):
        proc.run(["no-such-binary-for-harness", "x"], timeout=5)
    with pytest.raises(EnvironmentProblem):
        proc.stream(["no-such-binary-for-harness"], lambda line: None, timeout=5)


def test_children_run_in_their_own_session():
    result = proc.run(python("import os; print(os.getsid(0), os.getpgid(0), os.getpid())"), timeout=30)
    sid, pgid, pid = (int(x) for x in result.stdout.split())
    assert sid != os.getsid(0)
    assert sid == pgid == pid  # a session and group leader of its own


def test_stream_delivers_lines_in_order_from_both_streams():
    code = """
        import sys, time
        for i in range(5):
            print(f"out {i}")
            print(f"err {i}", file=sys.stderr)
            time.sleep(0.01)
        sys.exit(3)
    """
    lines: list[str] = []
    outcome = proc.stream(python(code), lines.append, timeout=30, poll=0.05)
    assert lines == [f"{kind} {i}" for i in range(5) for kind in ("out", "err")]
    assert outcome.returncode == 3
    assert not outcome.timed_out
    assert outcome.seconds > 0


def test_stream_returns_zero_and_keeps_blank_lines():
    lines: list[str] = []
    outcome = proc.stream(python("print('a'); print(); print('b', end='')"), lines.append, timeout=30, poll=0.05)
    assert outcome.returncode == 0
    assert lines == ["a", "", "b"]


class AfterLines:
    """A clock for proc.stream that stands still until `count` lines arrived, then jumps an hour.

    The deadline then passes at a known point of the child's output, however slowly it runs.
    """

    def __init__(self, lines: list[str], count: int) -> None:
        self.lines = lines
        self.count = count

    def __call__(self) -> float:
        return 3600.0 if len(self.lines) >= self.count else 0.0


def test_stream_honours_its_timeout_and_kills_the_child(process_gone, kill_later):
    code = """
        import os, time
        print(os.getpid(), flush=True)
        time.sleep(600)
    """
    lines: list[str] = []
    outcome = proc.stream(python(code), lines.append, timeout=1, poll=0.05, clock=AfterLines(lines, 1))
    kill_later(int(lines[0]))
    assert outcome.timed_out
    assert outcome.returncode is None
    assert process_gone(int(lines[0]), timeout=60)


def test_stream_passes_the_environment():
    lines: list[str] = []
    env = {**os.environ, "HARNESS_UNIT_VALUE": "streamed"}
    proc.stream(python("import os; print(os.environ['HARNESS_UNIT_VALUE'])"), lines.append, timeout=30, env=env)
    assert lines == ["streamed"]


def test_stop_escalates_to_sigkill_when_sigterm_is_ignored(process_gone):
    code = """
        import signal, time
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        print("ready", flush=True)
        time.sleep(600)
    """
    child = subprocess.Popen(python(code), stdout=subprocess.PIPE, text=True, start_new_session=True)
    try:
        assert child.stdout.readline().strip() == "ready"
        started = time.monotonic()
        proc.stop(child, grace=0.3)
        assert time.monotonic() - started >= 0.3  # SIGTERM got its grace period first
        assert child.returncode == -9
        assert process_gone(child.pid)
    finally:
        child.kill()
        child.wait()
        child.stdout.close()


def test_stream_delivers_every_line_received_before_the_timeout(kill_later):
    code = """
        import os, time
        print(os.getpid())
        print("second")
        print("third", flush=True)
        time.sleep(600)
    """
    lines: list[str] = []
    clock = AfterLines(lines, 3)
    outcome = proc.stream([PY, "-c", textwrap.dedent(code)], lines.append, timeout=1, poll=0.05, clock=clock)
    kill_later(int(lines[0]))
    assert outcome.timed_out
    assert lines[1:] == ["second", "third"]


def test_stream_timeout_holds_after_a_partial_line(kill_later):
    # One write: the pid line and a line without its newline arrive together, then the child hangs.
    # A reader that waited for the newline would hang with it; the deadline must still hold.
    code = """
        import os, sys, time
        sys.stdout.write(f"{os.getpid()}\\nno newline yet")
        sys.stdout.flush()
        time.sleep(600)
    """
    lines: list[str] = []
    started = time.monotonic()
    outcome = proc.stream(python(code), lines.append, timeout=1, poll=0.05, clock=AfterLines(lines, 1))
    kill_later(int(lines[0]))
    assert outcome.timed_out
    assert lines[1:] == ["no newline yet"]  # the partial line is delivered, not lost
    assert time.monotonic() - started < 300  # far below the child's 600 s hang


def test_stream_reports_silence_to_on_idle(kill_later):
    code = """
        import os, time
        print(os.getpid(), flush=True)
        time.sleep(600)
    """
    lines: list[str] = []
    idle: list[float] = []
    looks = [0]

    def clock() -> float:
        # Still until the child spoke; from then on every look at the clock is one second later,
        # so silence is measured without being waited for.
        if lines:
            looks[0] += 1
        return float(looks[0])

    outcome = proc.stream(python(code), lines.append, timeout=20, poll=0.01, on_idle=idle.append, clock=clock)
    kill_later(int(lines[0]))
    assert outcome.timed_out
    assert len(idle) >= 5
    assert idle == sorted(idle) and 0 < idle[-1] <= 20


def test_stream_reports_the_child_to_its_listener():
    pids: list[int] = []
    lines: list[str] = []
    proc.stream(python("import os; print(os.getpid())"), lines.append, timeout=60, on_spawn=pids.append)
    assert pids == [int(lines[0])]


def test_stream_joins_a_character_split_across_writes_and_replaces_bad_bytes():
    code = """
        import sys, time
        out = sys.stdout.buffer
        out.write(b"caf\\xc3"); out.flush()
        time.sleep(0.05)
        out.write(b"\\xa9\\r\\nbad \\xff\\n"); out.flush()
    """
    lines: list[str] = []
    outcome = proc.stream(python(code), lines.append, timeout=60, poll=0.01)
    assert outcome.returncode == 0
    assert lines == ["café", "bad \ufffd"]


def test_spawn_starts_a_session_leader_with_an_empty_stdin():
    child = proc.spawn(python("import os, sys; print(os.getsid(0) == os.getpid(), repr(sys.stdin.read()))"),
                       stdout=subprocess.PIPE)  # fmt: skip
    out, _ = child.communicate(timeout=60)
    assert out.split() == ["True", "''"]


def test_proc_is_the_one_place_that_starts_processes():
    import ast
    from pathlib import Path

    starters = {"subprocess.Popen", "subprocess.run", "subprocess.call", "subprocess.check_call",
                "subprocess.check_output", "os.system", "os.popen", "os.spawnv", "os.execv"}  # fmt: skip
    harness = Path(proc.__file__).parent
    found = [
        f"{path.name}:{node.lineno}"
        for path in sorted(harness.rglob("*.py"))
        if path != harness / "proc.py"
        for node in ast.walk(ast.parse(path.read_text()))
        if isinstance(node, ast.Call) and ast.unparse(node.func) in starters
    ]
    assert found == []
