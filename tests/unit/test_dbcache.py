"""harness.dbcache without Docker: the dependency closure, the cache key, the compose override."""

from __future__ import annotations

import dataclasses
import datetime
import json
import os
import time
from pathlib import Path

import pytest

from harness import dbcache, dependencies, proc
from harness.config import Config
from harness.dependencies import Addon, Unresolvable, dependency_closure, user_manifests
from tests.unit.pinned import DOCKER

IMAGE = {
    "base": Addon([], False, True),
    "web": Addon(["base"], True, True),
    "mail": Addon(["base", "bus", "web"], False, True),
    "bus": Addon(["base", "web"], False, True),
    "website": Addon(["web"], False, False),
}
DAY = datetime.date(2026, 11, 29)


def _addon(root: Path, name: str, depends: list[str], **extra: object) -> Path:
    folder = root / name
    folder.mkdir(parents=True)
    manifest = {"name": name, "depends": depends, **extra}
    (folder / "__manifest__.py").write_text(repr(manifest), encoding="utf-8")
    return folder


def _key(config: Config, user: dict[str, Addon], closure: list[str], **changes: object) -> str:
    args: dict = {
        "odoo_image_id": "sha256:odoo",
        "postgres_image_id": "sha256:pg",
        "closure": closure,
        "addons_path": config.addons_path,
        "user": user,
        "config": config,
        "today": DAY,
        "compose": dbcache.ComposeInputs(),
    }
    args.update(changes)
    return dbcache.cache_key(**args)


def test_closure_follows_depends_through_the_image_and_leaves_the_module_out() -> None:
    manifests = {**IMAGE, "traction": Addon(["mail"], False, True)}
    assert dependencies.dependency_closure("traction", manifests) == ["base", "bus", "mail", "web"]


def test_a_module_without_depends_depends_on_base() -> None:
    assert dependencies.dependency_closure("m", {**IMAGE, "m": Addon([], False, True)}) == ["base"]


@pytest.mark.parametrize(
    ("depends", "why"),
    [(["no_such_module"], "in no addons path"), (["website"], "not installable")],
)
def test_an_unresolvable_closure_means_no_cache(depends: list[str], why: str) -> None:
    with pytest.raises(Unresolvable, match=why):
        dependencies.dependency_closure("m", {**IMAGE, "m": Addon(depends, False, True)})


def test_user_manifests_read_depends_and_flags(tmp_path: Path) -> None:
    _addon(tmp_path, "a", ["base"])
    _addon(tmp_path, "b", ["a"], auto_install=True, installable=False)
    found = dependencies.user_manifests(tmp_path)
    assert found == {"a": Addon(["base"], False, True), "b": Addon(["a"], True, False)}


