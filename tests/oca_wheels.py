"""Test helper: real OCA 18.0 addons from their published wheels, downloaded with the host's pip at test time.

    from tests.oca_wheels import PINNED, addons_folder
    folder = addons_folder(["date_range", "base_time_window"], tmp_path / "addons")

Each wheel `odoo-addon-<name>==<version>` is fetched once with `pip download --no-deps` (the
user's own pip configuration: indexes, proxies, certificates) into a cache folder and its
`odoo/addons/<name>/` unpacked beside it; `addons_folder` copies the unpacked addons into one
folder that can serve as an addons path. Nothing here is committed to the repository.

PINNED lists addons that depend only on `base`, `web` or `mail`, have tests, and pass under
plain Odoo on the project's image (Odoo 18.0-20250506), run the way OCA's CI runs one addon:
`-i NAME --test-tags /NAME --stop-after-init` on a fresh database, with `odoo-test-helper`
importable. Some newer releases of the same addons need a newer Odoo 18 (`from
odoo.tests.common import SETATTR_SOURCES` fails on this one): those are pinned to the last
release that works here. The test counts are Odoo's own (`odoo.tests.result`), measured so.
"""

from __future__ import annotations

import os
import re
import shutil
import sys
import zipfile
from collections.abc import Iterable
from pathlib import Path
from typing import NamedTuple

from harness import proc


class Pinned(NamedTuple):
    """One OCA addon release and what plain Odoo said about it here."""

    version: str
    tests: int  # Odoo's count (`... of N tests`) under plain Odoo, OCA-style, on hub-harness/odoo:18.0
    test_helper: bool  # its tests import odoo_test_helper (from test-requirements.txt)


# name -> release (18 addons, 7 importing odoo_test_helper), measured with plain_odoo_argv on
# hub-harness/odoo:18.0 (Odoo 18.0-20250506): each
# exited 0 with 0 failed, 0 errors of `tests` tests. `auditlog` and `base_name_search_improved` are
# the last releases before their tests import SETATTR_SOURCES (which this Odoo does not have).
# `base_sequence_option` also names odoo_test_helper in its manifest's external_dependencies.
PINNED: dict[str, Pinned] = {
    "auditlog": Pinned("18.0.2.0.6", 40, False),
    "base_cancel_confirm": Pinned("18.0.1.1.0.2", 3, True),
    "base_cron_exclusion": Pinned("18.0.1.0.1", 2, False),
    "base_export_manager": Pinned("18.0.1.0.3.2", 8, False),
    "base_name_search_improved": Pinned("18.0.1.1.0.13", 6, False),
    "base_revision": Pinned("18.0.1.0.2.3", 3, True),
    "base_sequence_option": Pinned("18.0.1.0.1", 1, True),
    "base_substate": Pinned("18.0.1.0.2", 1, True),
    "base_technical_user": Pinned("18.0.1.0.1", 6, False),
    "base_tier_validation": Pinned("18.0.3.5.2", 43, True),
    "base_time_window": Pinned("18.0.1.1.1", 3, True),
    "base_user_role": Pinned("18.0.1.2.2", 20, False),
    "base_view_inheritance_extension": Pinned("18.0.1.0.3.3", 8, False),
    "date_range": Pinned("18.0.5.0.2.2", 19, True),
    "jsonifier": Pinned("18.0.1.1.1", 18, False),
    "mail_composer_cc_bcc": Pinned("18.0.1.0.3", 13, False),
    "mail_tracking": Pinned("18.0.1.0.11.2", 35, False),
    "scheduler_error_mailer": Pinned("18.0.1.0.0.9", 2, False),
}

# The package OCA's test-requirements.txt names for FakeModelLoader.
TEST_HELPER = "odoo-test-helper==2.1.3"

PIP_TIMEOUT = 300.0


def distribution(name: str) -> str:
    """The PyPI name of an OCA addon's wheel (`date_range` -> `odoo-addon-date-range`)."""
    return "odoo-addon-" + name.replace("_", "-")


def requirement(name: str) -> str:
    """The pinned requirement line of an addon of PINNED."""
    return f"{distribution(name)}=={PINNED[name].version}"


def cache_dir() -> Path:
    """Where wheels and unpacked addons are kept between test runs (HARNESS_OCA_WHEELS_CACHE)."""
    default = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "hub-harness" / "oca-wheels"
    return Path(os.environ.get("HARNESS_OCA_WHEELS_CACHE") or default)


