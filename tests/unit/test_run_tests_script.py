"""scripts/run-tests.sh, the work order's command: a shim over the harness with the harness's exit codes.

Nothing here needs Docker: every case ends before the engine would be asked anything, and
DOCKER_HOST names a socket that does not exist, so touching the engine would show as exit 3.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
SCRIPT = ROOT / "scripts" / "run-tests.sh"
BASH = shutil.which("bash")

pytestmark = pytest.mark.skipif(BASH is None, reason="needs bash")


def run_script(*args: str, tmp_path: Path, **extra: str) -> subprocess.CompletedProcess[str]:
    # The caller's image choice (CI exports ODOO_IMAGE/POSTGRES_IMAGE) must not reach the script under test.
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("HARNESS_", "NOX")) and k not in ("ODOO_IMAGE", "POSTGRES_IMAGE")
    }
    env.update(
        # nox and python of this test's environment first on the PATH
        PATH=f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}",
        PYTHON=sys.executable,
        DOCKER_HOST=f"unix://{tmp_path}/no-such-docker.sock",
        # The repository's own log, artefacts and locks stay untouched.
        HARNESS_LOG_FILE=str(tmp_path / "proof.log"),
        HARNESS_ARTEFACTS_DIR=str(tmp_path / "artefacts"),
        HARNESS_LOCK_DIR=str(tmp_path / "locks"),
        # No engine, no venv, no images here: the set-up steps have tests of their own (below).
        RUN_TESTS_SETUP="0",
    )
    env.update(extra)
    return subprocess.run(
        [BASH, str(SCRIPT), *args], env=env, cwd=tmp_path, capture_output=True, text=True, timeout=180
    )


@pytest.mark.parametrize("runner", ["nox", "python"])
def test_a_module_that_does_not_exist_exits_2_without_docker(tmp_path, runner):
    if runner == "nox" and shutil.which("nox", path=str(Path(sys.executable).parent)) is None:
        pytest.skip("nox is not installed next to this Python")
    result = run_script("no_such_module_xyz", tmp_path=tmp_path, RUN_TESTS_WITH=runner)
    output = result.stdout + result.stderr
    assert result.returncode == 2, output
    assert "no_such_module_xyz" in output and "not found in addons path" in output
    assert "does not answer" not in output  # the engine was never asked


def test_without_a_module_it_prints_usage_and_exits_2(tmp_path):
    result = run_script(tmp_path=tmp_path)
    assert result.returncode == 2
    assert "usage: bash scripts/run-tests.sh MODULE" in result.stderr


def test_two_modules_are_a_usage_error(tmp_path):
    assert run_script("traction", "other", tmp_path=tmp_path).returncode == 2


@pytest.mark.parametrize("name", ["$(touch pwned)", "traction'); import os; ('", "Traction", "../addons", "-i"])
def test_a_name_that_is_not_a_technical_name_never_reaches_nox(tmp_path, name):
    result = run_script(name, tmp_path=tmp_path)
    assert result.returncode == 2
    assert "invalid module name" in result.stderr
    assert not (tmp_path / "pwned").exists()


def test_an_unknown_runner_is_a_usage_error(tmp_path):
    result = run_script("traction", tmp_path=tmp_path, RUN_TESTS_WITH="make")
    assert result.returncode == 2
    assert "RUN_TESTS_WITH" in result.stderr


@pytest.mark.parametrize("code", [0, 1, 3, 5])
def test_the_runners_exit_code_is_the_scripts(tmp_path, code):
    # A `nox` that exits as told, first on the PATH: the script hands its code back unchanged.
    fake = tmp_path / "bin" / "nox"
    fake.parent.mkdir()
    fake.write_text(f"#!/bin/sh\nexit {code}\n")
    fake.chmod(0o755)
    result = run_script("traction", tmp_path=tmp_path, RUN_TESTS_WITH="nox", PATH=f"{fake.parent}:/usr/bin:/bin")
    assert result.returncode == code, result.stderr


# --- the set-up on a fresh machine, against stand-ins for docker and nox on the PATH

FAKE_DOCKER = """#!/bin/sh
echo "docker $*" >> "$CALLS"
case "$1 $2" in
    "info "*|"compose version") exit 0 ;;
    "image inspect") case " $HAVE_IMAGES " in *" $3 "*) exit 0 ;; esac; exit 1 ;;
    "pull "*) exit 1 ;;
esac
exit 0
"""
FAKE_NOX = """#!/bin/sh
echo "nox $* ODOO_IMAGE=${ODOO_IMAGE:-} POSTGRES_IMAGE=${POSTGRES_IMAGE:-}" >> "$CALLS"
"""


def fake_tools(tmp_path: Path) -> dict[str, str]:
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    for name, text in (("docker", FAKE_DOCKER), ("nox", FAKE_NOX)):
        (bin_dir / name).write_text(text)
        (bin_dir / name).chmod(0o755)
    return {
        "PATH": f"{bin_dir}{os.pathsep}/usr/bin{os.pathsep}/bin",
        "CALLS": str(tmp_path / "calls"),
        "RUN_TESTS_NOX": str(bin_dir / "nox"),  # the stand-in has no dependencies: name it
    }


# A python3 whose `-m venv DIR` makes DIR/bin/python (logging what pip is asked) and DIR/bin/nox.
FAKE_PYTHON = """#!/bin/sh
echo "python3 $*" >> "$CALLS"
if [ "$1 $2" = "-m venv" ]; then
    mkdir -p "$3/bin"
    printf '#!/bin/sh\necho "venv-python $*" >> "$CALLS"\n' > "$3/bin/python"
    printf '#!%s/bin/python\necho "venv-nox $*" >> "$CALLS"\n' "$PWD/$3" > "$3/bin/nox"
    chmod +x "$3/bin/python" "$3/bin/nox"
