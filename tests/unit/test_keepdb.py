"""harness.keepdb: the restore script and the final block's rows (the dump itself is shown on real Odoo)."""

from __future__ import annotations

import subprocess
from pathlib import Path

from harness.keepdb import _RESTORE_SCRIPT, KeptDatabase, rows


def test_the_restore_script_is_valid_shell_and_names_its_default(tmp_path: Path) -> None:
    script = tmp_path / "restore-db.sh"
    script.write_text(
        _RESTORE_SCRIPT.format(script="restore-db.sh", default="m_failed", dump="database.dump", filestore="fs.tar")
    )
    assert subprocess.run(["sh", "-n", str(script)], check=False, timeout=30).returncode == 0
    text = script.read_text()
    assert "name=${1:-m_failed}" in text and 'pg_restore --no-owner --no-acl -d "$name"' in text


def test_rows_say_where_the_dump_is_and_the_one_restore_command(tmp_path: Path) -> None:
    kept = KeptDatabase("harness_test", tmp_path / "database.dump", 2_500_000, None, tmp_path / "r.sh", "sh r.sh")
    assert rows(kept, "artefacts/p") == [
        ("database", "artefacts/p/database.dump (2.5 MB)"),
        ("restore", "sh r.sh"),
    ]
    assert kept.to_json()["filestore"] is None
