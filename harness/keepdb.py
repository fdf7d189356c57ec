"""The database of a failure: `pg_dump -Fc` of the test database and its filestore, kept in the artefacts.

Taken after a failing verdict and before the teardown (which still removes the environment), with a
script that restores both into a local PostgreSQL and Odoo data folder in one command.
"""

from __future__ import annotations

import dataclasses
import shlex
import subprocess
from pathlib import Path

from harness import proc
from harness.compose import Compose
from harness.config import Config
from harness.errors import EnvironmentProblem

DUMP_NAME = "database.dump"
FILESTORE_NAME = "filestore.tar"
RESTORE_NAME = "restore-db.sh"
# Where the official image (and the project's) keeps Odoo's data: data_dir = /var/lib/odoo.
CONTAINER_FILESTORE = "/var/lib/odoo/filestore"

_RESTORE_SCRIPT = """#!/bin/sh
# Restores the database of a failed harness run into a local PostgreSQL (libpq's PGHOST, PGPORT,
# PGUSER... apply) and its filestore into Odoo's data folder, so `odoo -d NAME` opens what the
# failing test saw. Usage: sh {script} [NAME]   (default NAME: {default})
set -eu
here=$(cd "$(dirname "$0")" && pwd)
name=${{1:-{default}}}
createdb "$name"
pg_restore --no-owner --no-acl -d "$name" "$here/{dump}"
if [ -f "$here/{filestore}" ]; then
    target="${{ODOO_DATA_DIR:-$HOME/.local/share/Odoo}}/filestore/$name"
    mkdir -p "$target"
    tar -xf "$here/{filestore}" -C "$target" --strip-components=1
    echo "filestore in $target"
fi
echo "database $name restored: odoo -d $name (or psql $name)"
"""


@dataclasses.dataclass(frozen=True)
class KeptDatabase:
    """What was kept: the dump, the filestore (None when the database had none), the restore script."""

    database: str
    dump: Path
    dump_bytes: int
    filestore: Path | None
    script: Path
    restore_command: str

    def to_json(self) -> dict[str, object]:
        """For result.json's `extras.kept_database`."""
        return {
            "database": self.database,
            "dump": str(self.dump),
            "dump_bytes": self.dump_bytes,
            "filestore": None if self.filestore is None else str(self.filestore),
            "restore_command": self.restore_command,
        }


def keep(compose: Compose, config: Config, artefacts: Path, restore_name: str) -> KeptDatabase:
    """Dump the test database and tar its filestore into `artefacts` (EnvironmentProblem when the dump fails)."""
    artefacts.mkdir(parents=True, exist_ok=True)
    db = config.db_name
    dump = artefacts / DUMP_NAME
    dumped = exec_to_file(
        compose,
        config.db_service,
        ["pg_dump", "--format=custom", "--username", config.db_user, "--dbname", db],
        dump,
        config.command_timeout * 5,
    )
    if dumped:
        dump.unlink(missing_ok=True)
        raise EnvironmentProblem(f"pg_dump of {db} failed: {dumped}")
    filestore: Path | None = artefacts / FILESTORE_NAME
    assert filestore is not None
    failed = exec_to_file(
        compose,
        config.odoo_service,
        ["tar", "-C", CONTAINER_FILESTORE, "-cf", "-", db],
        filestore,
        config.command_timeout * 5,
    )
    if failed:  # a database without attachments has no filestore folder
        filestore.unlink(missing_ok=True)
        filestore = None
    script = artefacts / RESTORE_NAME
    script.write_text(
        _RESTORE_SCRIPT.format(script=RESTORE_NAME, default=restore_name, dump=DUMP_NAME, filestore=FILESTORE_NAME)
    )
    script.chmod(0o755)
    return KeptDatabase(db, dump, dump.stat().st_size, filestore, script, f"sh {shlex.quote(str(script))}")


def exec_to_file(compose: Compose, service: str, command: list[str], target: Path, timeout: float) -> str:
    """`compose exec -T SERVICE COMMAND > target`; '' on success, else what went wrong."""
    with target.open("wb") as out:
        child = proc.spawn(
            compose.exec_argv(service, command),
            env=compose.environment(),
            on_spawn=compose.on_spawn,
            text=False,
            stdout=out,
            stderr=subprocess.PIPE,
        )
        try:
            _, stderr = child.communicate(timeout=timeout)
        except subprocess.TimeoutExpired:
            proc.stop(child)
            return f"did not finish within {timeout:.0f} s"
        except BaseException:
            proc.stop(child)
            raise
    if child.returncode != 0:
        text = stderr.decode("utf-8", errors="replace").strip().splitlines()
        return f"exit {child.returncode}: {text[-1] if text else 'no output'}"
    return ""


def rows(kept: KeptDatabase, shown: str) -> list[tuple[str, str]]:
    """The final block's rows: where the dump is and the one command that restores it."""
    extra = " + filestore" if kept.filestore else ""
    size = f"{kept.dump_bytes / 1e6:.1f} MB"
    return [("database", f"{shown}/{DUMP_NAME}{extra} ({size})"), ("restore", kept.restore_command)]
