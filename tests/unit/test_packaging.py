"""The wheel is the `harness` package alone: it imports nothing from, and names no path of, tests/ or tools/.

tests/ and tools/ are the repository's (its tests, the image builder, the benchmark); an
installed harness never has them. Three checks:

- every module of the package, by its syntax tree: no `import tests...`/`from tools...`, nor an
  `importlib.import_module`/`__import__` of them (milliseconds);
- every module's text: no path or dotted name of the repository's tests/ or tools/
  (`tests/fixtures/...`, `tools.images`); an Odoo module's own `tests/` folder
  (`addons/m/tests/test_x.py`, `tests/__init__.py`) and Odoo's `odoo/tests/` are fine;
- the wheel itself, built from a copy of the repository with this environment's setuptools,
  in-process and offline (about 1 s): only `harness/` and its dist-info, and the same two checks
  on what it holds. Skipped, saying so, when this setuptools cannot build a wheel (before 70.1,
  without the `wheel` package); build isolation is not used because it would fetch setuptools
  from a package index in a unit test.

By hand, as a newcomer would: `pip wheel --no-deps -w /tmp/wheel .`, a fresh venv, `pip install /tmp/wheel/*.whl`, then
`python -m harness --help` from a folder outside the repository.
"""

from __future__ import annotations

import ast
import re
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
PACKAGE = REPO / "harness"
REPO_ONLY = ("tests", "tools")


def _repository_only_pattern() -> re.Pattern[str]:
    """Paths and dotted names of the repository's tests/ and tools/, from what they hold now."""
    tests = sorted(p.name for p in (REPO / "tests").iterdir() if p.is_dir() and p.name[0] not in "._")
    tools = sorted(p.stem for p in (REPO / "tools").glob("*.py") if p.stem != "__init__")
    names = "|".join(map(re.escape, tests))
    modules = "|".join(map(re.escape, tools))
    # Not preceded by a path or name character: `odoo/tests/...` and `m/tests/...` are Odoo's.
    return re.compile(rf"(?<![\w/.-])(?:tests[/.](?:{names})\b|tools/|tools\.(?:{modules})\b)")


REPOSITORY_ONLY = _repository_only_pattern()


def forbidden_imports(source: str, filename: str = "<source>") -> list[str]:
    """Each import of tests or tools in `source`, as `line: statement`."""
    found = []
    for node in ast.walk(ast.parse(source, filename)):
        names: list[str] = []
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names = [node.module]
        elif (
            isinstance(node, ast.Call)
            and getattr(node.func, "attr", getattr(node.func, "id", "")) in ("import_module", "__import__")
            and node.args
            and isinstance(node.args[0], ast.Constant)
            and isinstance(node.args[0].value, str)
        ):
            names = [node.args[0].value]
        found += [f"{node.lineno}: {name}" for name in names if name.split(".")[0] in REPO_ONLY]
    return found


def repository_references(text: str) -> list[str]:
    """Each line of `text` naming the repository's tests/ or tools/, as `line: text`."""
    return [f"{n}: {line.strip()}" for n, line in enumerate(text.splitlines(), 1) if REPOSITORY_ONLY.search(line)]


def package_sources() -> dict[str, str]:
    return {str(p.relative_to(REPO)): p.read_text(encoding="utf-8") for p in sorted(PACKAGE.rglob("*.py"))}


def test_the_checks_catch_what_they_are_for():
    assert forbidden_imports("from tools.images import main") == ["1: tools.images"]
    assert forbidden_imports("import tests.unit.conftest") == ["1: tests.unit.conftest"]
    assert forbidden_imports("import importlib\nimportlib.import_module('tools.bench')") == ["2: tools.bench"]
    assert forbidden_imports("from harness import tools_x\nfrom .tests import y\nimport toolz") == []
    for named in ("see tests/fixtures/odoo_logs", "tests/unit/test_x.py", "python -m tools.images", "tools/bench.py"):
        assert repository_references(named), named
    for fine in (
        "odoo/tests/result.py",
        "/mnt/extra-addons/m/tests/test_x.py",
        "addons/fixture_fail/tests/test_item.py:8",
        "is tests/__init__.py importing the test files?",
        "the line prefix other tools read",
        "odoo.addons.MODULE.tests.test_x",
    ):
        assert not repository_references(fine), fine