def test_the_key_changes_with_every_input_that_decides_the_content(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    config = Config(root=tmp_path, addons_path=tmp_path)
    dep = _addon(tmp_path, "dep", ["base"])
    user = dependencies.user_manifests(tmp_path)
    key = _key(config, user, ["base", "dep"])
    assert key == _key(config, user, ["dep", "base"]) and len(key) == 24
    variants = [
        _key(config, user, ["base", "dep"], odoo_image_id="sha256:other"),
        _key(config, user, ["base", "dep"], postgres_image_id="sha256:other"),
        _key(config, user, ["base"]),
        _key(config, user, ["base", "dep"], today=DAY + datetime.timedelta(days=1)),
        _key(Config(root=tmp_path, addons_path=tmp_path, db_password="secret"), user, ["base", "dep"]),
        _key(Config(root=tmp_path, addons_path=tmp_path, db_name="other"), user, ["base", "dep"]),
    ]
    monkeypatch.setattr(dbcache, "cache_owner", lambda: "someone-else")
    variants.append(_key(config, user, ["base", "dep"]))
    assert key not in variants and len(set(variants)) == len(variants)
    # A dependency in the user's addons path: its content is part of the key.
    (dep / "models.py").write_text("x = 1\n", encoding="utf-8")
    assert _key(config, user, ["base", "dep"]) != key


def _resolved(tmp_path: Path, **changes: object) -> dict:
    """A `docker compose config --format json` as docker-compose.agent.yml resolves, with changes."""
    odoo = {
        "image": "hub-harness/odoo:18.0",
        "environment": {"HOST": "db", "USER": "odoo", "PASSWORD": "odoo"},
        "volumes": [
            {"type": "bind", "source": str(tmp_path / "addons"), "target": "/mnt/extra-addons"},
            {"type": "volume", "source": "odoo-data", "target": "/var/lib/odoo"},
        ],
        "configs": [{"source": "odoo-server-conf", "target": "/etc/odoo/harness-server.conf"}],
    }
    db = {"image": "hub-harness/postgres:15", "environment": {"POSTGRES_USER": "odoo", "POSTGRES_DB": "postgres"}}
    resolved = {"services": {"odoo": odoo, "db": db}, "configs": {"odoo-server-conf": {"content": "admin"}}}
    for path, value in changes.items():
        service, _, field = path.partition("__")
        resolved["services"][service][field] = value
    return resolved


def test_the_key_covers_compose_files_container_environment_mounts_and_the_odoo_config(tmp_path: Path) -> None:
    """Each input that decides what the database holds changes the key; the run's own variables do not."""
    compose_file = tmp_path / "docker-compose.agent.yml"
    compose_file.write_text("services: {}\n")
    conf = tmp_path / "odoo.conf"
    conf.write_text("[options]\nwithout_demo = all\n")
    config = Config(root=tmp_path, addons_path=tmp_path / "addons", compose_files=(compose_file,))

    def key(resolved: dict, config: Config = config) -> str:
        return _key(config, {}, ["base"], compose=dbcache.compose_inputs(config, resolved))

    base = _resolved(tmp_path)
    first = key(base)
    assert key(_resolved(tmp_path)) == first  # stable
    variants = {}
    # 1. the compose files' text (an override added, or a file edited)
    override = tmp_path / "override.yml"
    override.write_text("services: {odoo: {environment: {LANG: fr_FR.UTF-8}}}\n")
    variants["another compose file"] = key(base, Config(root=tmp_path, compose_files=(compose_file, override)))
    compose_file.write_text("services: {}\n# edited\n")
    variants["compose file edited"] = key(base)
    compose_file.write_text("services: {}\n")
    # 2. the environment the containers get
    env = {"HOST": "db", "USER": "odoo", "PASSWORD": "odoo", "LANG": "fr_FR.UTF-8"}
    variants["odoo environment"] = key(_resolved(tmp_path, odoo__environment=env))
    variants["db environment"] = key(_resolved(tmp_path, db__environment={"POSTGRES_USER": "odoo", "TZ": "UTC"}))
    # 3. the Odoo configuration the test process reads: a mounted odoo.conf, and its content
    mounted = {"type": "bind", "source": str(conf), "target": "/etc/odoo/odoo.conf"}
    with_conf = _resolved(tmp_path, odoo__volumes=[*base["services"]["odoo"]["volumes"], mounted])
    variants["odoo.conf mounted"] = key(with_conf)
    conf.write_text("[options]\nwithout_demo = False\n")
    variants["mounted odoo.conf edited"] = key(with_conf)
    as_config = _resolved(tmp_path, odoo__configs=[{"source": "c", "target": "/etc/odoo/odoo.conf"}])
    as_config["configs"]["c"] = {"content": "[options]\nload_language = fr_FR\n"}
    variants["odoo.conf as a compose config"] = key(as_config)
    variants["odoo_config option"] = key(base, dataclasses.replace(config, odoo_config="/etc/odoo/other.conf"))
    # 4. a mounted Odoo source: its code, by content
    source = tmp_path / "odoo-src"
    source.mkdir()
    (source / "release.py").write_text("version = 1\n")
    src_mount = {"type": "bind", "source": str(source), "target": "/usr/lib/python3/dist-packages/odoo"}
    with_src = _resolved(tmp_path, odoo__volumes=[src_mount])
    variants["odoo source mounted"] = key(with_src)
    (source / "release.py").write_text("version = 2\n")
    variants["mounted odoo source edited"] = key(with_src)
    assert first not in variants.values()
    assert len(set(variants.values())) == len(variants), variants
    # The addons mount (its modules are keyed one by one) and the server's own config do not count.
    moved = _resolved(tmp_path, odoo__volumes=[{"type": "bind", "source": "/elsewhere", "target": "/mnt/extra-addons"}])
    assert key(moved) == first
    base["configs"]["odoo-server-conf"]["content"] = "admin_passwd = another-random-one"
    assert key(base) == first


def test_an_auto_install_module_under_test_goes_uncached(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    _addon(tmp_path, "glue", ["base"], auto_install=True)
    config = Config(root=tmp_path, addons_path=tmp_path, db_cache_dir=tmp_path / "cache")
    monkeypatch.setattr(dbcache, "image_id", lambda ref, timeout: "sha256:" + ref)
    monkeypatch.setattr(dbcache, "image_manifests", lambda ref, image_id, config: IMAGE)
    plan = dbcache.plan(config, "glue", _resolved(tmp_path))
    assert plan.mode == "off" and "glue is auto_install" in plan.reason


def test_an_entry_found_unusable_keeps_its_key_uncached_and_says_why(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _addon(tmp_path, "mod", ["base"])
    config = Config(root=tmp_path, addons_path=tmp_path, db_cache_dir=tmp_path / "cache")
    monkeypatch.setattr(dbcache, "image_id", lambda ref, timeout: "sha256:" + ref)
    monkeypatch.setattr(dbcache, "image_manifests", lambda ref, image_id, config: IMAGE)
    first = dbcache.plan(config, "mod", _resolved(tmp_path))
    assert first.mode == "hit" or first.mode == "build"
    dbcache.mark_unusable(config, first.key, "the db image ignores PGDATA")
    again = dbcache.plan(config, "mod", _resolved(tmp_path))
    assert again.mode == "off"
    assert again.reason == f"entry {first.key} is unusable: the db image ignores PGDATA"


def test_the_module_under_test_never_enters_the_key(tmp_path: Path) -> None:
    config = Config(root=tmp_path, addons_path=tmp_path)
    module = _addon(tmp_path, "mod", ["base"])
    user = dependencies.user_manifests(tmp_path)
    key = _key(config, user, ["base"])
    (module / "models.py").write_text("x = 1\n", encoding="utf-8")
    assert _key(config, user, ["base"]) == key


def test_an_auto_install_module_of_the_addons_path_is_part_of_every_key(tmp_path: Path) -> None:
    config = Config(root=tmp_path, addons_path=tmp_path)
    auto = _addon(tmp_path, "glue", ["base"], auto_install=True)
    user = dependencies.user_manifests(tmp_path)
    key = _key(config, user, ["base"])
    (auto / "data.xml").write_text("<odoo/>\n", encoding="utf-8")
    assert _key(config, user, ["base"]) != key


def test_the_override_runs_the_db_on_the_baked_cluster(tmp_path: Path) -> None:
    config = Config(root=tmp_path)
    hit = dbcache.Plan("hit", key="k" * 24, image="hub-harness-dbcache:" + "k" * 24)
    text = dbcache.override_file(hit, config, "postgres:16", tmp_path / "o.yml").read_text()
    assert '"hub-harness-dbcache:kkkkkkkkkkkkkkkkkkkkkkkk"' in text and dbcache.CACHED_PGDATA in text
    build = dbcache.Plan("build", key="k" * 24, image="hub-harness-dbcache:" + "k" * 24)
    text = dbcache.override_file(build, config, "postgres:16", tmp_path / "o.yml").read_text()
    assert '"postgres:16"' in text and dbcache.CACHED_PGDATA in text


def test_the_cache_can_be_turned_off(tmp_path: Path) -> None:
    plan = dbcache.plan(Config(root=tmp_path, db_cache=False), "m", {})
    assert plan.mode == "off" and "turned off" in plan.reason and not plan.uses_cache


def test_one_run_builds_a_key_the_others_go_uncached(tmp_path: Path) -> None:
    config = Config(root=tmp_path, db_cache_dir=tmp_path / "cache")
    first, second = dbcache.BuildLock(config, "k"), dbcache.BuildLock(config, "k")
    assert first.acquire()
    assert not second.acquire()
    first.release()
    assert second.acquire()
    second.release()


def _entry(config: Config, key: str, *, complete: bool = True, age_days: float = 0.0) -> Path:
    folder = config.db_cache_dir / key
    folder.mkdir(parents=True)
    if complete:
        entry = folder / dbcache.ENTRY_FILE
        entry.write_text(json.dumps({"odoo_image_id": "sha256:odoo", "postgres_image_id": "sha256:pg"}))
        stamp = time.time() - age_days * 86400
        os.utime(entry, (stamp, stamp))
    return folder


def test_reap_removes_half_built_stale_and_orphaned_entries_only(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    config = Config(root=tmp_path, db_cache_dir=tmp_path / "cache", db_cache_unused_days=7)
    present = {"sha256:odoo", "sha256:pg", *(f"{dbcache.REPOSITORY}:{k}" for k in ("fresh", "old", "half"))}
    monkeypatch.setattr(dbcache, "image_id", lambda ref, timeout: ref if ref in present else None)
    removed_images: list[str] = []
    listed = [f"{dbcache.REPOSITORY}:{k}" for k in ("fresh", "old", "half", "noentry")]

    def fake_run(argv: list[str], timeout: float, **kwargs: object) -> proc.Result:
        if argv[:5] == [*DOCKER, "image", "ls"]:
            # Only this user's entries of this db_cache_dir are listed: another user's, or those of
            # another folder of this user's (a test suite's), are never reaped.
            assert f"label={dbcache.LABEL}.owner={dbcache.cache_owner()}" in argv
            assert f"label={dbcache.LABEL}.dir={dbcache.cache_dir_label(config)}" in argv
            if "dangling=true" in argv:
                return proc.Result(tuple(argv), 0, "", "", 0.0)
            return proc.Result(tuple(argv), 0, "\n".join(listed), "", 0.0)
        removed_images.append(argv[-1])
        listed.remove(argv[-1])
        return proc.Result(tuple(argv), 0, "", "", 0.0)

    monkeypatch.setattr(proc, "run", fake_run)
    _entry(config, "fresh")
    _entry(config, "old", age_days=8)
    _entry(config, "half", complete=False)
    lines: list[str] = []
    assert dbcache.reap(config, lines.append, dry_run=True) == ["half", "noentry", "old"]
    assert removed_images == [] and (config.db_cache_dir / "old").is_dir()
    assert dbcache.reap(config, lines.append) == ["half", "noentry", "old"]
    assert sorted(removed_images) == [f"{dbcache.REPOSITORY}:{k}" for k in ("half", "noentry", "old")]
    assert [p.name for p in config.db_cache_dir.iterdir() if p.is_dir()] == ["fresh"]
    # The image it was built from is gone: the entry goes too.
    present.discard("sha256:odoo")
    assert dbcache.reap(config, lines.append) == ["fresh"]
    assert any("no longer exists" in line for line in lines)


def test_reap_leaves_an_entry_being_built(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    config = Config(root=tmp_path, db_cache_dir=tmp_path / "cache")
    monkeypatch.setattr(dbcache, "image_id", lambda ref, timeout: None)
    monkeypatch.setattr(proc, "run", lambda argv, timeout, **kw: proc.Result(tuple(argv), 0, "", "", 0.0))
    _entry(config, "building", complete=False)
    lock = dbcache.BuildLock(config, "building")
    assert lock.acquire()
    try:
        assert dbcache.reap(config, lambda _line: None) == []
    finally:
        lock.release()


def test_reap_removes_replaced_images_of_this_user(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    config = Config(root=tmp_path, db_cache_dir=tmp_path / "cache")
    calls: list[list[str]] = []

    def fake_run(argv: list[str], timeout: float, **kwargs: object) -> proc.Result:
        calls.append(argv)
        out = "sha256:old1\nsha256:old2" if "dangling=true" in argv else ""
        return proc.Result(tuple(argv), 0, out, "", 0.0)

    monkeypatch.setattr(proc, "run", fake_run)
    lines: list[str] = []
    dbcache.reap(config, lines.append, dry_run=True)
    assert not [c for c in calls if c[:4] == [*DOCKER, "rmi"]] and "would remove 2 replaced" in lines[-1]
    dbcache.reap(config, lines.append)
    assert [*DOCKER, "rmi", "sha256:old1", "sha256:old2"] in calls
    dangling = next(c for c in calls if "dangling=true" in c)
    assert f"label={dbcache.LABEL}.owner={dbcache.cache_owner()}" in dangling


def test_a_dependency_in_a_second_folder_enters_the_key_with_its_content(tmp_path: Path) -> None:
    own, deps = tmp_path / "own", tmp_path / "deps"
    for folder, name, depends in ((own, "mine", ["theirs"]), (deps, "theirs", ["base"])):
        (folder / name).mkdir(parents=True)
        (folder / name / "__manifest__.py").write_text(repr({"name": name, "depends": depends}))
    config = Config(root=tmp_path, addons_path=(own, deps))
    user = user_manifests(config.addons_path)
    assert dependency_closure("mine", {**user, "base": Addon([], False, True)}) == ["base", "theirs"]
    before = _key(config, user, ["base", "theirs"])
    (deps / "theirs" / "models.py").write_text("# changed\n")
    assert _key(config, user, ["base", "theirs"]) != before


def test_reap_leaves_the_images_of_another_cache_folder_of_the_same_user(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Two db_cache_dirs of one user (a developer's and a test suite's): neither reap takes the other's images."""
    mine = Config(root=tmp_path, db_cache_dir=tmp_path / "mine")
    theirs = Config(root=tmp_path, db_cache_dir=tmp_path / "theirs")
    assert dbcache.cache_dir_label(mine) != dbcache.cache_dir_label(theirs)
    images = {f"{dbcache.REPOSITORY}:k1": dbcache.cache_dir_label(theirs)}  # built for `theirs`, no folder in mine
    removed: list[str] = []

    def fake_run(argv: list[str], timeout: float, **kwargs: object) -> proc.Result:
        if argv[:5] == [*DOCKER, "image", "ls"]:
            wanted = next(a.rpartition("=")[2] for a in argv if a.startswith(f"label={dbcache.LABEL}.dir="))
            out = "" if "dangling=true" in argv else "\n".join(r for r, d in images.items() if d == wanted)
            return proc.Result(tuple(argv), 0, out, "", 0.0)
        removed.append(argv[-1])
        return proc.Result(tuple(argv), 0, "", "", 0.0)

    monkeypatch.setattr(proc, "run", fake_run)
    monkeypatch.setattr(dbcache, "image_id", lambda ref, timeout: ref)
    assert dbcache.reap(mine, lambda _line: None) == [] and removed == []
    assert dbcache.reap(theirs, lambda _line: None) == ["k1"]  # in its own folder's reap it is half-built


def test_reap_removes_an_entry_of_a_past_day_which_no_run_can_hit(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    config = Config(root=tmp_path, db_cache_dir=tmp_path / "cache")
    monkeypatch.setattr(dbcache, "image_id", lambda ref, timeout: ref)
    listed: list[str] = []
    monkeypatch.setattr(
        proc,
        "run",
        lambda argv, timeout, **kw: proc.Result(tuple(argv), 0, "\n".join(listed) if "ls" in argv else "", "", 0.0),
    )
    today = datetime.datetime.now(datetime.timezone.utc)
    for key, when in (("today", today), ("yesterday", today - datetime.timedelta(days=1))):
        folder = _entry(config, key)
        data = {"odoo_image_id": "sha256:odoo", "postgres_image_id": "sha256:pg", "created": when.isoformat()}
        (folder / dbcache.ENTRY_FILE).write_text(json.dumps(data))
    lines: list[str] = []
    assert dbcache.reap(config, lines.append, dry_run=True) == ["yesterday"]
    assert "the key holds the UTC day" in lines[0]
