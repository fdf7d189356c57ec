"""A grouped run's ending without Docker: the one teardown, then each member's result from its own records."""

from __future__ import annotations

import io
import json
from pathlib import Path

import pytest

from harness import report
from harness.config import Config
from harness.group import GroupRun, ModuleRun
from harness.odoo_log import LogAnalyser
from harness.records import utc_stamp
from harness.verdict import Judgement


@pytest.fixture
def config(tmp_path: Path) -> Config:
    addons = tmp_path / "addons"
    for module in ("mod_a", "mod_b"):
        (addons / module).mkdir(parents=True)
        (addons / module / "__manifest__.py").write_text("{'name': 'M', 'installable': True}")
    return Config(root=tmp_path).with_overrides(
        addons_path=Path("addons"), log_file=Path("proof.log"), artefacts_dir=Path("artefacts"), lock_dir=Path("locks")
    )


def judged_group(config: Config, verdicts: dict[str, bool]) -> GroupRun:
    """A group whose phases only record each member's judged test run (no environment was started)."""
    run = GroupRun(config, list(verdicts), echo=io.StringIO())

    def phases() -> None:
        for index, (module, passed) in enumerate(verdicts.items(), start=1):
            database = f"{config.db_name}_{index}"
            member = ModuleRun(module, database, run.artefacts / module, utc_stamp(0), LogAnalyser(module, database))
            member.odoo_exit = 0 if passed else 1
            member.analysis = member.analyser.result()
            member.judgement = Judgement(passed, () if passed else ("a test failed",))
            run.runs.append(member)

    run.phases = phases  # type: ignore[method-assign]
    return run


def test_the_group_ends_with_its_own_result_and_one_per_member(config: Config) -> None:
    run = judged_group(config, {"mod_a": True, "mod_b": False})
    group = run.execute()  # returned the group's result: the block's end did not lose it
    assert group.exit_code == 0
    assert [(r.module, r.exit_code) for r in run.results] == [("mod_a", 0), ("mod_b", 1)]
    for member in run.results:
        assert json.loads((member.artefacts / "result.json").read_text())["exit_code"] == member.exit_code


def test_a_member_report_the_disk_refuses_is_that_members_exit_3(
    config: Config, monkeypatch: pytest.MonkeyPatch
) -> None:
    written = report.write_report

    def refuse_mod_a(result, **kwargs):  # type: ignore[no-untyped-def]
        if result.module == "mod_a":
            raise OSError(28, "No space left on device")
        return written(result, **kwargs)

    monkeypatch.setattr(report, "write_report", refuse_mod_a)
    run = judged_group(config, {"mod_a": True, "mod_b": True})
    run.execute()
    codes = {r.module: r.exit_code for r in run.results}
    assert codes == {"mod_a": 3, "mod_b": 0}
    assert "No space left on device" in next(r for r in run.results if r.module == "mod_a").message
