"""The validation's one registry and the 9.5 excerpts (no Docker)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from harness.cli import build_parser
from harness.validation.demonstrations import DEMONSTRATIONS
from harness.validation.report import Demonstration, proof_markdown, section

ROOT = Path(__file__).resolve().parents[2]


def test_the_noxfile_defines_one_session_per_demonstration_documented_by_its_summary() -> None:
    listed = subprocess.run(
        [sys.executable, "-m", "nox", "--list", "--json", "-k", "validate", "--noxfile", str(ROOT / "noxfile.py")],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    ).stdout
    sessions = {entry["session"]: entry["description"] for entry in json.loads(listed)}
    for spec in DEMONSTRATIONS.values():
        assert sessions[spec.session] == spec.summary


def test_the_cli_names_every_demonstration() -> None:
    validate = build_parser()._subparsers._group_actions[0].choices["validate"]
    assert all(name in validate.format_help() for name in DEMONSTRATIONS)
    assert build_parser().parse_args(["validate"]).names == []


def test_proof_headings_come_from_the_registry(tmp_path: Path) -> None:
    from harness.config import Config

    demos = [Demonstration(spec.name, spec.title, "nox -s x", spec.expected) for spec in DEMONSTRATIONS.values()]
    text = proof_markdown(Config(root=tmp_path), demos)
    headings = [line.removeprefix("## ") for line in text.splitlines() if line.startswith("## ")]
    assert headings == [spec.title for spec in DEMONSTRATIONS.values()] + ["9.5 Documentation Review"]


def test_section_skips_comments_in_code_blocks_and_stops_at_the_next_heading(tmp_path: Path) -> None:
    doc = tmp_path / "doc.md"
    doc.write_text(
        "# Title\n## Running Tests\nrun it:\n```bash\n# a comment, not a heading\nnox -s x\n```\n"
        "### Detail\nmore\n## Next\nnot this\n"
    )
    lines = section(doc, "## Running Tests")
    assert lines[0] == "## Running Tests"
    assert "# a comment, not a heading" in lines and "### Detail" in lines and "more" in lines
    assert "## Next" not in lines and "not this" not in lines
    assert section(doc, "## Missing") == ["(doc.md has no section '## Missing')"]
