"""Modules in the addons path: discovery, the pre-flight check, manifests read as literals."""

from __future__ import annotations

from pathlib import Path

import pytest

from harness.errors import ExitCode, UsageError
from harness.modules import check_module, discover_modules, is_installable, read_manifest


def make_module(addons: Path, name: str, manifest: str | None = "{'name': 'X', 'version': '18.0.1.0.0'}") -> Path:
    folder = addons / name
    folder.mkdir(parents=True)
    (folder / "__init__.py").write_text("")
    if manifest is not None:
        (folder / "__manifest__.py").write_text(manifest, encoding="utf-8")
    return folder


@pytest.fixture
def addons(tmp_path: Path) -> Path:
    path = tmp_path / "addons"
    make_module(path, "traction")
    make_module(path, "hub_core2", "{'name': 'Hub', 'installable': True}\n")
    make_module(path, "sale_extra", "# a comment\n{\n    'name': 'Sale extra',\n    'depends': ['sale'],\n}\n")
    make_module(path, "retired", "{'name': 'Old', 'installable': False}")
    make_module(path, "no_manifest", None)
    make_module(path, "broken", "{'name': ")
    make_module(path, "not_a_dict", "['name']")
    make_module(path, ".hidden")
    (path / "loose_file.py").write_text("{}")
    return path


def test_discover_lists_only_installable_modules_sorted(addons):
    assert discover_modules(addons) == ["hub_core2", "sale_extra", "traction"]


def test_discover_on_a_missing_path_is_empty(tmp_path):
    assert discover_modules(tmp_path / "nowhere") == []


def test_check_module_returns_the_module_folder(addons):
    assert check_module(addons, "traction") == addons / "traction"
    assert check_module(addons, "sale_extra") == addons / "sale_extra"


def test_missing_module_names_the_path_and_close_matches(addons):
    with pytest.raises(UsageError) as caught:
        check_module(addons, "tracton")
    message = caught.value.message
    assert str(addons) in message
    assert "did you mean traction" in message
    assert "hub_core2, sale_extra, traction" in message  # what is there
    assert "retired" not in message.split("Modules there:")[1]
    assert caught.value.exit_code == ExitCode.USAGE


def test_missing_module_without_close_matches_gives_no_hint(addons):
    with pytest.raises(UsageError) as caught:
        check_module(addons, "zzzzzz")
    assert "did you mean" not in caught.value.message
    assert "not found in addons path" in caught.value.message


def test_missing_module_in_an_empty_addons_path(tmp_path):
    with pytest.raises(UsageError, match="Modules there: none"):
        check_module(tmp_path, "traction")


def test_a_folder_without_manifest_is_not_a_module(addons):
    with pytest.raises(UsageError, match="not found"):
        check_module(addons, "no_manifest")


def test_installable_false_is_refused(addons):
    with pytest.raises(UsageError, match="installable: False") as caught:
        check_module(addons, "retired")
    assert "'retired'" in caught.value.message


@pytest.mark.parametrize("name", ["../etc", "Traction", "a;rm -rf", "a b", "", "1abc", "traction/../x"])
def test_invalid_name_is_rejected_before_touching_the_filesystem(name):
    class Untouchable:
        """An addons path that fails the test if anything looks inside it."""

        def __truediv__(self, other):
            raise AssertionError(f"the filesystem was consulted for {other!r}")

        def __fspath__(self):
            raise AssertionError("the filesystem was consulted")

        def is_dir(self):
            raise AssertionError("the filesystem was consulted")

        def iterdir(self):
            raise AssertionError("the filesystem was consulted")

    with pytest.raises(UsageError, match="invalid module name"):
        check_module(Untouchable(), name)  # type: ignore[arg-type]


def test_manifest_is_read_as_a_literal_and_never_executed(tmp_path):
    marker = tmp_path / "pwned"
    folder = make_module(tmp_path, "evil", f"__import__('pathlib').Path({str(marker)!r}).write_text('x') or {{}}")
    with pytest.raises(UsageError, match="not a Python dict literal"):
        read_manifest(folder)
    assert not is_installable(folder)
    assert discover_modules(tmp_path) == []
    with pytest.raises(UsageError):
        check_module(tmp_path, "evil")
    assert not marker.exists()


