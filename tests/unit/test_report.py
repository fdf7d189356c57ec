"""The final block a person reads, and the CI-native output under GitHub Actions (no Docker)."""

from __future__ import annotations

import io
import json
from pathlib import Path

import pytest

from harness import github, proc
from harness.cleanup import CleanupReport
from harness.compose import Compose
from harness.config import Config
from harness.engine import Resources
from harness.phases import RunPhases
from harness.proof import ProofLog
from harness.report import RULE, publish, write_final_block
from harness.result import Counts, PhaseTime, RunResult, failed_tests
from harness.run import run_module
from harness.verdict import judge
from tests.unit.odoo_logs import analyse

ESC = "\x1b["


class Terminal(io.StringIO):
    """A console that says it is a terminal."""

    def isatty(self) -> bool:
        return True


def result_of(tmp_path: Path, **changes: object) -> RunResult:
    base = RunResult(
        module="probe_pass",
        project="hub-agent-test-probe_pass-1-ab",
        exit_code=0,
        message="probe_pass: 3 tests, 0 failures, 0 errors, 0 skipped in 1.2 s",
        phase="tests",
        counts=Counts(3, 0, 0, 0),
        seconds=8.04,
        phases=[
            PhaseTime("preflight", "2026-11-26T10:00:00.000Z", 0.1),
            PhaseTime("port", "2026-11-26T10:00:00.100Z", 0.0),
            PhaseTime("up", "2026-11-26T10:00:00.100Z", 1.9),
            PhaseTime("port", "2026-11-26T10:00:02.000Z", 0.04),
            PhaseTime("up", "2026-11-26T10:00:02.040Z", 2.0),
            PhaseTime("readiness", "2026-11-26T10:00:04.040Z", 0.7),
            PhaseTime("tests", "2026-11-26T10:00:04.740Z", 2.5),
            PhaseTime("teardown", "2026-11-26T10:00:07.240Z", 0.8),
        ],
        cleanup=CleanupReport("p", 0, Resources(), 0.8, False),
        artefacts=tmp_path / "artefacts" / "p",
        log_file=tmp_path / "proof.log",
        junit_file=tmp_path / "artefacts" / "p" / "junit.xml",
    )
    for name, value in changes.items():
        setattr(base, name, value)
    return base


def failing_result(tmp_path: Path) -> RunResult:
    analysis = analyse("probe_fail", "probe_fail")
    verdict = judge(1, analysis, "probe_fail")
    return result_of(
        tmp_path,
        module="probe_fail",
        exit_code=1,
        message="1 of 2 tests failed",
        reasons=verdict.reasons,
        counts=Counts.from_analysis(analysis),
        failed_tests=failed_tests(analysis, Config(root=tmp_path, addons_path=tmp_path / "addons"), tmp_path),
    )


def block(tmp_path: Path, result: RunResult, echo: io.StringIO) -> tuple[list[str], str]:
    """The block's lines as the proof log holds them, and what the console showed."""
    log = ProofLog([tmp_path / "proof.log"], echo)
    write_final_block(log, result)
    log.close()
    text = (tmp_path / "proof.log").read_text()
    lines = [line.removeprefix("[harness] ") for line in text.splitlines()]
    start = lines.index(RULE)
    return lines[start:], echo.getvalue()


def field(lines: list[str], label: str) -> str:
    found = [line[len(label) :].strip() for line in lines if line.startswith(label + " ")]
    assert found, f"no {label!r} row in {lines}"
    return found[0]