fi
"""


def test_a_nox_without_the_harness_dependencies_is_not_used_and_venv_gets_them(tmp_path):
    """A bare nox (e.g. `pipx install nox`) would reinstall a script environment at every call: .venv instead."""
    project = tmp_path / "project"
    (project / "scripts").mkdir(parents=True)
    shutil.copy(SCRIPT, project / "scripts" / "run-tests.sh")
    shutil.copy(ROOT / "noxfile.py", project / "noxfile.py")
    shutil.copy(ROOT / "pyproject.toml", project / "pyproject.toml")
    env = fake_tools(tmp_path)
    del env["RUN_TESTS_NOX"]
    (tmp_path / "bin" / "python3").write_text(FAKE_PYTHON)
    (tmp_path / "bin" / "python3").chmod(0o755)
    (tmp_path / "bin" / "nox").write_text('#!/bin/sh\necho "bare-nox $*" >> "$CALLS"\n')
    result = subprocess.run(
        [BASH, str(project / "scripts" / "run-tests.sh"), "traction"],
        env={**env, "HAVE_IMAGES": "odoo:18.0 postgres:16", "HOME": str(tmp_path)},
        cwd=tmp_path, capture_output=True, text=True, timeout=180,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    calls = (tmp_path / "calls").read_text()
    assert "bare-nox" not in calls
    assert "python3 -m venv .venv" in calls
    assert "venv-python -m pip install --quiet" in calls and "docker>=7.1" in calls and "diff-cover>=9" in calls
    assert "/project/.venv/bin/nox -s tests(module='traction')" in calls  # run by the .venv's python
    assert "creating .venv" in result.stderr


def test_no_image_and_no_odoo_source_says_exactly_what_to_set(tmp_path):
    env = fake_tools(tmp_path)
    result = run_script("traction", tmp_path=tmp_path, RUN_TESTS_SETUP="1", HAVE_IMAGES="", **env)
    assert result.returncode == 3, result.stderr
    assert "HARNESS_ODOO_SOURCE" in result.stderr and "odoo:18.0" in result.stderr
    calls = (tmp_path / "calls").read_text()
    assert "docker pull" in calls and "nox -s tests" not in calls


def test_no_image_with_an_odoo_source_builds_the_project_images_and_runs_on_them(tmp_path):
    env = fake_tools(tmp_path)
    result = run_script(
        "traction",
        tmp_path=tmp_path,
        RUN_TESTS_SETUP="1",
        HAVE_IMAGES="",
        HARNESS_ODOO_SOURCE="/src/odoo.tar.xz",
        **env,
    )
    assert result.returncode == 0, result.stderr
    calls = (tmp_path / "calls").read_text().splitlines()
    nox_calls = [c for c in calls if c.startswith("nox ")]
    assert nox_calls[0].startswith("nox -s images")
    assert nox_calls[1] == (
        "nox -s tests(module='traction') ODOO_IMAGE=hub-harness/odoo:18.0 POSTGRES_IMAGE=hub-harness/postgres:15"
    )


def test_a_repeated_run_uses_the_project_images_without_asking_a_registry(tmp_path):
    """Once built, the project's images are used as they are: no pull (a hanging registry costs its timeout)."""
    env = fake_tools(tmp_path)
    result = run_script(
        "traction",
        tmp_path=tmp_path,
        RUN_TESTS_SETUP="1",
        HAVE_IMAGES="hub-harness/odoo:18.0 hub-harness/postgres:15",
        HARNESS_ODOO_SOURCE="/src/odoo.tar.xz",
        **env,
    )
    assert result.returncode == 0, result.stderr
    calls = (tmp_path / "calls").read_text()
    assert "docker pull" not in calls
    own = "ODOO_IMAGE=hub-harness/odoo:18.0 POSTGRES_IMAGE=hub-harness/postgres:15"
    assert f"nox -s tests(module='traction') {own}" in calls


def test_configured_images_on_the_engine_are_used_as_they_are(tmp_path):
    env = fake_tools(tmp_path)
    result = run_script("traction", tmp_path=tmp_path, RUN_TESTS_SETUP="1", HAVE_IMAGES="odoo:18.0 postgres:16", **env)
    assert result.returncode == 0, result.stderr
    calls = (tmp_path / "calls").read_text()
    assert "nox -s images" not in calls and "docker pull" not in calls
    assert "nox -s tests(module='traction') ODOO_IMAGE= POSTGRES_IMAGE=" in calls


def test_an_image_chosen_by_name_is_never_replaced(tmp_path):
    env = fake_tools(tmp_path)
    result = run_script(
        "traction",
        tmp_path=tmp_path,
        RUN_TESTS_SETUP="1",
        HAVE_IMAGES="postgres:16",
        ODOO_IMAGE="mine/odoo:18",
        HARNESS_ODOO_SOURCE="/src/odoo.tar.xz",
        **env,
    )
    assert result.returncode == 3
    assert "mine/odoo:18" in result.stderr and "nox -s" not in (tmp_path / "calls").read_text()
