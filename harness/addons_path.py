"""The addons folders in the container: where each is mounted, Odoo's --addons-path, and the way back.

The first folder is mounted at /mnt/extra-addons by docker-compose.agent.yml itself (the official
image's odoo.conf names that path); every further folder gets a mount of its own in a compose
override file written for the run, read-only like the first.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

from harness.config import Config
from harness.paths import CONTAINER_ADDONS


def container_folders(config: Config) -> list[str]:
    """The container path of each addons folder, in the order of addons_path."""
    return [CONTAINER_ADDONS if i == 0 else f"{CONTAINER_ADDONS}-{i}" for i in range(len(config.addons_path))]


def odoo_addons_path(config: Config) -> str:
    """Odoo's `--addons-path` value: every mounted folder, in order (Odoo takes the first it finds)."""
    return ",".join(container_folders(config))


def override_file(config: Config, target: Path, odoo_service: str | None = None) -> Path | None:
    """A compose override mounting the second and further folders read-only (None: there is only one)."""
    mounts = list(zip(config.addons_path, container_folders(config), strict=True))[1:]
    if not mounts:
        return None
    lines = [
        "# Written by the harness for one run: the further addons folders (harness/addons_path.py).",
        "services:",
        f"  {odoo_service or config.odoo_service}:",
        "    volumes:",
    ]
    for source, where in mounts:
        lines += [
            "      - type: bind",
            f"        source: {json.dumps(str(source))}",
            f"        target: {json.dumps(where)}",
            "        read_only: true",
        ]
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return target


def host_path(container_path: str, config: Config) -> Path | None:
    """The host file behind a path inside one of the mounted folders (None: not in any)."""
    # Longest prefix first: /mnt/extra-addons-1/... must not be read as /mnt/extra-addons + "-1/...".
    pairs = sorted(
        zip(container_folders(config), config.addons_path, strict=True), key=lambda p: len(p[0]), reverse=True
    )
    for where, source in pairs:
        if container_path.startswith(where + "/"):
            return source / container_path[len(where) + 1 :]
    return None


def repository_path(container_path: str, config: Config, repository: Path) -> str | None:
    """A container path as the repository names it (`addons/m/tests/test_x.py`).

    Paths outside `repository` (a temporary copy of the addons) stay absolute on this machine;
    None for a path in no mounted folder (Odoo's own code, a pip-installed addon).
    """
    host = host_path(container_path, config)
    if host is None:
        return None
    relative = os.path.relpath(host, repository)
    return host.as_posix() if relative.startswith("..") else Path(relative).as_posix()
