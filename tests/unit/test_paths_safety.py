"""Private and shared folders, lock files opened without following links: what another user plants is refused."""

from __future__ import annotations

import fcntl
import os
import stat
from pathlib import Path

import pytest

from harness import paths
from harness.errors import EnvironmentProblem
from harness.ports import acquire_port

# Another user's uid, for files this test gives away (root only).
OTHER_UID = 65534
needs_root = pytest.mark.skipif(os.geteuid() != 0, reason="giving a file to another user needs root")


def test_private_dir_is_created_0700_and_closed_when_opened(tmp_path):
    path = paths.private_dir(tmp_path / "a" / "state")
    assert stat.S_IMODE(path.stat().st_mode) == 0o700
    path.chmod(0o755)
    paths.private_dir(path)
    assert stat.S_IMODE(path.stat().st_mode) == 0o700


def test_a_private_dir_that_is_a_link_is_refused(tmp_path):
    (tmp_path / "elsewhere").mkdir()
    (tmp_path / "state").symlink_to(tmp_path / "elsewhere")
    with pytest.raises(EnvironmentProblem, match=r"refusing .*state: it is a symbolic link"):
        paths.private_dir(tmp_path / "state")


@needs_root
def test_a_private_dir_of_another_user_is_refused(tmp_path):
    planted = tmp_path / "state"
    planted.mkdir(mode=0o700)
    os.chown(planted, OTHER_UID, -1)
    with pytest.raises(EnvironmentProblem, match=r"belongs to .*private state must be the user's own"):
        paths.private_dir(planted)


def test_state_dir_is_per_user_beside_the_lock_dir(tmp_path):
    assert paths.state_dir(tmp_path / "hub-harness") == tmp_path / f"hub-harness-{os.geteuid()}"


def test_shared_dir_is_created_1777(tmp_path):
    path = paths.shared_dir(tmp_path / "locks")
    assert stat.S_IMODE(path.stat().st_mode) == 0o1777


def test_a_shared_dir_that_is_a_link_is_refused(tmp_path):
    (tmp_path / "elsewhere").mkdir()
    (tmp_path / "locks").symlink_to(tmp_path / "elsewhere")
    with pytest.raises(EnvironmentProblem, match="symbolic link"):
        paths.shared_dir(tmp_path / "locks")


def test_a_shared_dir_others_may_write_without_sticky_bit_is_refused(tmp_path):
    (tmp_path / "locks").mkdir()
    (tmp_path / "locks").chmod(0o777)
    with pytest.raises(EnvironmentProblem, match=r"not sticky.*chmod \+t"):
        paths.shared_dir(tmp_path / "locks")


@needs_root
def test_a_shared_dir_of_another_user_is_refused(tmp_path):
    (tmp_path / "locks").mkdir()
    (tmp_path / "locks").chmod(0o1777)
    os.chown(tmp_path / "locks", OTHER_UID, -1)
    with pytest.raises(EnvironmentProblem, match=r"belongs to nobody, who could replace any file in it"):
        paths.shared_dir(tmp_path / "locks")


def test_a_symlinked_lock_file_is_refused_and_its_target_untouched(tmp_path, unused_ports):
    (port,) = unused_ports(1)
    victim = tmp_path / "victim"
    victim.write_text("precious\n")
    locks = paths.shared_dir(tmp_path / "locks")
    (locks / f"port-{port}.lock").symlink_to(victim)
    with pytest.raises(EnvironmentProblem, match=r"port-\d+\.lock: it is a symbolic link"):
        acquire_port([port], locks)
    assert victim.read_text() == "precious\n"


def test_a_hard_linked_lock_file_is_refused(tmp_path, unused_ports):
    (port,) = unused_ports(1)
    victim = tmp_path / "victim"
    victim.write_text("precious\n")
    locks = paths.shared_dir(tmp_path / "locks")
    os.link(victim, locks / f"port-{port}.lock")
    with pytest.raises(EnvironmentProblem, match="2 hard links"):
        acquire_port([port], locks)
    assert victim.read_text() == "precious\n"


def test_a_fifo_as_lock_file_is_refused_without_blocking(tmp_path, unused_ports):
    (port,) = unused_ports(1)
    locks = paths.shared_dir(tmp_path / "locks")
    os.mkfifo(locks / f"port-{port}.lock")
    with pytest.raises(EnvironmentProblem, match="not a regular file"):
        acquire_port([port], locks)


@needs_root
def test_another_users_lock_file_is_locked_but_never_written(tmp_path, unused_ports):
    (port,) = unused_ports(1)
    locks = paths.shared_dir(tmp_path / "locks")
    theirs = locks / f"port-{port}.lock"
    theirs.write_text("their content\n")
    os.chown(theirs, OTHER_UID, -1)
    lease = acquire_port([port], locks)
    try:
        assert theirs.read_text() == "their content\n"
        fd = os.open(theirs, os.O_RDONLY)
        with pytest.raises(BlockingIOError):
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)  # but the lease holds it
        os.close(fd)
    finally:
        lease.release()


def test_a_lock_file_this_user_creates_is_0644_and_names_its_holder(tmp_path, unused_ports):
    (port,) = unused_ports(1)
    lease = acquire_port([port], tmp_path / "locks")
    try:
        assert stat.S_IMODE(lease.lock_path.stat().st_mode) == 0o644
        assert lease.lock_path.read_text() == f"{os.getpid()}\n"
    finally:
        lease.release()


def test_read_json_never_follows_a_link_nor_reads_a_stranger(tmp_path, monkeypatch):
    real = tmp_path / "real.json"
    real.write_text('{"a": 1}')
    (tmp_path / "link.json").symlink_to(real)
    assert paths.read_json(real) == {"a": 1}
    assert paths.read_json(tmp_path / "link.json") is None
    assert paths.read_json(tmp_path / "missing.json") is None
    Path(tmp_path / "bad.json").write_text("{nope")
    assert paths.read_json(tmp_path / "bad.json") is None
    monkeypatch.setattr(os, "geteuid", lambda: os.getuid() + 4242)
    assert paths.read_json(real) is None
