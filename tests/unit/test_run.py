"""The guarded run's life cycle and its paths that end before Docker is used (no engine needed)."""

from __future__ import annotations

import io
import json
import os
import signal
from pathlib import Path

import pytest

from harness.config import Config
from harness.errors import EnvironmentProblem, ExitCode
from harness.run import GuardedRun, run_module
from harness.signals import HANDLED_SIGNALS


@pytest.fixture
def config(tmp_path: Path) -> Config:
    addons = tmp_path / "addons"
    (addons / "known_module").mkdir(parents=True)
    (addons / "known_module" / "__manifest__.py").write_text("{'name': 'Known', 'installable': True}")
    return Config(root=tmp_path).with_overrides(
        addons_path=Path("addons"), log_file=Path("proof.log"), artefacts_dir=Path("artefacts"), lock_dir=Path("locks")
    )


@pytest.fixture
def no_engine(config: Config, monkeypatch: pytest.MonkeyPatch) -> None:
    """An engine address nothing answers on: the run ends in preflight's sweep, before any container."""
    monkeypatch.setenv("DOCKER_HOST", f"unix://{config.root}/no-such-docker.sock")


def test_missing_module_exits_2_and_replaces_a_stale_log(config: Config) -> None:
    config.log_file.write_text("0 failed, 0 error(s) of 99 tests  <- a stale result\n")
    out = io.StringIO()
    result = run_module(config, "known_modul", echo=out)
    assert result.exit_code == 2
    assert result.cleanup is None and result.port is None
    log = config.log_file.read_text()
    assert "stale" not in log
    assert "did you mean known_module?" in log
    assert str(config.addons_path[0]) in log
    assert out.getvalue() == log
    assert (result.artefacts / "proof.log").read_text() == log


def test_invalid_module_name_exits_2_before_anything(config: Config) -> None:
    result = run_module(config, "../../etc/passwd", echo=io.StringIO())
    assert result.exit_code == 2
    assert result.project.startswith("hub-agent-test-etc-passwd-")
    assert result.artefacts.parent == config.artefacts_dir  # the report stays where reports go
    assert [p.name for p in result.phases] == ["preflight"]


def test_unreachable_engine_exits_3_with_an_actionable_message(config: Config, no_engine: None) -> None:
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


def test_result_json_records_each_phase_start_and_duration(config: Config, no_engine: None) -> None:
    result = run_module(config, "known_module", echo=io.StringIO())
    saved = json.loads((result.artefacts / "result.json").read_text())
    assert [phase["name"] for phase in saved["phases"]] == ["preflight"]
    phase = saved["phases"][0]
    assert phase["started_at"].endswith("Z") and phase["started_at"] >= saved["started_at"][:19]
    assert 0 <= phase["seconds"] <= saved["seconds"]


def test_the_context_arms_the_guard_and_leaving_it_restores_the_handlers(config: Config) -> None:
    before = {sig: signal.getsignal(sig) for sig in HANDLED_SIGNALS}
    run = GuardedRun(config, "known_module", echo=io.StringIO())
    with run:
        assert {sig: signal.getsignal(sig) for sig in HANDLED_SIGNALS} != before
        os.kill(os.getpid(), signal.SIGTERM)
        for _ in range(1000):
            pass
        pytest.fail("the signal did not stop the block")
    assert {sig: signal.getsignal(sig) for sig in HANDLED_SIGNALS} == before
    assert run.result is not None
    assert run.result.exit_code == ExitCode.SIGTERM
    assert run.result.message == "interrupted by SIGTERM during phase preflight"


def test_leaving_the_context_absorbs_harness_errors_and_bugs_into_the_result(config: Config) -> None:
    with GuardedRun(config, "known_module", echo=io.StringIO()) as run:
        raise EnvironmentProblem("the engine went away")
    assert (run.result.exit_code, run.result.message) == (3, "the engine went away")
    out = io.StringIO()
    with GuardedRun(config, "known_module", echo=out) as run:
        raise KeyError("a bug of ours")
    assert run.result.exit_code == 3
    # A bug of ours: its traceback is kept, and the message says where.
    trace = run.result.artefacts / "internal-error.txt"
    assert run.result.message == f"internal error: KeyError('a bug of ours'); traceback in {trace}"
    text = trace.read_text()
    assert text.startswith("Traceback (most recent call last)") and 'raise KeyError("a bug of ours")' in text
    assert f"ERROR: internal error: KeyError('a bug of ours'); traceback in {trace}" in out.getvalue()


def test_a_signal_during_the_error_handling_is_recorded_and_decides_the_exit_code(config: Config) -> None:
    out = io.StringIO()
    with GuardedRun(config, "known_module", echo=out) as run:
        run.save_service_logs = lambda: os.kill(os.getpid(), signal.SIGHUP)  # type: ignore[method-assign]
        raise EnvironmentProblem("compose up failed")
    assert run.result.exit_code == ExitCode.SIGHUP
    assert run.result.message == "interrupted by SIGHUP during phase preflight; compose up failed"
