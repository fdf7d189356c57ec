"""No password the harness knows reaches any file it writes: a run's whole artefact set, grepped."""

from __future__ import annotations

import io
import os
from pathlib import Path

import pytest

from harness import proc
from harness.compose import Compose, compose_env
from harness.config import Config
from harness.errors import EnvironmentProblem
from harness.odoo_command import known_secrets, shown_setting
from harness.run import GuardedRun
from harness.validation.report import Demonstration, write_proof_folder

PASSWORD = "Sup3r-Secret-pw-42"


@pytest.fixture
def config(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Config:
    monkeypatch.setenv("HARNESS_DB_PASSWORD", PASSWORD)
    addons = tmp_path / "addons"
    (addons / "known_module").mkdir(parents=True)
    (addons / "known_module" / "__manifest__.py").write_text("{'name': 'Known', 'installable': True}")
    return Config(root=tmp_path).with_overrides(
        addons_path=Path("addons"),
        log_file=Path("proof.log"),
        artefacts_dir=Path("artefacts"),
        lock_dir=Path("locks"),
        db_password=PASSWORD,
    )


def every_file(root: Path) -> dict[Path, str]:
    return {path: path.read_text(errors="replace") for path in root.rglob("*") if path.is_file()}


def test_a_runs_whole_artefact_set_holds_no_password(config: Config, tmp_path: Path, monkeypatch) -> None:
    admin: list[str] = []

    def fake_stream(argv, on_line, *, env=None, **kw):
        admin.append(env["HARNESS_ADMIN_PASSWORD"])
        for text in (
            f"2025-01-01 00:00:00,000 1 INFO harness_test odoo: connecting as odoo/{PASSWORD}",
            f"a test printed the master password {env['HARNESS_ADMIN_PASSWORD']}",
            "2025-01-01 00:00:00,000 1 ERROR harness_test odoo.addons.known_module.tests.test_x: FAIL: TestX.test_pw",
            "Traceback (most recent call last):",
            '  File "/mnt/extra-addons/known_module/tests/test_x.py", line 3, in test_pw',
            f"AssertionError: {PASSWORD} != 'x'",
            " ",
        ):
            on_line(text)
        return proc.StreamResult(1, 0.1, False)

    monkeypatch.setattr(proc, "stream", fake_stream)
    monkeypatch.setattr(Compose, "services", lambda self, timeout: ["db", "odoo"])
    monkeypatch.setattr(Compose, "logs", lambda self, service, timeout: f"{service}: password={PASSWORD}\n")

    class Run(GuardedRun):
        def phases(self) -> None:
            for path in (self.config.log_file, self.artefacts / self.config.log_file.name):
                self.log.add(path)
            self.enter("preflight")
            env = compose_env(self.config, 8130)
            self.use_secrets(known_secrets(self.config, env))
            self.compose = Compose(self.project, (), env)
            self.run_tests()
            self.judge()
            self.save_service_logs()
            raise EnvironmentProblem(f"the engine said: bad password {PASSWORD}")

        def clean_up(self):
            return None

    echo = io.StringIO()
    result = Run(config, "known_module", echo=echo).execute()
    assert result.exit_code == 3
    files = every_file(tmp_path / "artefacts")
    files[config.log_file] = config.log_file.read_text()
    names = {path.name for path in files}
    assert {"proof.log", "command.txt", "result.json", "junit.xml", "db.log", "odoo.log", "state.json"} <= names
    for secret in (PASSWORD, admin[0]):
        assert secret not in echo.getvalue()
        leaked = [str(path) for path, text in files.items() if secret in text]
        assert leaked == [], f"{secret} leaked into {leaked}"
    assert "***" in files[config.log_file] and "***" in (result.artefacts / "result.json").read_text()


def test_validation_proofs_hold_no_password(tmp_path: Path, config: Config) -> None:
    command = f"{shown_setting('HARNESS_DB_PASSWORD', PASSWORD)} {shown_setting('HARNESS_PORT_RANGE', '8130-8139')}"
    assert command == "HARNESS_DB_PASSWORD=*** HARNESS_PORT_RANGE=8130-8139"
    demo = Demonstration("pass", "9.1", f"{command} nox -s x  # --db_password {PASSWORD}", "exit 0", folder=tmp_path)
    demo.checks.append(f"log shows {PASSWORD}")
    write_proof_folder(demo, known_secrets(config))
    leaked = [str(path) for path, text in every_file(tmp_path).items() if PASSWORD in text]
    assert leaked == []


def test_the_public_default_password_is_kept_a_set_one_is_hidden(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # `odoo` is also the user, the service and the launcher: hiding it garbled the harness's own
    # lines ("waiting for *** (200 from ...)", "phase: tests (*** -c ...)") and protected nothing.
    for name in [n for n in os.environ if n.startswith("HARNESS_")]:
        monkeypatch.delenv(name)
    assert known_secrets(Config(root=tmp_path)) == []
    monkeypatch.setenv("HARNESS_DB_PASSWORD", PASSWORD)
    assert known_secrets(Config(root=tmp_path, db_password=PASSWORD)) == [PASSWORD]
    assert known_secrets(Config(root=tmp_path), {"HARNESS_ADMIN_PASSWORD": "odoo"}) == [PASSWORD]