def test_no_harness_module_imports_tests_or_tools():
    found = {name: forbidden_imports(text, name) for name, text in package_sources().items()}
    assert {name: hits for name, hits in found.items() if hits} == {}


def test_no_harness_module_names_a_path_of_tests_or_tools():
    found = {name: repository_references(text) for name, text in package_sources().items()}
    assert {name: hits for name, hits in found.items() if hits} == {}


def _can_build_wheels() -> bool:
    try:
        import setuptools.command.bdist_wheel  # noqa: F401  (setuptools >= 70.1)
    except ImportError:
        try:
            import wheel.bdist_wheel  # noqa: F401
        except ImportError:
            return False
    return True


_ANYWHERE = shutil.ignore_patterns(".git", ".nox", ".venv", "build", "*.egg-info", "__pycache__")
# The repository's run outputs, at its top only: harness/validation/ is part of the package.
_AT_THE_TOP = {"artefacts", "validation"}


def _ignore_in_copy(folder: str, names: list[str]) -> set[str]:
    ignored = set(_ANYWHERE(folder, names))
    return ignored | (_AT_THE_TOP & set(names) if Path(folder) == REPO else set())


@pytest.fixture(scope="module")
def wheel(tmp_path_factory) -> Path:
    if not _can_build_wheels():
        pytest.skip("this environment's setuptools cannot build a wheel offline (needs >= 70.1 or `wheel`)")
    tmp = tmp_path_factory.mktemp("wheel")
    # A copy: setuptools writes build/ and *.egg-info into the source folder, and the working tree is shared.
    source = tmp / "source"
    shutil.copytree(
        REPO,
        source,
        ignore=_ignore_in_copy,
    )
    out = tmp / "dist"
    build = "import sys, setuptools.build_meta as b; print(b.build_wheel(sys.argv[1]))"
    result = subprocess.run(
        [sys.executable, "-c", build, str(out)], cwd=source, capture_output=True, text=True, timeout=120
    )
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-2000:]
    return out / result.stdout.strip().splitlines()[-1]


def test_the_wheel_holds_the_harness_package_only_and_never_names_tests_or_tools(wheel):
    with zipfile.ZipFile(wheel) as archive:
        names = archive.namelist()
        texts = {name: archive.read(name).decode("utf-8") for name in names}
    top = {name.split("/")[0] for name in names}
    assert top == {"harness", wheel.name.split("-")[0] + "-" + wheel.name.split("-")[1] + ".dist-info"}
    assert texts[next(n for n in names if n.endswith("top_level.txt"))].split() == ["harness"]
    shipped = {n for n in names if n.startswith("harness/")}
    assert {n for n in shipped if n.endswith(".py")} == {
        f"harness/{p.relative_to(PACKAGE).as_posix()}" for p in PACKAGE.rglob("*.py")
    }
    assert all((REPO / n).is_file() for n in shipped)  # nothing from outside the package folder
    modules = {name: text for name, text in texts.items() if name.endswith(".py")}
    assert {n: hits for n, t in modules.items() if (hits := forbidden_imports(t, n))} == {}
    assert {n: hits for n, t in texts.items() if not n.endswith("RECORD") and (hits := repository_references(t))} == {}


@pytest.mark.skipif(sys.version_info < (3, 11), reason="tomllib: the bare interpreter has no tomli")
def test_help_works_on_a_bare_python_and_a_run_says_what_is_missing():
    """`python3 -m harness --help` with no site-packages at all (no docker, psutil, requests)."""
    root = Path(__file__).resolve().parents[2]
    bare = [sys.executable, "-S", "-m", "harness"]
    helped = subprocess.run([*bare, "--help"], cwd=root, capture_output=True, text=True, timeout=60)
    assert helped.returncode == 0, helped.stderr
    assert "python3 -m harness" in helped.stdout and "validate" in helped.stdout
    ran = subprocess.run([*bare, "run", "traction"], cwd=root, capture_output=True, text=True, timeout=60)
    assert ran.returncode == 3, ran.stderr
    assert "is missing" in ran.stderr and "Traceback" not in ran.stderr
