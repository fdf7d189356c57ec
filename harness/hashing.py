"""One content hash for trees of files: the validation's "source unchanged" proof and image tags."""

from __future__ import annotations

import hashlib
import os
from collections.abc import Callable, Iterable
from pathlib import Path

# Never part of a tree's content: Python's caches appear whenever the code is imported.
_CACHE_SUFFIXES = {".pyc", ".pyo"}


def content_hash(entries: Iterable[tuple[str, Path]], extra: Iterable[str] = ()) -> str:
    """SHA-256 (hex) over named files' names, modes and bytes, then the `extra` strings.

    Each entry is (name, path); a folder stands for every file below it (sorted, named
    `name/relative path`, Python caches skipped). Only the given names enter the hash, so it
    does not depend on where the tree lies on this machine. Inputs are length-framed: two
    different inputs never hash the same by running together.
    """
    digest = hashlib.sha256()
    for entry_name, path in entries:
        for name, file in _files_of(entry_name, Path(path)):
            executable = "x" if os.stat(file).st_mode & 0o111 else "-"
            _update_framed(digest.update, b"file", f"{name}\0{executable}".encode())
            with open(file, "rb") as handle:
                size = os.fstat(handle.fileno()).st_size
                _update_framed(digest.update, b"size", str(size).encode())
                for chunk in iter(lambda handle=handle: handle.read(1 << 20), b""):
                    digest.update(chunk)
    for item in extra:
        _update_framed(digest.update, b"extra", item.encode())
    return digest.hexdigest()


def _update_framed(update: Callable[[bytes], None], *parts: bytes) -> None:
    """Feed length-prefixed parts so different inputs can never run together."""
    for part in parts:
        update(len(part).to_bytes(8, "big"))
        update(part)


def _files_of(name: str, path: Path) -> list[tuple[str, Path]]:
    """(name, file) pairs a named path contributes to a content hash."""
    if path.is_file():
        return [(name, path)]
    if not path.is_dir():
        raise FileNotFoundError(f"cannot hash {path}: no such file or directory")
    files = [
        p for p in path.rglob("*") if p.is_file() and "__pycache__" not in p.parts and p.suffix not in _CACHE_SUFFIXES
    ]
    return sorted((f"{name}/{p.relative_to(path).as_posix()}", p) for p in files)
