"""The run-start tidy of the database cache (harness/dbcache_tidy.py): one test per rule, no Docker."""

from __future__ import annotations

import datetime
import fcntl
import json
import os
import socket
from pathlib import Path

import pytest

from harness import dbcache, dbcache_tidy, proc
from harness.config import Config, load_config
from harness.paths import manifests_dir, private_dir
from tests.unit.pinned import DOCKER

HOUR = 3600.0
# Noon UTC of a fixed day: "yesterday" and "an hour ago" never straddle a midnight by accident.
NOW = datetime.datetime(2026, 12, 2, 12, 0, tzinfo=datetime.timezone.utc).timestamp()
TODAY, YESTERDAY = "2026-12-02", "2026-12-01"


@pytest.fixture
def config(tmp_path: Path) -> Config:
    return Config(root=tmp_path, db_cache_dir=tmp_path / "cache", lock_dir=tmp_path / "locks", db_cache_max_entries=10)


@pytest.fixture
def docker(monkeypatch: pytest.MonkeyPatch) -> list[list[str]]:
    """Every docker argv the tidy runs; `docker rmi` answers as the engine does for an image it lacks."""
    calls: list[list[str]] = []

    def fake_run(argv: list[str], timeout: float, **kwargs: object) -> proc.Result:
        calls.append(list(argv))
        in_use = [ref for ref in argv if ref.endswith(":inuse")]
        if in_use:
            refused = (
                f"Error response from daemon: conflict: unable to remove repository reference {in_use[0]} "
                "(must force) - container abc is using its referenced image"
            )
            return proc.Result(tuple(argv), 1, "", refused, 0.0)
        return proc.Result(tuple(argv), 0, "Untagged: x", "", 0.0)

    monkeypatch.setattr(proc, "run", fake_run)
    return calls


def _at(path: Path, stamp: float) -> Path:
    os.utime(path, (stamp, stamp))
    return path


def _entry(config: Config, key: str, *, day: str = TODAY, used: float = NOW, field: str = "day") -> Path:
    folder = config.db_cache_dir / key
    folder.mkdir(parents=True)
    data = {"key": key, "day": day} if field == "day" else {"key": key, "created": f"{day}T23:59:00+00:00"}
    (folder / dbcache.ENTRY_FILE).write_text(json.dumps(data))
    _at(folder / dbcache.ENTRY_FILE, used)
    return folder


def _tidy(config: Config) -> tuple[list[str], list[str]]:
    lines: list[str] = []
    removed = dbcache_tidy.tidy(config, lines.append, now=NOW)
    return sorted(item.path.name for item in removed), lines


def _removed_images(calls: list[list[str]]) -> list[str]:
    return sorted(argv[-1] for argv in calls if argv[: len(DOCKER) + 1] == [*DOCKER, "rmi"])


def test_an_entry_of_a_past_day_goes_with_its_image(config: Config, docker: list[list[str]]) -> None:
    _entry(config, "old", day=YESTERDAY, used=NOW - 2 * HOUR)
    _entry(config, "oldformat", day=YESTERDAY, used=NOW - 2 * HOUR, field="created")  # before entry.json had `day`
    _entry(config, "today", used=NOW - 2 * HOUR)
    removed, lines = _tidy(config)
    assert removed == ["old", "oldformat"]
    assert _removed_images(docker) == [f"{dbcache.REPOSITORY}:old", f"{dbcache.REPOSITORY}:oldformat"]
    assert sorted(p.name for p in config.db_cache_dir.iterdir()) == ["today"]  # no lock file left either
    assert any(f"built for {YESTERDAY} (UTC)" in line for line in lines)


def test_an_entry_of_a_past_day_used_within_the_hour_stays(config: Config, docker: list[list[str]]) -> None:
    # A run that planned its hit at 23:59 may still be starting on it after midnight.
    _entry(config, "justused", day=YESTERDAY, used=NOW - HOUR / 2)
    assert _tidy(config)[0] == [] and docker == []


def test_an_unusable_mark_of_a_past_day_goes(config: Config, docker: list[list[str]]) -> None:
    for key, day in (("marked", YESTERDAY), ("marked_today", TODAY)):
        folder = config.db_cache_dir / key
        folder.mkdir(parents=True)
        (folder / dbcache.UNUSABLE_FILE).write_text(json.dumps({"when": f"{day}T08:00:00+00:00", "reason": "x"}))
    assert _tidy(config)[0] == ["marked"]


def test_half_built_folders_go_after_an_hour(config: Config, docker: list[list[str]]) -> None:
    config.db_cache_dir.mkdir()
    _at(_mkdir(config.db_cache_dir / "k1.123.tmp"), NOW - 2 * HOUR)  # a staging folder of a build that died
    _at(_mkdir(config.db_cache_dir / "k2.456.tmp"), NOW - 60)  # a build going on
    _at(_mkdir(config.db_cache_dir / "nojson"), NOW - 2 * HOUR)  # moved in, entry.json never written
    _at(_mkdir(config.db_cache_dir / "young"), NOW - 60)
    entry = _entry(config, "done")
    _at(_touch(entry / f"{dbcache.ENTRY_FILE}.999.tmp"), NOW - 2 * HOUR)
    removed, _ = _tidy(config)
    assert removed == [f"{dbcache.ENTRY_FILE}.999.tmp", "k1.123.tmp", "nojson"]
    assert sorted(p.name for p in config.db_cache_dir.iterdir()) == ["done", "k2.456.tmp", "young"]
    assert _removed_images(docker) == [f"{dbcache.REPOSITORY}:nojson"]  # a half-built entry may have its image


