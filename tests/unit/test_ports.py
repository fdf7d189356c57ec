"""Host ports: bind probes, per-port flocks across processes, the NoFreePort message."""

from __future__ import annotations

import fcntl
import os
import shutil
import signal
import stat
import subprocess
import sys
import tempfile
import textwrap
from pathlib import Path

import pytest

from harness.errors import EnvironmentProblem, ExitCode, NoFreePort
from harness.ports import acquire_port, hold_ports, port_is_bindable

REPO = Path(__file__).resolve().parents[2]

# Exit 0 when the lock file given as argv[1] can be flocked, 1 when someone else holds it.
TRY_LOCK = textwrap.dedent(
    """
    import fcntl, os, sys
    fd = os.open(sys.argv[1], os.O_RDWR | os.O_CREAT, 0o666)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        sys.exit(1)
    sys.exit(0)
    """
)


def other_process_can_lock(path) -> bool:
    result = subprocess.run([sys.executable, "-c", TRY_LOCK, str(path)], timeout=30)
    assert result.returncode in (0, 1)
    return result.returncode == 0


def same_process_can_lock(path) -> bool:
    """A second open file description in this process: flock conflicts with our own lease too."""
    fd = os.open(path, os.O_RDWR)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        return True
    except BlockingIOError:
        return False
    finally:
        os.close(fd)


def test_acquire_returns_a_free_port_and_holds_its_lock(tmp_path, unused_ports):
    (port,) = unused_ports(1)
    lease = acquire_port([port], tmp_path / "locks")
    try:
        assert lease.port == port
        assert lease.lock_path == tmp_path / "locks" / f"port-{port}.lock"
        assert lease.lock_path.read_text() == f"{os.getpid()}\n"
        assert not same_process_can_lock(lease.lock_path)
        assert not other_process_can_lock(lease.lock_path)
        assert port_is_bindable(port)  # the lease is a lock, not a socket: Docker can still bind it
    finally:
        lease.release()


def test_second_acquire_in_the_same_process_takes_the_next_port(tmp_path, unused_ports):
    first, second = unused_ports(2)
    lease = acquire_port([first, second], tmp_path)
    other = acquire_port([first, second], tmp_path)
    try:
        assert (lease.port, other.port) == (first, second)
    finally:
        lease.release()
        other.release()


def test_a_held_port_is_reported_busy(tmp_path, unused_ports):
    (port,) = unused_ports(1)
    lease = acquire_port([port], tmp_path)
    try:
        with pytest.raises(NoFreePort, match=rf"{port} \(held by another harness run\)"):
            acquire_port([port], tmp_path, range_text=f"{port}-{port}")
    finally:
        lease.release()


def test_release_frees_the_port_for_everyone(tmp_path, unused_ports):
    (port,) = unused_ports(1)
    lease = acquire_port([port], tmp_path)
    lease.release()
    lease.release()  # idempotent
    assert same_process_can_lock(lease.lock_path)
    assert other_process_can_lock(lease.lock_path)
    again = acquire_port([port], tmp_path)
    assert again.port == port
    again.release()


def test_a_listening_port_is_skipped_and_its_lock_given_back(tmp_path, unused_ports):
    taken, free = unused_ports(2)
    with hold_ports([taken]):
        assert not port_is_bindable(taken)
        lease = acquire_port([taken, free], tmp_path)
        try:
            assert lease.port == free
            # The probe's lock on the listening port was dropped again.
            assert other_process_can_lock(tmp_path / f"port-{taken}.lock")
        finally:
            lease.release()
    assert port_is_bindable(taken)


def test_docker_published_ports_are_skipped_without_touching_them(tmp_path, unused_ports):
    published, free = unused_ports(2)
    calls = []

    def docker_published() -> set[int]:
        calls.append(1)
        return {published}

    lease = acquire_port([published, free], tmp_path, docker_published=docker_published)
    try:
        assert lease.port == free
        assert calls == [1]  # asked once per acquisition, not once per port
        assert not (tmp_path / f"port-{published}.lock").exists()
    finally:
        lease.release()


def test_skipped_ports_are_not_offered_again(tmp_path, unused_ports):
    lost, free = unused_ports(2)
    lease = acquire_port([lost, free], tmp_path, skip={lost})
    try:
        assert lease.port == free
    finally:
        lease.release()


