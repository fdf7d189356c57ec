"""`--changed`: which modules a change selects, and why (pure rules; one real git repository)."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from harness.changes import owning_module, select, select_changed
from harness.config import Config
from harness.errors import UsageError

# a <- b <- c (c depends on b, b on a); d stands alone; e depends on a module that is gone.
DEPENDS = {"a": ["base"], "b": ["a", "mail"], "c": ["b"], "d": ["web"], "e": ["old"]}
FOLDERS = ["addons"]


def test_a_file_in_a_module_folder_belongs_to_that_module() -> None:
    assert owning_module("addons/a/models/x.py", FOLDERS) == "a"
    assert owning_module("addons/a/__manifest__.py", ["src/addons", "addons"]) == "a"
    assert owning_module("addons/README.md", FOLDERS) is None  # in the folder, in no module
    assert owning_module("addonsx/a/x.py", FOLDERS) is None
    assert owning_module("pyproject.toml", FOLDERS) is None


def test_one_changed_module_selects_itself_and_its_dependents_transitively() -> None:
    assert select(["addons/a/models/x.py"], FOLDERS, DEPENDS) == [
        ("a", "changed: addons/a/models/x.py"),
        ("b", "depends on a (changed)"),
        ("c", "depends on b, which depends on a (changed)"),
    ]


def test_a_module_nothing_depends_on_selects_only_itself() -> None:
    assert select(["addons/c/tests/test_c.py", "addons/c/views.xml"], FOLDERS, DEPENDS) == [
        ("c", "changed: addons/c/tests/test_c.py (and 1 more)")
    ]


def test_a_change_outside_every_module_selects_all_and_says_which_file() -> None:
    chosen = select(["addons/d/x.py", "docker-compose.agent.yml", "requirements.txt"], FOLDERS, DEPENDS)
    assert [name for name, _ in chosen] == ["a", "b", "c", "d", "e"]
    assert {why for _, why in chosen} == {"a change outside any module: docker-compose.agent.yml (and 1 more)"}


def test_a_gone_module_selects_what_still_depends_on_it() -> None:
    assert select(["addons/old/__manifest__.py"], FOLDERS, DEPENDS) == [("e", "depends on old (gone)")]


def test_no_change_selects_nothing() -> None:
    assert select([], FOLDERS, DEPENDS) == []


def test_a_dependency_cycle_does_not_loop() -> None:
    assert [n for n, _ in select(["addons/x/a.py"], FOLDERS, {"x": ["y"], "y": ["x"]})] == ["x", "y"]


def _git(root: Path, *args: str) -> None:
    subprocess.run(["git", "-C", str(root), *args], check=True, capture_output=True, timeout=30)


def _module(root: Path, name: str, depends: list[str]) -> None:
    (root / "addons" / name).mkdir(parents=True)
    (root / "addons" / name / "__manifest__.py").write_text(repr({"name": name, "depends": depends}))


def test_a_branch_that_edits_one_module_with_one_dependent_selects_exactly_those_two(tmp_path: Path) -> None:
    root = tmp_path
    (root / "pyproject.toml").write_text("[tool.harness]\n")
    _module(root, "lib", ["base"])
    _module(root, "app", ["lib"])
    _module(root, "other", ["base"])
    _git(root, "init", "-q", "-b", "main")
    _git(root, "-c", "user.name=t", "-c", "user.email=t@t", "add", "-A")
    _git(root, "-c", "user.name=t", "-c", "user.email=t@t", "commit", "-q", "-m", "base")
    _git(root, "checkout", "-q", "-b", "topic")
    (root / "addons" / "lib" / "models.py").write_text("# edited\n")  # untracked and uncommitted: counts
    config = Config(root=root).with_overrides(addons_path=Path("addons"))
    against, chosen = select_changed(config, None)
    assert against.startswith("main (merge base ")
    assert chosen == [("app", "depends on lib (changed)"), ("lib", "changed: addons/lib/models.py")]
    with pytest.raises(UsageError, match="no merge base"):
        select_changed(config, "no-such-ref")
