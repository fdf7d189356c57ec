"""The README and docs stand alone: no reader is sent outside the repository, set-up works as written."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
DOCS = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
README = (ROOT / "README.md").read_text(encoding="utf-8")


def nox_floor(text: str) -> str:
    found = re.findall(r"nox>=([0-9.]+)", text)
    assert found, "no nox floor"
    return found[0]


@pytest.mark.parametrize("doc", DOCS, ids=lambda p: p.name)
def test_no_reference_outside_the_repository(doc: Path) -> None:
    text = doc.read_text(encoding="utf-8")
    assert not re.search(r"(\.\./|/work/)shared|shared/odoo18", text), f"{doc.name} sends the reader outside the repo"


@pytest.mark.parametrize("doc", DOCS, ids=lambda p: p.name)
def test_relative_links_resolve(doc: Path) -> None:
    for target in re.findall(r"\]\(([^)#:]+)(?:#[^)]*)?\)", doc.read_text(encoding="utf-8")):
        assert (doc.parent / target).exists(), f"{doc.name} links to missing {target}"


def test_set_up_installs_nox_the_way_debian_and_ubuntu_allow() -> None:
    """A system-wide `pip install` is refused there (externally-managed-environment): the script's venv.

    A bare `pipx install nox` is not offered: without the noxfile's dependencies beside it, nox
    remakes a script environment at every call (pip's lines, `uv binary not found`).
    """
    commands = [
        line.split("#")[0] for block in re.findall(r"```bash\n(.*?)```", README, re.S) for line in block.splitlines()
    ]
    assert not [c for c in commands if re.search(r"(^|\s)(python3? -m )?pip3? install", c) and ".venv/bin/pip" not in c]
    assert not any("pipx install nox" in c for c in commands)
    assert any(".venv/bin/activate" in c for c in commands) and any(".venv/bin/nox" in c for c in commands)


def test_one_nox_floor_in_pyproject_noxfile_and_readme() -> None:
    pyproject = nox_floor((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
    script_block = (ROOT / "noxfile.py").read_text(encoding="utf-8").split("# ///")[1]
    assert nox_floor(script_block) == pyproject
    assert f"nox >= {pyproject}" in README or f"nox>={pyproject}" in README


def test_the_odoo_facts_page_is_linked_and_carries_the_measurements() -> None:
    facts = (ROOT / "docs" / "odoo18-facts.md").read_text(encoding="utf-8")
    assert "docs/odoo18-facts.md" in README
    for fact in ("odoo-bin", "--http-port", "--test-tags", "--db-filter=^$", "invalid module names", "255", "13.6 s"):
        assert fact in facts, fact


def test_the_old_command_is_documented_as_a_migration_path() -> None:
    assert "bash scripts/run-tests.sh traction" in README
    assert (ROOT / "scripts" / "run-tests.sh").is_file()
