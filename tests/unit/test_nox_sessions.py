"""Exit codes through `nox` itself: one module keeps its code, `nox -s tests` runs them all (no Docker).

A fake addons folder and an engine address nothing answers on make every run fail fast: a
module that exists stops at preflight's sweep (exit 3), one that does not at its check (exit 2).
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

pytest.importorskip("nox")

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def nox(tmp_path: Path):
    for name in ("alpha", "beta"):
        (tmp_path / "addons" / name).mkdir(parents=True)
        (tmp_path / "addons" / name / "__manifest__.py").write_text(f"{{'name': '{name}'}}")
    env = {k: v for k, v in os.environ.items() if not k.startswith(("HARNESS_", "GITHUB_", "NOX"))}
    env.update(
        HARNESS_ADDONS_PATH=str(tmp_path / "addons"),
        HARNESS_LOG_FILE=str(tmp_path / "proof.log"),
        HARNESS_ARTEFACTS_DIR=str(tmp_path / "artefacts"),
        HARNESS_LOCK_DIR=str(tmp_path / "locks"),
        DOCKER_HOST=f"unix://{tmp_path}/no-engine.sock",
    )

    def run(*sessions: str) -> tuple[int, str]:
        argv = [sys.executable, "-m", "nox", "--noxfile", str(ROOT / "noxfile.py"), "--no-color", "-s", *sessions]
        done = subprocess.run(argv, cwd=tmp_path, env=env, capture_output=True, text=True, timeout=300, check=False)
        return done.returncode, done.stdout + done.stderr

    return run


def test_one_module_alone_keeps_its_exit_code(nox) -> None:
    code, out = nox("tests(module='alpha')")
    assert code == 3, out
    code, out = nox("tests(module='no_such_module')")
    assert code == 2, out
    assert "Ran " not in out  # SystemExit: the code reaches the shell as it is


def test_all_modules_run_even_when_one_fails_and_nox_summarises(nox) -> None:
    code, out = nox("tests")
    assert code == 1, out
    assert "Ran 2 sessions" in out, out
    for module in ("alpha", "beta"):
        assert f"* tests(module='{module}'): aborted" in out
        assert f"ENVIRONMENT ERROR  {module}  (exit 3)" in out  # each run's own final block


def test_several_named_modules_each_run_and_each_failure_is_named(nox) -> None:
    code, out = nox("tests(module='no_such_module')", "tests(module='alpha')")
    assert code == 1, out
    assert "Session tests(module='no_such_module') aborted: exit 2 (usage)" in out
    assert "Session tests(module='alpha') aborted: exit 3 (environment)" in out


def test_modules_at_the_root_and_a_dependency_folder_list_only_the_own_modules(tmp_path: Path) -> None:
    """`nox -l` and `nox -s modules` (the CI matrix): a dependency folder's modules are not the repository's."""
    repo, deps = tmp_path / "repo", tmp_path / "repo" / "third_party"
    for folder, name in ((repo, "own_a"), (repo, "own_b"), (deps, "dep_x")):
        (folder / name).mkdir(parents=True)
        (folder / name / "__manifest__.py").write_text(f"{{'name': '{name}'}}")
    (repo / "docs").mkdir()
    env = {k: v for k, v in os.environ.items() if not k.startswith(("HARNESS_", "GITHUB_", "NOX"))}
    env.update(HARNESS_ADDONS_PATH=f"{repo}:{deps}", HARNESS_DEPENDENCY_ADDONS=str(deps))
    base = [sys.executable, "-m", "nox", "--noxfile", str(ROOT / "noxfile.py"), "--no-color"]
    listed = subprocess.run([*base, "-l"], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=120)
    assert "tests(module='own_a')" in listed.stdout and "tests(module='own_b')" in listed.stdout, listed.stdout
    assert "dep_x" not in listed.stdout and "docs" not in listed.stdout and "third_party" not in listed.stdout
    matrix = subprocess.run(
        [*base, "-s", "modules"], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=120
    )
    assert matrix.returncode == 0, matrix.stderr
    assert '["own_a", "own_b"]' in matrix.stdout
