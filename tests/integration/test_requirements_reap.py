"""The bounded reap of requirements images on the real engine: what goes, what a live run or a container keeps.

The images are tiny (FROM scratch, labels only) and carry an owner of their own (the test
pretends to be a user nobody else is), so the reap under test can only ever see them.
"""

from __future__ import annotations

import fcntl
import os
import secrets
import subprocess
import sys
from pathlib import Path

import pytest

from harness import engine, proc, requirements
from harness.config import Config
from harness.requirements import LABEL, REPOSITORY

pytestmark = pytest.mark.integration

TIMEOUT = 120.0


def tiny_image(context: Path, key: str, owner: str) -> str:
    """A labelled image of no layers, tagged as a requirements image of `owner`."""
    context.mkdir(parents=True)
    (context / "Dockerfile").write_text(
        f'FROM scratch\nCMD ["none"]\nLABEL {LABEL}=1 {LABEL}.owner={owner} {LABEL}.key={key}\n', encoding="utf-8"
    )
    tag = f"{REPOSITORY}:{key}"
    built = engine.build_image(context, tag, lambda line: None, TIMEOUT, network="none")
    assert built.returncode == 0, built
    return tag


def test_reap_keeps_the_newest_and_what_is_in_use_and_removes_the_rest(tmp_path, monkeypatch):
    owner = f"hub-test-reap-{secrets.token_hex(4)}"
    monkeypatch.setattr(requirements.getpass, "getuser", lambda: owner)
    config = Config(root=tmp_path).with_overrides(
        lock_dir=tmp_path / "locks", requirements_state_dir=tmp_path / "req", requirements_keep=1
    )
    keys = [secrets.token_hex(12) for _ in range(4)]
    tags = [tiny_image(tmp_path / f"c{n}", key, owner) for n, key in enumerate(keys)]
    container = None
    holder = None
    try:
        for n, key in enumerate(keys):  # keys[0] the most recently used
            path = requirements._use_file(config, key)
            path.touch()
            os.utime(path, (1_800_000_000 - n * 60, 1_800_000_000 - n * 60))
        # keys[1]: a live run of this user holds it (another process, as a run would).
        script = (
            "import fcntl, sys, time\n"
            f"h = open({str(requirements._use_file(config, keys[1]))!r}, 'a')\n"
            "fcntl.flock(h, fcntl.LOCK_SH); print('held', flush=True); time.sleep(60)\n"
        )
        holder = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, text=True)
        assert holder.stdout is not None and holder.stdout.readline().strip() == "held"
        # keys[2]: a container (created, never started) is on it: docker rmi without --force refuses.
        created = proc.run(["docker", "create", "--label", f"{LABEL}.test={owner}", tags[2]], timeout=TIMEOUT)
        assert created.ok, created.output
        container = created.stdout.strip()
        lines: list[str] = []
        removed = requirements.reap(config, lines.append)
        assert removed == [tags[3]], lines
        assert (
            engine.image_id(tags[0], TIMEOUT)
            and engine.image_id(tags[1], TIMEOUT)
            and engine.image_id(tags[2], TIMEOUT)
        )
        assert engine.image_id(tags[3], TIMEOUT) is None
        assert any(line.startswith(f"kept requirements image {tags[2]}") for line in lines), lines
        # Once the run has ended and the container is gone, they go too; the newest stays.
        holder.kill()
        holder.wait(30)
        proc.run(["docker", "rm", "-f", container], timeout=TIMEOUT)
        container = None
        assert sorted(requirements.reap(config, lines.append)) == sorted([tags[1], tags[2]])
        assert engine.image_id(tags[0], TIMEOUT)
        with open(requirements._use_file(config, keys[0]), "a", encoding="utf-8") as handle:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)  # the reap left no lock behind
    finally:
        if holder is not None and holder.poll() is None:
            holder.kill()
        if container:
            proc.run(["docker", "rm", "-f", container], timeout=TIMEOUT)
        proc.run(["docker", "rmi", *tags], timeout=TIMEOUT)
