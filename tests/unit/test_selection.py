"""harness.selection: --tests SPEC and --failed turned into Odoo's --test-tags, checked against the module's files."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from harness.config import load_config
from harness.developer import add_run_options, apply_run_options
from harness.errors import UsageError
from harness.odoo_command import build_test_command
from harness.selection import Selection, failed_spec, inventory, parse, select

FIXTURE = Path(__file__).resolve().parents[1] / "fixtures" / "addons" / "fixture_select"


@pytest.mark.parametrize(
    ("spec", "tags"),
    [
        ("TestItem", "/m:TestItem"),
        ("TestItem.test_boom", "/m:TestItem.test_boom"),
        (":TestItem", "/m:TestItem"),
        (".test_boom", "/m.test_boom"),
        ("post_install", "post_install/m"),
        ("post_install/m:TestItem.test_boom", "post_install/m:TestItem.test_boom"),
        ("/m:TestItem", "/m:TestItem"),
        ("TestItem.test_boom, TestOther", "/m:TestItem.test_boom,/m:TestOther"),
        # Exclusions alone would make Odoo run every module's standard tests: the module is included.
        ("-slow", "/m,-slow/m"),
        ("TestItem,-.test_boom", "/m:TestItem,-/m.test_boom"),
    ],
)
def test_every_form_becomes_a_fragment_scoped_to_the_module(spec: str, tags: str) -> None:
    assert parse(spec, "m") == tags


@pytest.mark.parametrize("spec", ["/other:TestItem", "other_tag/other", "", " , ", "Test Item", "a b"])
def test_a_spec_naming_another_module_or_not_odoo_grammar_is_a_usage_error(spec: str) -> None:
    with pytest.raises(UsageError):
        parse(spec, "m")


def test_the_command_carries_the_selection_instead_of_the_whole_module(tmp_path: Path) -> None:
    (tmp_path / "pyproject.toml").write_text("[tool.harness]\n")
    config = load_config(tmp_path, env={})
    argv = build_test_command(config, "m", test_tags="/m:TestItem.test_boom")
    assert argv[argv.index("--test-tags") + 1] == "/m:TestItem.test_boom"
    whole = build_test_command(config, "m")
    assert whole[whole.index("--test-tags") + 1] == "/m"


def test_inventory_reads_classes_methods_and_tags_without_importing() -> None:
    found = inventory(FIXTURE)
    assert found.classes == {
        "TestItem": ("test_ok", "test_boom", "test_partner"),
        "TestLate": ("test_late",),
        "TestOther": ("test_fine", "test_broken"),
    }
    assert {"post_install", "at_install", "slow_fixture"} <= found.tags


def test_inventory_includes_test_methods_of_a_base_class_in_the_module(tmp_path: Path) -> None:
    (tmp_path / "tests").mkdir()
    (tmp_path / "tests" / "test_x.py").write_text(
        "class Mixin:\n    def test_shared(self): pass\n\nclass TestX(Common, Mixin):\n    def test_own(self): pass\n"
    )
    assert inventory(tmp_path).classes["TestX"] == ("test_own", "test_shared")


@pytest.mark.parametrize(
    "spec", ["TestItem", "TestItem.test_boom", ".test_fine", "slow_fixture", "post_install", "TestNope,TestOther"]
)
def test_a_selection_that_can_match_passes_the_check(spec: str) -> None:
    assert select(spec, "fixture_select", FIXTURE).test_tags


@pytest.mark.parametrize("spec", ["TestNope", "TestItem.test_nope", ".test_nope", "no_such_tag", "TestOther.test_boom"])
def test_a_selection_that_matches_nothing_names_it_and_the_classes(spec: str) -> None:
    with pytest.raises(UsageError) as error:
        select(spec, "fixture_select", FIXTURE)
    message = error.value.message
    assert spec in message and "matches no test of fixture_select" in message
    assert "TestItem (test_ok, test_boom, test_partner)" in message and "TestOther (test_fine, test_broken)" in message


def _result(folder: Path, started: str, **data: object) -> None:
    folder.mkdir(parents=True)
    (folder / "result.json").write_text(json.dumps({"module": "m", "started_at": started, **data}))


def test_failed_names_exactly_the_failures_of_the_newest_run(tmp_path: Path) -> None:
    _result(tmp_path / "old", "2026-12-01T10:00:00.000Z", exit_code=1, failed_tests=[{"name": "TestOld.test_x"}])
    _result(
        tmp_path / "new",
        "2026-12-01T11:00:00.000Z",
        exit_code=1,
        failed_tests=[
            {"name": "TestItem.test_boom"},
            {"name": "Subtest TestItem.test_values (value=2)"},
            {"name": "Subtest TestItem.test_values (value=3)"},
            {"name": "setUpClass (odoo.addons.m.tests.test_y.TestY)"},
        ],
    )
    _result(tmp_path / "other", "2026-12-01T12:00:00.000Z", module="n", exit_code=1, failed_tests=[{"name": "A.b"}])
    assert failed_spec(tmp_path, "m") == "TestItem.test_boom,TestItem.test_values,TestY"


def test_failed_without_a_previous_failure_is_a_usage_error(tmp_path: Path) -> None:
    with pytest.raises(UsageError, match="no previous run of m"):
        failed_spec(tmp_path, "m")
    _result(tmp_path / "passed", "2026-12-01T10:00:00.000Z", exit_code=0, failed_tests=[])
    with pytest.raises(UsageError, match="passed: there is nothing to rerun"):
        failed_spec(tmp_path, "m")


def test_the_flags_become_configuration(tmp_path: Path) -> None:
    import argparse

    (tmp_path / "pyproject.toml").write_text("[tool.harness]\n")
    config = load_config(tmp_path, env={})
    parser = argparse.ArgumentParser()
    parser.add_argument("module")
    add_run_options(parser)
    applied = apply_run_options(config, parser.parse_args(["m", "--tests", "TestItem", "--fail-under", "80"]))
    assert (applied.tests, applied.coverage, applied.fail_under) == ("TestItem", True, 80.0)
    with pytest.raises(SystemExit):
        parser.parse_args(["m", "--tests", "X", "--failed"])
    with pytest.raises(UsageError):
        apply_run_options(config, parser.parse_args(["m", "--fail-under", "120"]))


def test_selection_describes_itself_with_its_test_tags() -> None:
    assert Selection("TestItem", "/m:TestItem").describe() == "TestItem (--test-tags /m:TestItem)"
