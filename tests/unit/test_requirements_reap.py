"""The bounded reap of requirements images: the policy, the in-use lock, and what `reap` removes (engine faked)."""

from __future__ import annotations

import fcntl
import multiprocessing
import os
from pathlib import Path

import pytest

from harness import engine, proc, requirements
from harness.config import Config
from harness.requirements import LABEL, OwnImage, Requirement, image_key, stale_images

DAY = 86400.0
NOW = 1_800_000_000.0


def test_the_most_recently_used_stay_and_the_rest_go_beyond_keep():
    images = [OwnImage(f"k{i}", NOW - i * 3600) for i in range(6)]
    chosen = stale_images(images, keep=4, unused_days=7, now=NOW)
    assert [(i.key, why) for i, why in chosen] == [
        ("k4", "not among the 4 most recently used"),
        ("k5", "not among the 4 most recently used"),
    ]


def test_within_keep_an_image_unused_for_longer_than_the_days_goes():
    images = [OwnImage("fresh", NOW - DAY), OwnImage("old", NOW - 9 * DAY)]
    assert [(i.key, why) for i, why in stale_images(images, keep=4, unused_days=7, now=NOW)] == [
        ("old", "unused for 9 days")
    ]
    assert stale_images(images, keep=4, unused_days=10, now=NOW) == []


def test_keep_zero_removes_every_unused_image():
    images = [OwnImage("a", NOW), OwnImage("b", NOW - 1)]
    assert len(stale_images(images, keep=0, unused_days=7, now=NOW)) == 2


def test_the_key_is_the_users_own():
    line = [Requirement("odoo-test-helper", "t:1")]
    assert image_key("sha256:1", line, owner="alice") != image_key("sha256:1", line, owner="bob")
    assert image_key("sha256:1", line, owner="alice") == image_key("sha256:1", line, owner="alice")


def test_keep_is_configurable_by_environment(tmp_path):
    from harness.config import load_config

    (tmp_path / "pyproject.toml").write_text("[tool.harness]\n", encoding="utf-8")
    assert load_config(tmp_path, env={}).requirements_keep == 4
    assert load_config(tmp_path, env={"HARNESS_REQUIREMENTS_KEEP": "1"}).requirements_keep == 1


class FakeEngine:
    """Images by tag with a created time; rmi refuses the tags a container runs on."""

    def __init__(self, tags: dict[str, str], busy: set[str] = frozenset()) -> None:
        self.tags, self.busy, self.removed = dict(tags), set(busy), []

    def list_images(self, filters, timeout, *, fmt=None):
        assert f"label={LABEL}=1" in filters and any(f.startswith(f"label={LABEL}.owner=") for f in filters)
        if "dangling=true" in filters:
            return []
        return list(self.tags)

    def inspect_image(self, reference, fmt, timeout):
        return self.tags.get(reference)

    def remove_images(self, references, timeout):
        (ref,) = references
        if ref in self.busy:
            return proc.Result(
                ("docker", "rmi", ref), 1, "", f"conflict: container abc is using its referenced image {ref}", 0.0
            )
        self.removed.append(ref)
        del self.tags[ref]
        return proc.Result(("docker", "rmi", ref), 0, f"Untagged: {ref}", "", 0.0)


def key(n: int) -> str:
    return f"{n:024x}"


@pytest.fixture
def config(tmp_path: Path) -> Config:
    return Config(root=tmp_path).with_overrides(
        lock_dir=tmp_path / "locks", requirements_state_dir=tmp_path / "req", requirements_keep=2
    )


def install(monkeypatch, fake: FakeEngine) -> None:
    for name in ("list_images", "inspect_image", "remove_images"):
        monkeypatch.setattr(engine, name, getattr(fake, name))


def use(config: Config, n: int, when: float) -> Path:
    path = requirements._use_file(config, key(n))
    path.touch()
    os.utime(path, (when, when))
    return path


