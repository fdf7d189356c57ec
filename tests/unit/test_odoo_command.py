"""harness.odoo_command: the test command and the redaction of secrets."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest

from harness.config import Config
from harness.errors import UsageError
from harness.odoo_command import build_test_command, redact, redact_text


def test_command_is_exact_for_the_default_configuration() -> None:
    argv = build_test_command(Config(root=Path("/repo")), "traction")
    assert argv == [
        "odoo",
        "-c",
        "/etc/odoo/odoo.conf",
        "--addons-path",
        "/mnt/extra-addons",
        "-d",
        "harness_test",
        "--db_host",
        "db",
        "--db_port",
        "5432",
        "--db_user",
        "odoo",
        "--db_password",
        "odoo",
        "--http-port",
        "8071",
        "-i",
        "traction",
        "--test-tags",
        "/traction",
        "--stop-after-init",
        "--log-level=test",
    ]


def test_command_follows_the_configuration() -> None:
    config = dataclasses.replace(
        Config(root=Path("/repo")),
        odoo_executable="/usr/bin/odoo",
        odoo_config="/etc/odoo/test.conf",
        db_name="other_db",
        db_host="postgres",
        db_port=5433,
        db_user="tester",
        db_password="Sup3r-S3cret",
        test_http_port=8072,
    )
    argv = build_test_command(config, "probe_pass")
    pairs = dict(zip(argv[1::2], argv[2::2], strict=False))  # argv[0] is the launcher
    assert argv[0] == "/usr/bin/odoo"
    assert pairs["-c"] == "/etc/odoo/test.conf"
    assert pairs["-d"] == "other_db"
    assert (pairs["--db_host"], pairs["--db_port"], pairs["--db_user"]) == ("postgres", "5433", "tester")
    assert pairs["--db_password"] == "Sup3r-S3cret"
    assert pairs["--http-port"] == "8072"
    assert build_test_command(config, "probe_pass", database="run_42")[6] == "run_42"


def test_command_installs_and_tests_only_the_module() -> None:
    argv = build_test_command(Config(root=Path("/repo")), "traction")
    assert argv[argv.index("-i") + 1] == "traction"
    assert argv[argv.index("--test-tags") + 1] == "/traction"
    assert "--stop-after-init" in argv
    # --test-enable alone would run base's and every auto-installed module's tests.
    assert "--test-enable" not in argv
    assert not any("odoo-bin" in arg for arg in argv)


@pytest.mark.parametrize("module", ["", "-i", "a/b", "mod ule", "traction,base", "/traction"])
def test_command_refuses_names_odoo_would_misread(module: str) -> None:
    with pytest.raises(UsageError):
        build_test_command(Config(root=Path("/repo")), module)


def test_command_refuses_a_database_name_that_looks_like_an_option() -> None:
    with pytest.raises(UsageError):
        build_test_command(Config(root=Path("/repo")), "traction", database="--db-filter=.*")


def test_redact_hides_the_password_but_keeps_the_launcher_named_like_it() -> None:
    argv = build_test_command(Config(root=Path("/repo")), "traction")
    shown = redact(argv, ["odoo"])
    assert shown[shown.index("--db_password") + 1] == "***"
    assert shown[0] == "odoo"  # the launcher, not the password
    assert shown[shown.index("--db_user") + 1] == "odoo"
    assert argv[argv.index("--db_password") + 1] == "odoo"  # the original is untouched


def test_redact_hides_a_long_password_wherever_it_appears() -> None:
    argv = ["odoo", "--db_password=Sup3r-S3cret", "-e", "PGPASSWORD=Sup3r-S3cret", "x"]
    assert redact(argv, ["Sup3r-S3cret", ""]) == ["odoo", "--db_password=***", "-e", "PGPASSWORD=***", "x"]


def test_redact_text_leaves_dotted_names_and_paths_of_a_short_secret() -> None:
    text = 'File "/usr/lib/python3/dist-packages/odoo/sql_db.py" in odoo.addons.x: password=odoo'
    assert redact_text(text, ["odoo"]) == (
        'File "/usr/lib/python3/dist-packages/odoo/sql_db.py" in odoo.addons.x: password=***'
    )
    assert redact_text("dsn=user:hunter2secret@db", ["hunter2secret"]) == "dsn=user:***@db"
    assert redact_text("nothing to hide", []) == "nothing to hide"