def test_a_pass_reads_verdict_module_counts_times_cleanup_and_paths(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    lines, console = block(tmp_path, result_of(tmp_path), io.StringIO())
    assert lines[0] == lines[-1] == RULE
    assert field(lines, "result") == "PASSED  probe_pass  (exit 0)"
    assert field(lines, "tests") == "3 tests, 0 failures, 0 errors, 0 skipped"
    # Which count this is, beside Odoo's stats line (`probe_pass: 5 tests ...`) in the log above.
    assert lines[lines.index(next(line for line in lines if line.startswith("tests "))) + 1].strip() == (
        "test methods (odoo.tests.result); odoo.tests.stats also counts setUpClass/tearDownClass"
    )
    # A retried phase is summed: port 0.0 + 0.04, up 1.9 + 2.0.
    assert field(lines, "phases") == (
        "preflight 0.1 s | port 0.0 s | up 3.9 s | readiness 0.7 s | tests 2.5 s | teardown 0.8 s"
    )
    assert field(lines, "total") == "8.0 s"
    assert field(lines, "cleanup") == "nothing left (0.8 s)"
    assert field(lines, "log") == "proof.log"
    assert field(lines, "junit") == "artefacts/p/junit.xml"
    assert field(lines, "artefacts") == "artefacts/p"
    assert not any(line.startswith(("reason", "first failure")) for line in lines)
    assert ESC not in console  # not a terminal: no colours


def test_a_failure_names_the_first_failing_test_its_assertion_and_where(tmp_path):
    lines, _ = block(tmp_path, failing_result(tmp_path), io.StringIO())
    assert field(lines, "result") == "FAILED  probe_fail  (exit 1)"
    assert field(lines, "reason") == "1 of 2 tests failed"
    assert field(lines, "tests") == "2 tests, 1 failure, 0 errors, 0 skipped"
    at = lines.index(next(line for line in lines if line.startswith("first failure")))
    assert lines[at].split(None, 2)[2] == "TestItem.test_injected_failure"
    assert lines[at + 1].strip() == "AssertionError: True != False"
    assert lines[at + 2].strip() == "addons/probe_fail/tests/test_item.py:8"  # /mnt/extra-addons mapped back


def test_the_failed_rules_precede_the_block_in_full(tmp_path):
    result = failing_result(tmp_path)
    log = ProofLog([tmp_path / "proof.log"], io.StringIO())
    write_final_block(log, result)
    text = (tmp_path / "proof.log").read_text()
    assert text.index(f"rule failed: {result.reasons[0]}") < text.index(RULE)


def test_a_run_stopped_before_its_tests_says_so(tmp_path):
    result = result_of(tmp_path, exit_code=130, message="interrupted by SIGINT during phase up", counts=None)
    result.phase, result.cleanup = "up", None
    lines, _ = block(tmp_path, result, io.StringIO())
    assert field(lines, "result") == "INTERRUPTED  probe_pass  (exit 130)"
    assert field(lines, "reason") == "interrupted by SIGINT during phase up"
    assert field(lines, "tests") == "not run (stopped in phase up)"
    assert field(lines, "cleanup") == "nothing to clean up (no container was started)"


def test_colours_on_a_terminal_only_and_never_in_the_log(tmp_path, monkeypatch):
    monkeypatch.delenv("NO_COLOR", raising=False)
    monkeypatch.delenv("TERM", raising=False)
    lines, console = block(tmp_path, failing_result(tmp_path), Terminal())
    assert f"{ESC}1;31mFAILED{ESC}0m" in console
    assert all(ESC not in line for line in lines)
    stripped = [line.removeprefix("[harness] ") for line in console.splitlines()]
    assert any(ESC in line for line in stripped)


def test_no_color_turns_colours_off_even_on_a_terminal(tmp_path, monkeypatch):
    monkeypatch.setenv("NO_COLOR", "1")
    _, console = block(tmp_path, result_of(tmp_path), Terminal())
    assert ESC not in console


# --- GitHub Actions


@pytest.fixture
def actions(tmp_path, monkeypatch) -> Path:
    summary = tmp_path / "step-summary.md"
    monkeypatch.setenv("GITHUB_ACTIONS", "true")
    monkeypatch.setenv("GITHUB_STEP_SUMMARY", str(summary))
    monkeypatch.setenv("GITHUB_WORKSPACE", str(tmp_path))
    return summary


def test_odoo_output_is_grouped_on_the_console_only(tmp_path, actions, monkeypatch):
    def fake_stream(argv, on_line, **kw):
        for text in ("Odoo line one", "::error title=forged::a test printed this", "Odoo line two"):
            on_line(text)
        return proc.StreamResult(0, 0.1, False)

    monkeypatch.setattr(proc, "stream", fake_stream)
    config = Config(root=tmp_path).with_overrides(log_file=Path("proof.log"))
    echo = io.StringIO()
    run = RunPhases(config, "probe_pass", echo=echo)
    run.log.add(config.log_file)
    run.artefacts.mkdir(parents=True)
    run.compose = Compose(run.project, ())
    run.run_tests()
    console = echo.getvalue().splitlines()
    opened = console.index("::group::Odoo: probe_pass's tests")
    # Odoo's output is fenced by ::stop-commands::<token> ... ::<token>::: a forged ::error is inert.
    stop, forged, resume = console[opened + 1], console[opened + 3], console[opened + 5]
    token = stop.removeprefix("::stop-commands::")
    assert stop.startswith("::stop-commands::") and len(token) == 32
    assert console[opened + 2 : opened + 5] == ["Odoo line one", forged, "Odoo line two"]
    assert resume == f"::{token}::"
    assert console[opened + 6] == "::endgroup::"
    assert token not in config.log_file.read_text()
    # the harness's own workflow commands stay out of the proof log
    assert "::group::" not in config.log_file.read_text() and "::stop-commands::" not in config.log_file.read_text()


def test_one_annotation_per_failing_test_with_its_repository_path(tmp_path, actions):
    result = failing_result(tmp_path)
    assert github.annotations(result) == [
        "::error file=addons/probe_fail/tests/test_item.py,line=8,"
        "title=probe_fail%3A failure in TestItem.test_injected_failure::AssertionError: True != False"
    ]


def test_an_environment_error_is_one_annotation(tmp_path):
    result = result_of(tmp_path, exit_code=3, message="No available ports in range 8090-8100: ...", counts=None)
    assert github.annotations(result) == [
        "::error title=probe_pass%3A ENVIRONMENT ERROR::No available ports in range 8090-8100: ..."
    ]
    assert github.annotations(result_of(tmp_path)) == []


def test_each_module_appends_its_table_to_the_job_summary(tmp_path, actions):
    log = ProofLog([], io.StringIO())
    for result, name in ((result_of(tmp_path), "probe_pass"), (failing_result(tmp_path), "probe_fail")):
        analysis = analyse(name, name)
        verdict = judge(result.exit_code, analysis, name)
        publish(log, result, analysis=analysis, judgement=verdict, test_seconds=1.0, secrets=(), ci=True)
    text = actions.read_text()
    assert text.count("| module | verdict | exit | tests | failures | errors | skipped | time | cleanup |") == 2
    assert "| `probe_pass` | ✅ PASSED | 0 | 3 | 0 | 0 | 0 | 8.0 s | clean |" in text
    assert "| `probe_fail` | ❌ FAILED | 1 | 2 | 1 | 0 | 0 | 8.0 s | clean |" in text
    assert (
        "- `TestItem.test_injected_failure`: AssertionError: True != False (`addons/probe_fail/tests/test_item.py:8`)"
        in text
    )


def test_a_real_run_under_actions_annotates_and_summarises_a_usage_error(tmp_path, actions):
    (tmp_path / "addons").mkdir()
    config = Config(root=tmp_path).with_overrides(
        addons_path=Path("addons"), log_file=Path("proof.log"), artefacts_dir=Path("artefacts")
    )
    echo = io.StringIO()
    result = run_module(config, "no_such_module", echo=echo)
    assert result.exit_code == 2
    assert "::error title=no_such_module%3A USAGE ERROR::module 'no_such_module' not found" in echo.getvalue()
    assert "| `no_such_module` | ❌ USAGE ERROR | 2 | - | - | - | - |" in actions.read_text()
    saved = json.loads((result.artefacts / "result.json").read_text())
    assert saved["verdict"] == "USAGE ERROR" and saved["junit_file"].endswith("junit.xml")


def test_outside_actions_nothing_ci_specific_is_printed(tmp_path, monkeypatch):
    monkeypatch.delenv("GITHUB_ACTIONS", raising=False)
    (tmp_path / "addons").mkdir()
    config = Config(root=tmp_path).with_overrides(
        addons_path=Path("addons"), log_file=Path("proof.log"), artefacts_dir=Path("artefacts")
    )
    echo = io.StringIO()
    run_module(config, "no_such_module", echo=echo)
    assert "::" not in echo.getvalue()


class FullDisk(io.StringIO):
    """A log file on a disk that fills after `room` characters (ENOSPC from then on)."""

    def __init__(self, room: int) -> None:
        super().__init__()
        self.room = room

    def write(self, text: str) -> int:
        if self.tell() + len(text) > self.room:
            raise OSError(28, "No space left on device")
        return super().write(text)


def _publish_pass(tmp_path: Path, log: ProofLog, result: RunResult, seen: list[str]) -> RunResult:
    """publish() of a passing run whose write failures make it exit 3 (as GuardedRun does)."""

    def on_write_error(problem: str) -> RunResult:
        seen.append(problem)
        decided = result_of(tmp_path)
        decided.exit_code, decided.message = 3, problem
        return decided

    analysis = analyse("probe_pass", "probe_pass")
    return publish(
        log,
        result,
        analysis=analysis,
        judgement=judge(0, analysis, "probe_pass"),
        test_seconds=1.0,
        secrets=(),
        ci=False,
        on_write_error=on_write_error,
    )


def test_a_final_block_the_disk_cuts_is_not_a_pass_and_the_console_says_exit_3(tmp_path):
    """The block goes to the files first: the console shows the result of the run the disk allowed."""
    echo, seen = io.StringIO(), []
    log = ProofLog([], echo)
    log.files, log.paths = [FullDisk(room=200)], [tmp_path / "proof.log"]
    shown = _publish_pass(tmp_path, log, result_of(tmp_path), seen)
    assert shown.exit_code == 3 and len(seen) == 1 and "No space left on device" in seen[0]
    assert "ENVIRONMENT ERROR  probe_pass  (exit 3)" in echo.getvalue()
    assert "PASSED" not in echo.getvalue()


def test_reports_the_disk_does_not_take_are_not_a_pass(tmp_path):
    echo, seen = io.StringIO(), []
    result = result_of(tmp_path)
    result.artefacts.parent.mkdir(parents=True)
    result.artefacts.write_text("a file where the run's folder should be")  # every report write fails
    shown = _publish_pass(tmp_path, ProofLog([tmp_path / "proof.log"], echo), result, seen)
    assert shown.exit_code == 3 and seen and "cannot write the run's reports" in seen[0]
    assert "(exit 3)" in (tmp_path / "proof.log").read_text()