def test_all_busy_names_each_port_and_why(tmp_path, unused_ports):
    published, held, listening, lost = unused_ports(4)
    lease = acquire_port([held], tmp_path)
    try:
        with hold_ports([listening]), pytest.raises(NoFreePort) as caught:
            acquire_port(
                [published, held, listening, lost],
                tmp_path,
                docker_published=lambda: {published},
                skip=[lost],
                range_text="39000-39003",
            )
    finally:
        lease.release()
    message = caught.value.message
    assert message.startswith("No available ports in range 39000-39003")
    assert f"{published} (published by a Docker container)" in message
    assert f"{held} (held by another harness run)" in message
    assert f"{listening} (in use on 127.0.0.1)" in message
    assert f"{lost} (lost to another process on up)" in message
    # listed in the order of the range
    positions = [message.index(str(p) + " (") for p in (published, held, listening, lost)]
    assert positions == sorted(positions)
    assert caught.value.exit_code == ExitCode.ENVIRONMENT == 3


def test_empty_range_is_no_free_port(tmp_path):
    with pytest.raises(NoFreePort, match="No available ports in range 1-0"):
        acquire_port([], tmp_path, range_text="1-0")


def test_lock_blocks_another_process_and_dies_with_it(tmp_path, unused_ports, kill_later):
    (port,) = unused_ports(1)
    holder_code = textwrap.dedent(
        f"""
        import sys, time
        from pathlib import Path
        from harness.ports import acquire_port
        lease = acquire_port([{port}], Path(sys.argv[1]))
        print(lease.port, flush=True)
        time.sleep(60)
        """
    )
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    holder = subprocess.Popen(
        [sys.executable, "-c", holder_code, str(tmp_path)], stdout=subprocess.PIPE, text=True, env=env
    )
    kill_later(holder.pid)
    try:
        assert holder.stdout.readline().strip() == str(port)
        lock = tmp_path / f"port-{port}.lock"
        assert lock.read_text() == f"{holder.pid}\n"
        assert not other_process_can_lock(lock)
        with pytest.raises(NoFreePort, match="held by another harness run"):
            acquire_port([port], tmp_path)
        holder.send_signal(signal.SIGKILL)
        holder.wait(timeout=10)
        lease = acquire_port([port], tmp_path)  # the kernel dropped the dead holder's flock
        assert lease.port == port
        lease.release()
    finally:
        holder.kill()
        holder.wait(timeout=10)
        holder.stdout.close()


def test_hold_ports_listens_and_closes(unused_ports):
    a, b = unused_ports(2)
    with hold_ports([a, b]) as sockets:
        assert [s.getsockname()[1] for s in sockets] == [a, b]
        assert not port_is_bindable(a) and not port_is_bindable(b)
    assert port_is_bindable(a) and port_is_bindable(b)


# --- one lock folder for every user of the machine


def test_a_lock_folder_the_harness_creates_is_open_to_every_user_like_tmp(tmp_path, unused_ports):
    (port,) = unused_ports(1)
    old = os.umask(0o077)  # the strictest umask a user may have
    try:
        lease = acquire_port([port], tmp_path / "shared" / "locks")
    finally:
        os.umask(old)
    lease.release()
    assert stat.S_IMODE((tmp_path / "shared" / "locks").stat().st_mode) == 0o1777
    assert stat.S_IMODE(lease.lock_path.stat().st_mode) == 0o644


def test_an_existing_lock_folder_keeps_its_mode(tmp_path, unused_ports):
    (port,) = unused_ports(1)
    (tmp_path / "mine").mkdir(mode=0o700)
    acquire_port([port], tmp_path / "mine").release()
    assert stat.S_IMODE((tmp_path / "mine").stat().st_mode) == 0o700


def test_a_lock_folder_this_user_cannot_write_names_the_fix(tmp_path, unused_ports, monkeypatch):
    (port,) = unused_ports(1)
    (tmp_path / "old").mkdir(mode=0o755)
    monkeypatch.setattr(os, "access", lambda *_a, **_k: False)  # as for a user other than its owner
    with pytest.raises(EnvironmentProblem) as caught:
        acquire_port([port], tmp_path / "old")
    assert caught.value.exit_code == ExitCode.ENVIRONMENT
    assert f"chmod 1777 {tmp_path / 'old'}" in caught.value.message
    assert "HARNESS_LOCK_DIR" in caught.value.message


def test_a_lock_file_this_user_may_only_read_still_locks(tmp_path, unused_ports, monkeypatch):
    """Another user's lock file from an older harness (0644): flock needs no write access."""
    (port,) = unused_ports(1)
    lock = tmp_path / f"port-{port}.lock"
    lock.write_text("1\n")
    real_open = os.open

    def no_write(path, flags, *args):
        if str(path) == str(lock) and flags & (os.O_RDWR | os.O_WRONLY):
            raise PermissionError(13, "Permission denied", str(path))
        return real_open(path, flags, *args)

    monkeypatch.setattr(os, "open", no_write)
    lease = acquire_port([port], tmp_path)
    try:
        assert lease.port == port
        assert lock.read_text() == "1\n"  # not ours to write
        assert not other_process_can_lock(lock)
    finally:
        lease.release()


