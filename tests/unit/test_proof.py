"""Proof of execution: the line-flushed log, fresh files, atomic JSON, tail."""

from __future__ import annotations

import io
import json
import os

import pytest

from harness import proof
from harness.errors import EnvironmentProblem, ExitCode
from harness.proof import HARNESS_TAG, ProofLog, fresh_file, tail, write_json


def test_each_line_reaches_every_file_and_the_echo_before_close(tmp_path):
    first, second = tmp_path / "proof.log", tmp_path / "artefacts" / "run" / "proof.log"
    echo = io.StringIO()
    log = ProofLog([first], echo)
    log.add(second)
    log.line("odoo says hi")
    log.harness("phase: up")
    # Flushed per line: readable by another reader while the log is still open.
    expected = f"odoo says hi\n{HARNESS_TAG} phase: up\n"
    assert first.read_text() == expected
    assert second.read_text() == expected
    assert echo.getvalue() == expected
    assert log.paths == [first, second]
    log.close()
    assert log.files == []
    assert first.read_text() == expected


def test_echo_defaults_to_stdout(tmp_path, capsys):
    log = ProofLog([tmp_path / "p.log"])
    log.line("to the console")
    log.close()
    assert capsys.readouterr().out == "to the console\n"


def test_a_broken_echo_does_not_stop_the_files(tmp_path):
    echo = io.StringIO()
    log = ProofLog([tmp_path / "p.log"], echo)
    echo.close()
    log.line("still written")  # a closed console raises ValueError, which must not escape
    log.close()
    assert (tmp_path / "p.log").read_text() == "still written\n"


def test_fresh_file_replaces_a_stale_file_with_a_new_inode(tmp_path):
    path = tmp_path / "proof.log"
    path.write_text("stale line from an earlier run\n")
    old = open(path, "a")  # a concurrent writer still holding the old file  # noqa: SIM115
    old_inode = os.stat(path).st_ino
    try:
        new = fresh_file(path)
        new.write("ours\n")
        new.flush()
        old.write("theirs\n")
        old.flush()
        assert os.stat(path).st_ino != old_inode
        assert path.read_text() == "ours\n"  # neither the stale content nor the other writer's line
        new.close()
    finally:
        old.close()


def test_fresh_file_creates_missing_folders(tmp_path):
    path = tmp_path / "a" / "b" / "proof.log"
    with fresh_file(path) as handle:
        handle.write("x")
    assert path.read_text() == "x"


def test_unwritable_path_is_an_environment_problem(tmp_path):
    blocker = tmp_path / "a-file"
    blocker.write_text("")
    with pytest.raises(EnvironmentProblem) as caught:
        ProofLog([blocker / "proof.log"], io.StringIO())
    assert str(blocker / "proof.log") in caught.value.message
    assert caught.value.exit_code == ExitCode.ENVIRONMENT


def test_a_directory_in_the_way_is_an_environment_problem(tmp_path):
    (tmp_path / "proof.log").mkdir()
    with pytest.raises(EnvironmentProblem, match="cannot write the proof log"):
        fresh_file(tmp_path / "proof.log")


def test_write_json_writes_sorted_indented_json(tmp_path):
    path = tmp_path / "out" / "result.json"
    write_json(path, {"b": 1, "a": {"path": tmp_path}})
    text = path.read_text()
    assert json.loads(text) == {"a": {"path": str(tmp_path)}, "b": 1}
    assert text.index('"a"') < text.index('"b"')
    assert text.endswith("\n")
    assert "\n  " in text
    assert [p.name for p in path.parent.iterdir()] == ["result.json"]  # no temporary left


def test_write_json_replaces_atomically(tmp_path):
    path = tmp_path / "state.json"
    write_json(path, {"phase": "up"})
    reader = open(path)  # a reader that opened the old version  # noqa: SIM115
    old_inode = os.stat(path).st_ino
    try:
        write_json(path, {"phase": "tests"})
        assert json.loads(path.read_text()) == {"phase": "tests"}
        assert os.stat(path).st_ino != old_inode  # renamed into place, not rewritten
        assert json.loads(reader.read()) == {"phase": "up"}  # the old reader saw a whole file
    finally:
        reader.close()


def test_write_json_failure_leaves_the_previous_file_intact(tmp_path, monkeypatch):
    path = tmp_path / "state.json"
    write_json(path, {"phase": "up"})

    def broken_replace(src, dst):
        raise OSError("disk full")

    monkeypatch.setattr(proof.os, "replace", broken_replace)
    with pytest.raises(OSError):
        write_json(path, {"phase": "tests"})
    assert json.loads(path.read_text()) == {"phase": "up"}


def test_tail(tmp_path):
    path = tmp_path / "log"
    path.write_text("".join(f"line {i}\n" for i in range(10)))
    assert tail(path, 3) == ["line 7", "line 8", "line 9"]
    assert tail(path, 50) == [f"line {i}" for i in range(10)]
    assert tail(tmp_path / "missing", 3) == []


def test_tail_tolerates_invalid_utf8(tmp_path):
    path = tmp_path / "log"
    path.write_bytes(b"ok\n\xff\xfe bad\n")
    assert tail(path, 1)[0].endswith(" bad")
