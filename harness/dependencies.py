"""What Odoo would install for a module: manifests in the addons path and in the image, and the closure.

The database cache keys its entries by this closure, so it must follow `depends` as Odoo does;
anything it cannot resolve exactly makes the run go uncached (Odoo's own verdict then shows).
"""

from __future__ import annotations

import contextlib
import json
import os
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import NamedTuple

from harness import engine
from harness.config import Config
from harness.errors import EnvironmentProblem
from harness.modules import MANIFEST, module_dirs, read_manifest
from harness.paths import manifests_dir, private_state_dir, read_json

# Where Odoo's addons live in an image laid out as the official one.
IMAGE_ADDONS = "/usr/lib/python3/dist-packages/odoo/addons"

# Prints {name: [depends, auto_install, installable]} for the addons of the image: Odoo's own and
# those pip installed (`odoo-addon-*` wheels land in an `odoo/addons` folder of another sys.path
# entry, which the `odoo.addons` namespace joins). Without importing odoo: it is slow to import.
_MANIFEST_SCRIPT = f"""
import ast, json, pathlib, sys
out = {{}}
folders = [pathlib.Path({IMAGE_ADDONS!r})] + [pathlib.Path(p or ".") / "odoo" / "addons" for p in sys.path]
for folder in folders:
    for manifest in sorted(folder.glob("*/{MANIFEST}")):
        if manifest.parent.name in out:
            continue
        try:
            data = ast.literal_eval(manifest.read_text(encoding="utf-8"))
        except Exception:
            continue
        out[manifest.parent.name] = [
            list(data.get("depends", [])), bool(data.get("auto_install", False)), bool(data.get("installable", True))
        ]
print(json.dumps(out))
"""


class Addon(NamedTuple):
    """What a manifest says that decides what Odoo installs."""

    depends: list[str]
    auto_install: bool
    installable: bool


class Unresolvable(Exception):
    """The dependency closure cannot be computed exactly: the run goes uncached."""


def image_manifests(odoo_image: str, odoo_image_id: str, config: Config) -> dict[str, Addon]:
    """The image's addons as {name: (depends, auto_install, installable)}, read once per image ID.

    The memo lives in the user's private state folder, and one whose content is not what this
    function writes is ignored (read again from the image).
    """
    memo_dir = manifests_dir(config)
    memo = memo_dir / f"{odoo_image_id.replace(':', '_').replace('/', '_')}.json"
    remembered = _checked_manifests(read_json(memo))
    if remembered is not None:
        with contextlib.suppress(OSError):  # its time is its last use: the run-start tidy drops unused memos
            os.utime(memo)
        return remembered
    result = engine.run_image(odoo_image, ["-c", _MANIFEST_SCRIPT], config.command_timeout, entrypoint="python3")
    if not result.ok:
        raise Unresolvable(f"could not read the addons of {odoo_image}: {result.output.strip()[-300:]}")
    found = _checked_manifests(_loads(result.stdout))
    if found is None:
        raise Unresolvable(f"could not read the addons of {odoo_image}: unexpected output {result.stdout[:200]!r}")
    with contextlib.suppress(OSError, EnvironmentProblem):  # the memo only saves the next run a container
        private_state_dir(memo_dir, config)
        tmp = memo.with_suffix(f".{os.getpid()}.tmp")
        tmp.write_text(result.stdout, encoding="utf-8")
        tmp.replace(memo)
    return found


def _loads(text: str) -> object:
    try:
        return json.loads(text)
    except ValueError:
        return None


def _checked_manifests(data: object) -> dict[str, Addon] | None:
    """{name: Addon} when `data` is what _MANIFEST_SCRIPT prints, else None."""
    if not isinstance(data, dict):
        return None
    found: dict[str, Addon] = {}
    for name, value in data.items():
        if not (isinstance(name, str) and isinstance(value, list) and len(value) == 3):
            return None
        depends, auto, installable = value
        if not (isinstance(depends, list) and all(isinstance(d, str) for d in depends)):
            return None
        if not (isinstance(auto, bool) and isinstance(installable, bool)):
            return None
        found[name] = Addon(depends, auto, installable)
    return found


def user_manifests(addons_path: Path | Iterable[Path]) -> dict[str, Addon]:
    """Every addons folder's modules as {name: (depends, auto_install, installable)}."""
    found: dict[str, Addon] = {}
    for name, module_dir in module_dirs(addons_path).items():
        data = read_manifest(module_dir)
        depends = [str(d) for d in data.get("depends", []) or []]  # type: ignore[union-attr]
        auto, installable = bool(data.get("auto_install", False)), bool(data.get("installable", True))
        found[name] = Addon(depends, auto, installable)
    return found


def dependency_closure(module: str, manifests: Mapping[str, Addon]) -> list[str]:
    """Every module `module` depends on, directly or not (not itself), as Odoo resolves `depends`.

    Raises Unresolvable when a dependency exists nowhere or is not installable: then the
    uncached run shows Odoo's own verdict on it.
    """
    if module not in manifests:
        raise Unresolvable(f"{module} is not in the addons path")
    seen: set[str] = set()
    todo = list(manifests[module].depends) or ["base"]
    while todo:
        name = todo.pop()
        if name in seen:
            continue
        if name not in manifests:
            raise Unresolvable(f"dependency {name!r} is in no addons path")
        if not manifests[name].installable:
            raise Unresolvable(f"dependency {name!r} is not installable")
        seen.add(name)
        todo.extend(manifests[name].depends)
    if module in seen:
        raise Unresolvable(f"{module} depends on itself")
    return sorted(seen)