AS_ANOTHER_USER = textwrap.dedent(
    """
    import os, sys
    from pathlib import Path
    from harness.errors import HarnessError
    from harness.ports import acquire_port
    os.umask(0o022)
    try:
        lease = acquire_port([int(sys.argv[2])], Path(sys.argv[1]))
    except HarnessError as exc:
        print(exc.message)
        sys.exit(3)
    print(lease.lock_path.read_text().strip() == str(os.getpid()))
    """
)


def runnable_by_nobody() -> str:
    """A Python that user nobody may run and that finds the repository (harness.ports needs only the stdlib)."""
    for python in (sys.executable, shutil.which("python3", path="/usr/bin:/bin") or ""):
        try:
            check = subprocess.run(
                [python, "-c", "import harness.ports"], user=65534, cwd=REPO, capture_output=True, timeout=30
            )
        except OSError:
            continue
        if check.returncode == 0:
            return python
    pytest.skip("user nobody can run no Python here, or cannot read the repository")


@pytest.mark.skipif(not hasattr(os, "geteuid") or os.geteuid() != 0, reason="needs root to run as another user")
def test_another_user_leases_ports_in_the_folder_roots_runs_made(unused_ports):
    """The real thing: root's runs made the folder; `nobody` leases ports in it and sees root's leases."""
    free, held, legacy, fresh = unused_ports(4)
    base = Path(tempfile.mkdtemp(prefix="harness-users-"))  # /tmp: reachable by nobody, unlike pytest's tmp_path
    try:
        base.chmod(0o755)
        python = runnable_by_nobody()
        locks = base / "locks"
        acquire_port([free], locks).release()
        root_lease = acquire_port([held], locks)
        (locks / f"port-{legacy}.lock").write_text("1\n")  # an older harness's 0644 file
        (locks / f"port-{legacy}.lock").chmod(0o644)

        def as_nobody(folder, port):
            return subprocess.run(
                [python, "-c", AS_ANOTHER_USER, str(folder), str(port)],
                user=65534,
                cwd=REPO,
                env={**os.environ, "PYTHONPATH": str(REPO)},
                capture_output=True,
                text=True,
                timeout=30,
            )

        try:
            got = as_nobody(locks, free)  # root's lock file: locked, never written by nobody
            assert (got.returncode, got.stdout.strip()) == (0, "False"), got.stderr
            assert (locks / f"port-{free}.lock").read_text() == f"{os.getpid()}\n"
            got = as_nobody(locks, fresh)  # nobody's own new file: it writes its pid
            assert (got.returncode, got.stdout.strip()) == (0, "True"), got.stderr
            got = as_nobody(locks, held)
            assert got.returncode == 3 and "held by another harness run" in got.stdout, got.stderr
            got = as_nobody(locks, legacy)
            assert (got.returncode, got.stdout.strip()) == (0, "False"), got.stderr
        finally:
            root_lease.release()
        old = base / "old"
        old.mkdir(mode=0o755)  # the folder an older harness made
        got = as_nobody(old, free)
        assert got.returncode == 3 and f"chmod 1777 {old}" in got.stdout, got.stderr
    finally:
        shutil.rmtree(base)


def test_wait_for_port_queues_until_a_port_frees_and_gives_up_after_wait() -> None:
    from harness.ports import PortLease, wait_for_port

    now = [0.0]
    tries: list[float] = []

    def acquire() -> PortLease:
        tries.append(now[0])
        if now[0] < 2.0:
            raise NoFreePort("busy")
        return PortLease(8090, Path("x"))

    def sleep(seconds: float) -> None:
        now[0] += seconds

    said: list[str] = []
    lease = wait_for_port(acquire, wait=10, poll=0.5, on_wait=said.append, clock=lambda: now[0], sleep=sleep)
    assert lease.port == 8090 and len(tries) == 5 and len(said) == 1
    now[0] = 0.0
    with pytest.raises(NoFreePort):
        wait_for_port(
            lambda: (_ for _ in ()).throw(NoFreePort("busy")), wait=1, poll=0.5, clock=lambda: now[0], sleep=sleep
        )
    with pytest.raises(NoFreePort):  # no wait: at once, as before
        wait_for_port(lambda: (_ for _ in ()).throw(NoFreePort("busy")), wait=0, clock=lambda: 0.0, sleep=sleep)
