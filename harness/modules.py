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


def discover_modules(addons_path: Path) -> list[str]:
    """Sorted names of the installable modules directly under `addons_path`.

    Every folder with a manifest must be named as Odoo names modules (lowercase letters,
    digits, underscores): the names become CI matrix entries and command-line arguments,
    so a folder called, say, `$(touch x)` is refused with an error, never passed on.
    """
    if not addons_path.is_dir():
        return []
    folders = [c for c in addons_path.iterdir() if c.is_dir() and not c.name.startswith(".")]
    bad = sorted(c.name for c in folders if (c / MANIFEST).is_file() and not MODULE_NAME.fullmatch(c.name))
    if bad:
        raise UsageError(
            f"addons path {addons_path} has module folders whose names are not Odoo technical names "
            f"(lowercase letters, digits and underscores, starting with a letter): {', '.join(map(repr, bad))}; "
            "rename or remove them"
        )
    return sorted(c.name for c in folders if is_installable(c))


def check_module(addons_path: Path, module: str) -> Path:
    """Fail with exit 2, naming the path searched and the closest names, unless `module` is installable."""
    validate_module_name(module)
    module_dir = addons_path / module
    if module_dir.is_dir() and (module_dir / MANIFEST).is_file():
        if not read_manifest(module_dir).get("installable", True):
            raise UsageError(f"module {module!r} in {addons_path} says installable: False; Odoo would skip it")
        return module_dir
    known = discover_modules(addons_path)
    close = difflib.get_close_matches(module, known, n=3, cutoff=0.5)
    hint = f"; did you mean {', '.join(close)}?" if close else ""
    listing = ", ".join(known) if known else "none"
    raise UsageError(
        f"module {module!r} not found in addons path {addons_path} (no {module}/{MANIFEST}){hint} "
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
