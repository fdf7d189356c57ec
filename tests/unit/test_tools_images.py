"""tools.images without Docker: content hashes, image references, apt sources parsing."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from harness import hashing
from harness.errors import EnvironmentProblem
from tests.unit.test_hashing import write_tree
from tools import images, rootfs


def test_content_hash_is_the_projects_tree_hash_cut_for_a_tag(tmp_path: Path) -> None:
    tree = write_tree(tmp_path / "ctx", {"a.txt": "alpha", "sub/b.txt": "beta"})
    short = images.content_hash([("ctx", tree)], extra=["x"])
    assert short == hashing.content_hash([("ctx", tree)], extra=["x"])[:12]


def test_content_hash_rejects_a_missing_path(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError):
        images.content_hash([("missing", tmp_path / "missing")])


def test_references_are_tagged_by_their_inputs(tmp_path: Path) -> None:
    base = images.base_reference()
    assert base.startswith("hub-harness/base:") and len(base.rsplit(":", 1)[1]) == 12
    standin, postgres = images.standin_spec(), images.postgres_spec()
    assert standin.reference(base).startswith("hub-harness/standin-odoo:")
    assert postgres.reference(base).startswith("hub-harness/postgres:")
    # A new base means new images.
    assert standin.reference(base) != standin.reference(base + "x")
    # The real image is keyed by the Odoo source's bytes, wherever the source lies.
    one = write_tree(tmp_path / "a", {"odoo/release.py": "version_info = (18, 0)"})
    two = write_tree(tmp_path / "b" / "c", {"odoo/release.py": "version_info = (18, 0)"})
    assert images.odoo_spec(one).reference(base) == images.odoo_spec(two).reference(base)
    (two / "odoo" / "release.py").write_text("version_info = (18, 1)", encoding="utf-8")
    assert images.odoo_spec(one).reference(base) != images.odoo_spec(two).reference(base)


def test_an_odoo_source_must_be_odoo(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    with pytest.raises(EnvironmentProblem, match="no odoo/release.py"):
        images.odoo_spec(write_tree(tmp_path / "src", {"README": "not odoo"}))
    with pytest.raises(EnvironmentProblem, match="does not exist"):
        images.odoo_spec(tmp_path / "missing.tar.xz")
    monkeypatch.delenv(images.ODOO_SOURCE_ENV, raising=False)
    with pytest.raises(EnvironmentProblem, match=images.ODOO_SOURCE_ENV):
        images.odoo_source_from_env()


def test_postgres_17_is_the_same_image_on_a_trixie_base_of_its_own() -> None:
    pg15, pg17 = images.postgres_spec(), images.postgres17_spec()
    assert pg17.base.suite == "trixie" and "postgresql-17" in pg17.base.packages
    assert images.base_reference(pg17.base).startswith("hub-harness/base-trixie-postgres17:")
    assert images.base_reference(pg17.base) != images.base_reference()
    # One Dockerfile and one entrypoint: the base decides the version, the tag differs by it.
    assert (pg17.dockerfile, pg17.files) == (pg15.dockerfile, pg15.files)
    assert pg17.reference(images.base_reference(pg17.base)) != pg15.reference(images.base_reference(pg15.base))
    assert "/postgresql/15" not in pg15.dockerfile.read_text()  # no version written into it
    assert all("postgresql/15" not in exclude for exclude in pg17.base.excludes)


def test_every_spec_file_exists() -> None:
    for spec in (images.standin_spec(), images.postgres_spec(), images.postgres17_spec()):
        assert spec.dockerfile.is_file(), spec.dockerfile
        for _name, path in spec.files:
            assert path.exists(), path


DEB822 = """\
Types: deb
URIs: http://mirror.example/debian-security
Suites: bookworm-security
Components: main

Types: deb-src
URIs: http://src.example/debian
Suites: bookworm
Components: main

Types: deb
# a comment
URIs: http://mirror.example/debian
Suites: bookworm bookworm-updates
Components: main
"""


def test_mirror_from_deb822_picks_the_binary_entry_of_the_exact_suite() -> None:
    assert rootfs._mirror_from_deb822(DEB822, "bookworm") == "http://mirror.example/debian"
    assert rootfs._mirror_from_deb822(DEB822, "trixie") is None


def test_mirror_from_one_line_sources() -> None:
    text = (
        "# deb http://old.example/debian bookworm main\n"
        "deb [arch=amd64] http://mirror.example/debian bookworm main contrib\n"
    )
    assert rootfs._mirror_from_one_line(text, "bookworm") == "http://mirror.example/debian"
    assert rootfs._mirror_from_one_line(text, "bullseye") is None


def test_mirror_can_be_given_by_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(rootfs.MIRROR_ENV, "http://mirror.example/debian")
    assert rootfs.debian_mirror() == "http://mirror.example/debian"


def test_missing_docker_is_an_environment_problem(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(rootfs.shutil, "which", lambda _name: None)
    with pytest.raises(EnvironmentProblem, match="docker is not installed"):
        images.ensure_images([images.postgres_spec()], log=lambda _line: None)


def test_missing_debootstrap_is_an_environment_problem(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(rootfs.shutil, "which", lambda name: None if name == "debootstrap" else f"/usr/bin/{name}")
    monkeypatch.setattr(rootfs.os, "geteuid", lambda: 0)
    with pytest.raises(EnvironmentProblem, match="debootstrap is not installed"):
        rootfs.build_base("hub-harness/base:test", log=lambda _line: None)


def test_a_user_without_root_is_told_that_the_base_needs_root_once(monkeypatch: pytest.MonkeyPatch) -> None:
    # Checked before debootstrap's presence: a user's PATH on Debian has no /usr/sbin.
    monkeypatch.setattr(rootfs.shutil, "which", lambda name: None)
    monkeypatch.setattr(rootfs.os, "geteuid", lambda: 1001)
    with pytest.raises(EnvironmentProblem, match="need root: run this once as root"):
        rootfs.build_base("hub-harness/base:test", log=lambda _line: None)


def test_a_failing_command_reports_its_output_tail() -> None:
    script = "import sys; print('\\n'.join(f'line {i}' for i in range(100))); sys.exit(3)"
    with pytest.raises(EnvironmentProblem) as caught:
        rootfs.run_checked([sys.executable, "-c", script], timeout=30, what="the probe")
    message = caught.value.message
    assert message.startswith("the probe failed (exit 3)")
    assert "line 99" in message and "line 0\n" not in message


def test_a_missing_executable_is_an_environment_problem() -> None:
    with pytest.raises(EnvironmentProblem, match="not found on PATH"):
        rootfs.run_checked(["/nonexistent/tool"], timeout=5, what="the probe")
