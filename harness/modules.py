"""Odoo modules in the addons path: discovery and the pre-flight check."""

from __future__ import annotations

import ast
import difflib
import re
from collections.abc import Iterable
from pathlib import Path

from harness.errors import UsageError
from harness.naming import MODULE_NAME, validate_module_name

MANIFEST = "__manifest__.py"


def read_manifest(module_dir: Path) -> dict[str, object]:
    """The module's manifest as a dict (a Python literal, never executed)."""
    text = (module_dir / MANIFEST).read_text(encoding="utf-8")
    try:
        value = ast.literal_eval(text)
    except (SyntaxError, ValueError) as exc:
        raise UsageError(f"{module_dir / MANIFEST} is not a Python dict literal: {exc}") from None
    if not isinstance(value, dict):
        raise UsageError(f"{module_dir / MANIFEST} does not contain a dict")
    return value


def is_installable(module_dir: Path) -> bool:
    """A module Odoo would install: a manifest that does not say `installable: False`."""
    if not (module_dir / MANIFEST).is_file():
        return False
    try:
        return bool(read_manifest(module_dir).get("installable", True))
    except UsageError:
        return False


def has_tests(module_dir: Path) -> bool:
    """Whether the module has tests for Odoo to find: a `tests` package (folder) or `tests.py`.

    Odoo 18 imports `odoo.addons.MODULE.tests` (odoo/tests/loader.py); without one there is
    nothing to run, and the run ends NO TESTS (exit 5) once the module installed cleanly. A
    `tests` folder that runs no test is a failure (exit 1): its tests were meant to run.
    """
    return (module_dir / "tests").is_dir() or (module_dir / "tests.py").is_file()


def _folders(addons_path: Path | Iterable[Path]) -> list[Path]:
    return [addons_path] if isinstance(addons_path, Path) else list(addons_path)


def module_dirs(addons_path: Path | Iterable[Path]) -> dict[str, Path]:
    """{name: folder} of every module (a folder with a manifest) directly under the addons folders.

    Only folders with a manifest count, so a repository root used as an addons folder does not
    pick up its other folders (docs/, tests/, setup/). Every module folder must be named as Odoo
    names modules (lowercase letters, digits, underscores): the names become CI matrix entries
    and command-line arguments, so a folder called, say, `$(touch x)` is refused with an error,
    never passed on. A name in two folders is an error naming both: Odoo would silently take the
    first.
    """
    found: dict[str, Path] = {}
    for folder in _folders(addons_path):
        if not folder.is_dir():
            continue
        children = sorted(c for c in folder.iterdir() if c.is_dir() and not c.name.startswith("."))
        modules = [c for c in children if (c / MANIFEST).is_file()]
        bad = [c.name for c in modules if not MODULE_NAME.fullmatch(c.name)]
        if bad:
            raise UsageError(
                f"addons path {folder} has module folders whose names are not Odoo technical names "
                f"(lowercase letters, digits and underscores, starting with a letter): {', '.join(map(repr, bad))}; "
                "rename or remove them"
            )
        for module_dir in modules:
            if module_dir.name in found:
                raise UsageError(
                    f"module {module_dir.name!r} is in two addons folders: {found[module_dir.name]} and "
                    f"{module_dir}; Odoo would silently use the first: remove one, or drop one folder from addons_path"
                )
            found[module_dir.name] = module_dir
    return found


def discover_modules(addons_path: Path | Iterable[Path]) -> list[str]:
    """Sorted names of the installable modules directly under the addons folders (see module_dirs)."""
    return sorted(name for name, folder in module_dirs(addons_path).items() if is_installable(folder))


def check_module(addons_path: Path | Iterable[Path], module: str) -> Path:
    """The module's folder; fails with exit 2, naming the folders searched and the closest names, unless installable."""
    validate_module_name(module)
    folders = _folders(addons_path)
    found = module_dirs(folders)
    searched = ", ".join(map(str, folders))
    module_dir = found.get(module)
    if module_dir is not None:
        if not read_manifest(module_dir).get("installable", True):
            raise UsageError(f"module {module!r} in {module_dir.parent} says installable: False; Odoo would skip it")
        return module_dir
    known = discover_modules(folders)
    close = difflib.get_close_matches(module, known, n=3, cutoff=0.5)
    hint = f"; did you mean {', '.join(close)}?" if close else ""
    listing = ", ".join(known) if known else "none"
    raise UsageError(
        f"module {module!r} not found in addons path {searched} (no {module}/{MANIFEST}){hint} "
        f"Modules there: {listing}."
    )


# `tests(module='NAME')` as nox names the parametrized session.
_SESSION_ARG = re.compile(r"tests\(module=['\"]([^'\"]*)['\"]\)")


def requested_modules(words: Iterable[str]) -> list[str]:
    """Module names asked for as `tests(module='NAME')` in a command line or NOXSESSION value.

    The noxfile adds these to the sessions it defines, so a misspelt module
    reaches the harness's own check (exit 2, closest names) instead of nox's
    "Sessions not found" (exit 3, which the harness reserves for the environment).
    """
    return [match for word in words for match in _SESSION_ARG.findall(word)]