def test_read_manifest_values(addons):
    manifest = read_manifest(addons / "sale_extra")
    assert manifest == {"name": "Sale extra", "depends": ["sale"]}


def test_manifest_that_is_not_a_dict(addons):
    with pytest.raises(UsageError, match="does not contain a dict"):
        read_manifest(addons / "not_a_dict")
    assert not is_installable(addons / "not_a_dict")


def test_broken_manifest_makes_check_module_fail_with_usage_error(addons):
    with pytest.raises(UsageError, match="not a Python dict literal"):
        check_module(addons, "broken")


def test_requested_modules_reads_nox_session_names() -> None:
    from harness.modules import requested_modules

    argv = ["nox", "-s", "tests(module='traction')", "--session", 'tests(module="hub_x")', "unit"]
    assert requested_modules(argv) == ["traction", "hub_x"]
    assert requested_modules(["tests(module='a'),tests(module='b')"]) == ["a", "b"]
    assert requested_modules(["nox", "-s", "unit"]) == []


# --- folder names become CI matrix entries and command-line arguments: only technical names pass


@pytest.mark.parametrize("name", ["$(touch x)", "a;b", "Traction", "1module", "mod-dash", "mod.dot", "x y", "`id`"])
def test_discovery_refuses_a_module_folder_that_is_not_a_technical_name(tmp_path, name):
    addons = tmp_path / "addons"
    make_module(addons, "traction")
    make_module(addons, name)
    with pytest.raises(UsageError) as caught:
        discover_modules(addons)
    assert repr(name) in caught.value.message
    assert caught.value.exit_code == ExitCode.USAGE
    assert not (tmp_path / "x").exists() and not Path("x").exists()


def test_folders_without_a_manifest_are_not_modules_whatever_their_name(tmp_path):
    addons = tmp_path / "addons"
    make_module(addons, "traction")
    make_module(addons, "$(touch x)", None)
    (addons / "__pycache__").mkdir()
    assert discover_modules(addons) == ["traction"]


def test_the_cli_module_list_fails_loudly_on_a_bad_folder(tmp_path, monkeypatch, capsys):
    from harness.cli import main

    (tmp_path / "pyproject.toml").write_text('[tool.harness]\naddons_path = "addons"\n', encoding="utf-8")
    make_module(tmp_path / "addons", "traction")
    make_module(tmp_path / "addons", "$(touch x)")
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("HARNESS_ADDONS_PATH", raising=False)
    monkeypatch.delenv("HARNESS_ROOT", raising=False)
    assert main(["modules", "--json"]) == ExitCode.USAGE
    out, err = capsys.readouterr()
    assert out == ""
    assert "'$(touch x)'" in err
    assert not (tmp_path / "x").exists()


# --- several addons folders


def test_modules_at_a_repository_root_ignore_its_other_folders(tmp_path):
    root = tmp_path / "repo"
    make_module(root, "partner_x")
    make_module(root, "partner_y")
    for folder in ("docs", "tests", "setup/partner_x/odoo/addons", ".github", "harness"):
        (root / folder).mkdir(parents=True, exist_ok=True)
    (root / "tests" / "__init__.py").write_text("")
    (root / "README.md").write_text("x")
    assert discover_modules(root) == ["partner_x", "partner_y"]


def test_discovery_and_the_check_span_every_folder_in_order(tmp_path):
    own, deps = tmp_path / "own", tmp_path / "third_party"
    make_module(own, "mine")
    make_module(deps, "theirs")
    assert discover_modules([own, deps]) == ["mine", "theirs"]
    assert check_module([own, deps], "theirs") == deps / "theirs"
    with pytest.raises(UsageError) as caught:
        check_module([own, deps], "thiers")
    assert str(own) in caught.value.message and str(deps) in caught.value.message
    assert "did you mean theirs" in caught.value.message


def test_a_module_in_two_folders_is_an_error_naming_both(tmp_path):
    own, deps = tmp_path / "own", tmp_path / "third_party"
    make_module(own, "same")
    make_module(deps, "same")
    for call in (lambda: discover_modules([own, deps]), lambda: check_module([own, deps], "same")):
        with pytest.raises(UsageError) as caught:
            call()
        assert str(own / "same") in caught.value.message and str(deps / "same") in caught.value.message
        assert caught.value.exit_code == ExitCode.USAGE
