"""Where the harness keeps things: the folders shared by every user's runs, the user's own, the container's.

Shared (one per machine, every user's runs): the lock folder (`lock_dir`) with its port
locks, owner records (`owners/`) and manifest memos (`manifests/`). Private (this user's): the
database cache folder (`db_cache_dir`) with its entries and build locks. Every module that needs
one of these folders asks this one, so how they are made and checked is decided here.
"""

from __future__ import annotations

import os
import pwd
import stat
from pathlib import Path
from typing import TYPE_CHECKING

from harness.errors import EnvironmentProblem

if TYPE_CHECKING:
    from harness.config import Config

# Where docker-compose.agent.yml mounts the first addons folder inside the odoo container (the
# further ones: harness/addons_path.py).
CONTAINER_ADDONS = "/mnt/extra-addons"

# Port locks and owner records are shared by every user's runs on the machine: with a folder
# per user, two users would lease the same port and the sweep could not tell a live run of
# another user from a dead one. A folder the harness creates gets /tmp's mode: everyone
# creates files, and the sticky bit keeps each user from deleting another's (a deleted lock
# file would let a second run take a port that is still held).
SHARED_DIR_MODE = 0o1777


def _owner_name(uid: int) -> str:
    try:
        return pwd.getpwuid(uid).pw_name
    except KeyError:
        return str(uid)


def shared_dir(path: Path) -> Path:
    """`path`, a folder every user's runs on this machine can write to; created with mode 1777 when missing.

    A folder that already exists keeps its mode (one named in HARNESS_LOCK_DIR stays as its
    owner made it). One this user cannot write to is an environment error saying how to fix it.
    """
    try:
        path.mkdir(parents=True)
    except FileExistsError:
        pass
    else:
        path.chmod(SHARED_DIR_MODE)  # mkdir's mode is cut by the umask; chmod is not
    if not os.access(path, os.W_OK | os.X_OK):
        info = path.stat()
        raise EnvironmentProblem(
            f"{path} belongs to {_owner_name(info.st_uid)} (mode {stat.S_IMODE(info.st_mode):o}) and user "
            f"{_owner_name(os.geteuid())} cannot write to it: every user's runs on this machine share its port "
            f"locks and owner records. Its owner can open it to all users as /tmp is: "
            f"`find {path} -type d -exec chmod 1777 {{}} +`; "
            f"or set HARNESS_LOCK_DIR to a folder of your own (runs of other users are then not seen)"
        )
    return path


def private_dir(path: Path) -> Path:
    """`path`, a folder of this user's own (the database cache), created when missing."""
    path.mkdir(parents=True, exist_ok=True)
    return path


def owners_dir(config: Config) -> Path:
    """Where owner records live: beside the port locks, shared by every checkout on the machine."""
    return config.lock_dir / "owners"


def manifests_dir(config: Config) -> Path:
    """Where the addons of an Odoo image are memoised, by image ID (harness/dependencies.py)."""
    return config.lock_dir / "manifests"