def test_a_half_built_entry_whose_build_lock_is_held_stays(config: Config, docker: list[list[str]]) -> None:
    _at(_mkdir(config.db_cache_dir / "building"), NOW - 2 * HOUR)
    lock = dbcache.BuildLock(config, "building")
    assert lock.acquire()
    try:
        assert _tidy(config)[0] == [] and docker == []
        assert (config.db_cache_dir / "building.lock").exists()
    finally:
        lock.release()
    assert _tidy(config)[0] == ["building"]


def test_a_lock_no_run_holds_goes_and_the_lock_still_excludes(config: Config, docker: list[list[str]]) -> None:
    first = dbcache.BuildLock(config, "held")
    assert first.acquire()
    _touch(config.db_cache_dir / "free.lock")
    assert _tidy(config)[0] == ["free.lock"]
    assert (config.db_cache_dir / "held.lock").exists()
    # A lock file removed while a run had it open but not yet locked: the run locks the new file.
    opened = open(config.db_cache_dir / "held.lock")  # noqa: SIM115
    first.release()
    assert _tidy(config)[0] == ["held.lock"]
    fcntl.flock(opened, fcntl.LOCK_EX | fcntl.LOCK_NB)  # the unlinked file: not the lock any more
    second, third = dbcache.BuildLock(config, "held"), dbcache.BuildLock(config, "held")
    assert second.acquire() and not third.acquire()
    second.release()
    opened.close()


def test_a_lock_opened_then_removed_is_opened_again(config: Config, monkeypatch: pytest.MonkeyPatch) -> None:
    lock = dbcache.BuildLock(config, "k")
    real_flock, removed = fcntl.flock, []

    def flock_after_a_tidy(fd: object, op: int) -> None:
        if not removed:  # the tidy unlinks the file between this run's open and its flock
            removed.append(True)
            lock.path.unlink()
        real_flock(fd, op)

    monkeypatch.setattr(dbcache.fcntl, "flock", flock_after_a_tidy)
    assert lock.acquire()
    other = os.open(lock.path, os.O_RDONLY)
    try:
        with pytest.raises(BlockingIOError):  # the file at the path is the one held
            real_flock(other, fcntl.LOCK_EX | fcntl.LOCK_NB)
    finally:
        os.close(other)
        lock.release()


def test_the_cap_removes_the_oldest_used_first(config: Config, docker: list[list[str]]) -> None:
    for n in range(12):
        _entry(config, f"e{n:02d}", used=NOW - (12 - n) * 60)  # e00 used longest ago
    removed, lines = _tidy(config)
    assert removed == ["e00", "e01"]
    assert any("beyond the 10 most recently used" in line for line in lines)
    assert _tidy(config)[0] == []


def test_the_cap_comes_from_the_config_and_the_environment(tmp_path: Path, docker: list[list[str]]) -> None:
    (tmp_path / "pyproject.toml").write_text("[tool.harness]\ndb_cache_max_entries = 5\n")
    assert load_config(tmp_path, env={}).db_cache_max_entries == 5
    config = load_config(
        tmp_path, env={"HARNESS_DB_CACHE_MAX_ENTRIES": "2", "HARNESS_DB_CACHE_DIR": str(tmp_path / "cache")}
    )
    assert config.db_cache_max_entries == 2 and Config(root=tmp_path).db_cache_max_entries == 10
    for n in range(4):
        _entry(config, f"e{n}", used=NOW - (4 - n) * 60)
    assert _tidy(config)[0] == ["e0", "e1"]


def test_an_entry_a_container_runs_on_stays(config: Config, docker: list[list[str]]) -> None:
    _entry(config, "inuse", day=YESTERDAY, used=NOW - 2 * HOUR)
    removed, lines = _tidy(config)
    assert removed == [] and (config.db_cache_dir / "inuse" / dbcache.ENTRY_FILE).is_file()
    assert any("kept entry inuse" in line and "container abc is using" in line for line in lines)


def test_nothing_to_remove_makes_no_docker_call(config: Config, docker: list[list[str]]) -> None:
    for n in range(10):
        _entry(config, f"e{n}")
    building = dbcache.BuildLock(config, "e1")
    assert building.acquire()
    assert _tidy(config) == ([], []) and docker == []
    building.release()
    missing = Config(root=config.root, db_cache_dir=config.root / "none", lock_dir=config.lock_dir)
    assert dbcache_tidy.tidy(missing, print, now=NOW) == [] and not missing.db_cache_dir.exists()


def test_manifest_memos_unused_for_days_go(config: Config, docker: list[list[str]]) -> None:
    private_dir(manifests_dir(config).parent)
    folder = private_dir(manifests_dir(config))
    _at(_touch(folder / "sha256_old.json"), NOW - 8 * 86400)
    _at(_touch(folder / "sha256_new.json"), NOW - 86400)
    _at(_touch(folder / "sha256_new.77.tmp"), NOW - 2 * HOUR)
    removed, _ = _tidy(config)
    assert removed == ["sha256_new.77.tmp", "sha256_old.json"]
    assert [p.name for p in folder.iterdir()] == ["sha256_new.json"]


def test_a_cache_folder_of_someone_else_is_not_tidied(config: Config, docker: list[list[str]]) -> None:
    target = config.root / "elsewhere"
    _entry(Config(root=config.root, db_cache_dir=target), "old", day=YESTERDAY, used=NOW - 2 * HOUR)
    config.db_cache_dir.symlink_to(target)
    assert _tidy(config)[0] == [] and (target / "old").is_dir()


def test_entries_belong_to_uid_and_host() -> None:
    # root on two hosts sharing one engine: two owners (labels, keys), not one user name.
    assert dbcache.cache_owner() == f"{os.getuid()}@{socket.gethostname()}"


def _mkdir(path: Path) -> Path:
    path.mkdir(parents=True)
    return path


def _touch(path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("{}")
    return path