def test_reap_removes_the_least_recently_used_beyond_keep_and_says_why(config, monkeypatch):
    tags = {f"hub-harness-req:{key(n)}": "2026-01-01T00:00:00.123456789Z" for n in range(4)}
    fake = FakeEngine(tags)
    install(monkeypatch, fake)
    for n in range(4):
        use(config, n, NOW - n * 60)  # key(0) the most recent
    monkeypatch.setattr(requirements.time, "time", lambda: NOW)
    lines: list[str] = []
    removed = requirements.reap(config, lines.append)
    assert removed == [f"hub-harness-req:{key(2)}", f"hub-harness-req:{key(3)}"]
    assert fake.removed == removed
    assert all("not among the 2 most recently used" in line for line in lines), lines
    assert not requirements._use_file(config, key(3)).exists()


def test_dry_run_removes_nothing(config, monkeypatch):
    fake = FakeEngine({f"hub-harness-req:{key(n)}": "" for n in range(3)})
    install(monkeypatch, fake)
    for n in range(3):
        use(config, n, NOW - n)
    lines: list[str] = []
    assert requirements.reap(config, lines.append, dry_run=True) == [f"hub-harness-req:{key(2)}"]
    assert fake.removed == [] and lines[0].startswith("would remove")


def _hold(path: str, ready, done) -> None:
    with open(path, "a", encoding="utf-8") as handle:
        fcntl.flock(handle, fcntl.LOCK_SH)
        ready.set()
        done.wait(30)


def test_an_image_a_live_run_holds_is_never_removed(config, monkeypatch):
    fake = FakeEngine({f"hub-harness-req:{key(n)}": "" for n in range(3)})
    install(monkeypatch, fake)
    for n in range(3):
        use(config, n, NOW - n)
    ctx = multiprocessing.get_context("fork")
    ready, done = ctx.Event(), ctx.Event()
    other = ctx.Process(target=_hold, args=(str(requirements._use_file(config, key(2))), ready, done))
    other.start()
    try:
        assert ready.wait(30)
        assert requirements.reap(config, lambda line: None) == []
        assert fake.removed == []
    finally:
        done.set()
        other.join(30)
    assert requirements.reap(config, lambda line: None) == [f"hub-harness-req:{key(2)}"]


def test_this_process_keeps_what_it_marked_in_use(config, monkeypatch):
    fake = FakeEngine({f"hub-harness-req:{key(n)}": "" for n in range(3)})
    install(monkeypatch, fake)
    monkeypatch.setattr(requirements, "_IN_USE", {})
    for n in range(3):
        use(config, n, NOW - n)
    requirements.mark_in_use(config, key(2))
    try:
        assert requirements.reap(config, lambda line: None) == []
    finally:
        for handle in requirements._IN_USE.values():
            handle.close()


def test_an_image_a_container_runs_on_is_kept_and_said_so(config, monkeypatch):
    busy = f"hub-harness-req:{key(2)}"
    fake = FakeEngine({f"hub-harness-req:{key(n)}": "2026-01-01T00:00:00Z" for n in range(3)}, busy={busy})
    install(monkeypatch, fake)
    use(config, 0, NOW)
    use(config, 1, NOW)  # key(2) has no use file: it counts from its creation (older)
    lines: list[str] = []
    assert requirements.reap(config, lines.append) == []
    assert lines and lines[0].startswith(f"kept requirements image {busy}") and "is using" in lines[0]
    assert not requirements._use_file(config, key(2)).exists()  # the reap's open made no use record


def test_other_tags_and_untagged_images_are_not_read_as_keys(config, monkeypatch):
    fake = FakeEngine({"hub-harness-req:<none>": "", "other/image:1": "", f"hub-harness-req:{key(1)}": ""})
    install(monkeypatch, fake)
    assert [i.key for i in requirements.own_images(config)] == [key(1)]


def test_marking_in_use_records_the_time_and_holds_a_shared_lock(config, monkeypatch):
    monkeypatch.setattr(requirements, "_IN_USE", {})
    path = requirements._use_file(config, key(7))
    requirements.mark_in_use(config, key(7))
    try:
        with open(path, "a", encoding="utf-8") as other:
            fcntl.flock(other, fcntl.LOCK_SH | fcntl.LOCK_NB)  # another user of the image is fine
            fcntl.flock(other, fcntl.LOCK_UN)
            with pytest.raises(BlockingIOError):
                fcntl.flock(other, fcntl.LOCK_EX | fcntl.LOCK_NB)  # a reap is not
    finally:
        requirements._IN_USE.pop(key(7)).close()
