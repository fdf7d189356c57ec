"""The guarded run's paths that end before Docker is used (no engine needed)."""

from __future__ import annotations

import io
import json
from pathlib import Path

import pytest

from harness.config import Config
from harness.run import compose_env, run_module


@pytest.fixture
def config(tmp_path: Path) -> Config:
    addons = tmp_path / "addons"
    (addons / "known_module").mkdir(parents=True)
    (addons / "known_module" / "__manifest__.py").write_text("{'name': 'Known', 'installable': True}")
    return Config(root=tmp_path).with_overrides(
        addons_path=Path("addons"), log_file=Path("proof.log"), artefacts_dir=Path("artefacts"), lock_dir=Path("locks")
    )


def test_missing_module_exits_2_and_replaces_a_stale_log(config: Config) -> None:
    config.log_file.write_text("0 failed, 0 error(s) of 99 tests  <- a stale result\n")
    out = io.StringIO()
    result = run_module(config, "known_modul", echo=out)
    assert result.exit_code == 2
    assert result.cleanup is None and result.port is None
    log = config.log_file.read_text()
    assert "stale" not in log
    assert "did you mean known_module?" in log
    assert str(config.addons_path) in log
    assert log.splitlines()[-1].startswith("[harness] RESULT: exit 2")
    assert out.getvalue() == log


def test_invalid_module_name_exits_2_before_anything(config: Config) -> None:
    result = run_module(config, "../../etc/passwd", echo=io.StringIO())
    assert result.exit_code == 2
    assert result.project == ""
    assert not config.artefacts_dir.exists()


def test_unreachable_engine_exits_3_with_an_actionable_message(config: Config, monkeypatch) -> None:
    monkeypatch.setenv("DOCKER_HOST", f"unix://{config.root}/no-such-docker.sock")
    result = run_module(config, "known_module", echo=io.StringIO())
    assert result.exit_code == 3
    assert "provision-engine.sh" in result.message
    saved = json.loads((result.artefacts / "result.json").read_text())
    assert saved["exit_code"] == 3 and saved["cleanup"] is None


def test_unwritable_log_exits_3(config: Config, tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("")
    result = run_module(config.with_overrides(log_file=blocker / "proof.log"), "known_module", echo=io.StringIO())
    assert result.exit_code == 3
    assert "cannot write the proof log" in result.message


def test_compose_env_carries_port_addons_and_db_credentials(config: Config) -> None:
    env = compose_env(config, 8093)
    assert env == {
        "ODOO_PORT": "8093",
        "HARNESS_ADDONS_PATH": str(config.addons_path),
        "HARNESS_DB_USER": "odoo",
        "HARNESS_DB_PASSWORD": "odoo",
    }
