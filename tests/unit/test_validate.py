"""Pure parts of the validation demonstrations: the source-tree hash and the 9.5 excerpts."""

from __future__ import annotations

from pathlib import Path

from harness.validate import section, tree_hash


def test_tree_hash_changes_with_content_and_names_but_not_caches(tmp_path: Path) -> None:
    (tmp_path / "m" / "tests").mkdir(parents=True)
    (tmp_path / "m" / "tests" / "test_a.py").write_text("x = 1\n")
    before = tree_hash(tmp_path)
    (tmp_path / "m" / "__pycache__").mkdir()
    (tmp_path / "m" / "__pycache__" / "a.pyc").write_bytes(b"\0")
    assert tree_hash(tmp_path) == before
    (tmp_path / "m" / "tests" / "test_a.py").write_text("x = 2\n")
    assert tree_hash(tmp_path) != before
    (tmp_path / "m" / "tests" / "test_a.py").write_text("x = 1\n")
    (tmp_path / "m" / "tests" / "test_a.py").rename(tmp_path / "m" / "tests" / "test_b.py")
    assert tree_hash(tmp_path) != before


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
