"""The one content hash: stable, location-independent, sensitive to every change that matters."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from harness.hashing import content_hash


def write_tree(root: Path, files: dict[str, str]) -> Path:
    for name, text in files.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
    return root


def test_stable_and_independent_of_where_the_tree_lies(tmp_path: Path) -> None:
    one = write_tree(tmp_path / "one" / "ctx", {"a.txt": "alpha", "sub/b.txt": "beta"})
    two = write_tree(tmp_path / "two" / "elsewhere" / "ctx", {"sub/b.txt": "beta", "a.txt": "alpha"})
    first = content_hash([("ctx", one)], extra=["x"])
    assert first == content_hash([("ctx", one)], extra=["x"]) == content_hash([("ctx", two)], extra=["x"])
    assert len(first) == 64 and int(first, 16) >= 0


@pytest.mark.parametrize(
    "change",
    [
        lambda root: (root / "a.txt").write_text("alpha!", encoding="utf-8"),
        lambda root: (root / "sub" / "c.txt").write_text("", encoding="utf-8"),
        lambda root: (root / "sub" / "b.txt").rename(root / "sub" / "renamed.txt"),
        lambda root: os.chmod(root / "a.txt", 0o755),
        # Bytes moved from one file's end to the next file's start: same concatenation, other tree.
        lambda root: ((root / "a.txt").write_text("alph"), (root / "sub" / "b.txt").write_text("abeta")),
    ],
    ids=["content", "new-file", "rename", "mode", "bytes-moved-between-files"],
)
def test_changes_when_the_tree_changes(tmp_path: Path, change) -> None:
    tree = write_tree(tmp_path / "ctx", {"a.txt": "alpha", "sub/b.txt": "beta"})
    before = content_hash([("ctx", tree)])
    change(tree)
    assert content_hash([("ctx", tree)]) != before


def test_ignores_python_caches(tmp_path: Path) -> None:
    tree = write_tree(tmp_path / "ctx", {"mod.py": "x = 1"})
    before = content_hash([("ctx", tree)])
    write_tree(tree, {"__pycache__/mod.cpython-311.pyc": "junk", "old.pyc": "junk"})
    assert content_hash([("ctx", tree)]) == before


def test_covers_extra_strings_and_single_files(tmp_path: Path) -> None:
    file = write_tree(tmp_path, {"Dockerfile": "FROM x"}) / "Dockerfile"
    assert content_hash([("ctx", file)], extra=["base=a"]) != content_hash([("ctx", file)], extra=["base=b"])
    assert content_hash([], extra=["ab", "c"]) != content_hash([], extra=["a", "bc"])


def test_rejects_a_missing_path(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError):
        content_hash([("missing", tmp_path / "missing")])