def download(requirement_line: str, dest: Path | None = None) -> Path:
    """The wheel file of one pinned requirement (`name==version`), downloaded with pip unless cached."""
    dest = dest or cache_dir() / "wheels"
    dest.mkdir(parents=True, exist_ok=True)
    dist, _, version = requirement_line.partition("==")
    pattern = re.compile(re.escape(dist.replace("-", "_")) + "-" + re.escape(version) + r"-.*\.whl", re.I)
    found = [p for p in dest.iterdir() if pattern.fullmatch(p.name)]
    if found:
        return found[0]
    argv = [sys.executable, "-m", "pip", "download", "--no-deps", "--disable-pip-version-check", "-q"]
    result = proc.run([*argv, "-d", str(dest), requirement_line], timeout=PIP_TIMEOUT)
    found = [p for p in dest.iterdir() if pattern.fullmatch(p.name)]
    if not result.ok or not found:
        raise RuntimeError(f"pip download {requirement_line} failed (exit {result.returncode}): {result.output[-600:]}")
    return found[0]


def unpacked(name: str) -> Path:
    """The addon folder `name/` of its pinned wheel, unpacked once into the cache."""
    target = cache_dir() / "addons" / f"{name}-{PINNED[name].version}" / name
    if (target / "__manifest__.py").is_file():
        return target
    wheel = download(requirement(name))
    staging = target.parent.with_name(target.parent.name + f".{os.getpid()}.tmp")
    shutil.rmtree(staging, ignore_errors=True)
    prefix = f"odoo/addons/{name}/"
    with zipfile.ZipFile(wheel) as archive:
        for member in archive.namelist():
            if member.startswith(prefix) and not member.endswith("/"):
                out = staging / name / member[len(prefix) :]
                out.parent.mkdir(parents=True, exist_ok=True)
                out.write_bytes(archive.read(member))
    shutil.rmtree(target.parent, ignore_errors=True)
    staging.replace(target.parent)
    return target


def addons_folder(names: Iterable[str], target: Path) -> Path:
    """A folder holding the named addons (from PINNED), readable by the container's user: an addons path."""
    target.mkdir(parents=True, exist_ok=True)
    for name in names:
        shutil.copytree(unpacked(name), target / name, dirs_exist_ok=True)
    for folder, _, files in os.walk(target):
        os.chmod(folder, 0o755)
        for file in files:
            os.chmod(Path(folder) / file, 0o644)
    return target


def test_helper_folder() -> Path:
    """odoo-test-helper unpacked into a folder that can go on PYTHONPATH (plain Odoo's runs)."""
    target = cache_dir() / "python" / TEST_HELPER.replace("==", "-")
    if (target / "odoo_test_helper").is_dir():
        return target
    wheel = download(TEST_HELPER)
    with zipfile.ZipFile(wheel) as archive:
        archive.extractall(target)
    os.chmod(target, 0o755)
    return target


# Odoo's own summary of the test database: `0 failed, 0 error(s) of 6 tests when loading database 'x'`.
_RESULT = re.compile(r"(\d+) failed, (\d+) error\(s\) of (\d+) tests when loading database")


def odoo_counts(log: str) -> tuple[int, int, int] | None:
    """(failed, errors, tests) from Odoo's `odoo.tests.result` line, or None when it printed none."""
    found = _RESULT.findall(log)
    return tuple(int(n) for n in found[-1]) if found else None  # type: ignore[return-value]


def plain_odoo_argv(
    module: str, *, image: str, network: str, db_host: str, addons: Path, python_path: Path, database: str
) -> list[str]:
    """`docker run` of plain Odoo as OCA's CI runs one addon: `-i` on a fresh database, `--test-tags /MODULE`."""
    return [
        "docker", "run", "--rm", "--network", network,
        "-v", f"{addons}:/mnt/extra-addons:ro", "-v", f"{python_path}:/opt/test-python:ro",
        "-e", "PYTHONPATH=/opt/test-python", "--entrypoint", "odoo", image,
        "-c", "/etc/odoo/odoo.conf", "-d", database, "--db_host", db_host, "--db_user", "odoo", "--db_password", "odoo",
        "-i", module, "--test-tags", f"/{module}", "--stop-after-init",
    ]  # fmt: skip
