"""The house's rules, checked on the source: which module may import what (whole package, subfolders included)."""

from __future__ import annotations

import ast
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
PACKAGE = ROOT / "harness"
# What a run reports with: it must load without the engine's libraries.
REPORTING_LAYER = ("harness.records", "harness.result", "harness.report", "harness.junit", "harness.github")
ENGINE_LIBRARIES = ("docker", "psutil")


def module_name(path: Path) -> str:
    parts = path.relative_to(ROOT).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


MODULES = {module_name(p): p for p in sorted(PACKAGE.rglob("*.py"))}


def _runtime_nodes(tree: ast.AST) -> list[ast.AST]:
    """Every node of `tree` but those under `if TYPE_CHECKING:` (never imported at run time)."""
    skipped = {
        id(inner)
        for node in ast.walk(tree)
        if isinstance(node, ast.If) and ast.unparse(node.test) in ("TYPE_CHECKING", "typing.TYPE_CHECKING")
        for stmt in node.body
        for inner in ast.walk(stmt)
    }
    return [node for node in ast.walk(tree) if id(node) not in skipped]


def imports(name: str) -> set[str]:
    """Every module `name` imports at run time, at its top or inside a function (absolute names)."""
    found: set[str] = set()
    for node in _runtime_nodes(ast.parse(MODULES[name].read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            found |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.add(node.module)
            found |= {f"{node.module}.{alias.name}" for alias in node.names if f"{node.module}.{alias.name}" in MODULES}
    return found


def reachable(start: str) -> set[str]:
    """Every module `start` imports, directly or through other harness modules."""
    seen: set[str] = set()
    todo = [start]
    while todo:
        name = todo.pop()
        for imported in imports(name):
            if imported not in seen:
                seen.add(imported)
                if imported in MODULES:
                    todo.append(imported)
    return seen


def test_the_walk_sees_every_module_subfolders_included():
    assert set(REPORTING_LAYER) <= set(MODULES)
    assert all(path.is_relative_to(PACKAGE) for path in MODULES.values())
    # The checks below must see a subpackage's modules: rglob, not glob.
    assert {p for p in PACKAGE.rglob("*.py")} == set(MODULES.values())


def test_no_module_of_the_reporting_layer_imports_docker_or_psutil():
    found = {
        name: sorted(m for m in reachable(name) if m.split(".")[0] in ENGINE_LIBRARIES) for name in REPORTING_LAYER
    }
    assert {name: libs for name, libs in found.items() if libs} == {}


def test_the_reporting_layer_loads_without_docker_and_psutil():
    # The same, as Python really imports it (what the syntax tree cannot see, e.g. a package's __init__).
    code = (
        "import sys, " + ", ".join(REPORTING_LAYER) + "\n"
        f"print(sorted(m for m in sys.modules if m.split('.')[0] in {ENGINE_LIBRARIES!r}))"
    )
    result = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "[]"


def test_the_import_check_can_fail():
    # The engine's modules do import docker: the walk finds it.
    assert "docker" in reachable("harness.engine")
    assert "psutil" in reachable("harness.cleanup")


# --- one way to the engine: docker argvs only from harness.docker_cli; os.environ never written

BUILDER = "harness.docker_cli"
ENVIRON_WRITES = {"update", "pop", "popitem", "setdefault", "clear", "__setitem__", "__delitem__"}


def docker_argvs(source: str) -> list[int]:
    """Lines of `source` where a list or tuple starts with the literal "docker" (an argv built by hand)."""
    return sorted(
        node.lineno
        for node in ast.walk(ast.parse(source))
        if isinstance(node, (ast.List, ast.Tuple))
        and node.elts
        and isinstance(node.elts[0], ast.Constant)
        and node.elts[0].value == "docker"
    )


def environ_writes(source: str) -> list[int]:
    """Lines of `source` that change this process's environment."""
    found = []
    for node in ast.walk(ast.parse(source)):
        targets: list[ast.expr] = []
        if isinstance(node, ast.Assign):
            targets = node.targets
        elif isinstance(node, (ast.AugAssign, ast.AnnAssign)):
            targets = [node.target]
        elif isinstance(node, ast.Delete):
            targets = node.targets
        if any(isinstance(t, ast.Subscript) and ast.unparse(t.value) == "os.environ" for t in targets):
            found.append(node.lineno)
        if isinstance(node, ast.Call):
            name = ast.unparse(node.func)
            if name in ("os.putenv", "os.unsetenv") or (
                name.startswith("os.environ.") and name.rpartition(".")[2] in ENVIRON_WRITES
            ):
                found.append(node.lineno)
    return sorted(found)


def test_the_engine_checks_catch_what_they_are_for():
    assert docker_argvs('proc.run(["docker", "rmi", ref], timeout=1)\nx = ("docker", "ps")') == [1, 2]
    assert docker_argvs('argv("rmi", ref)\nlabel = ["docker.io", "x"]\nentry["Endpoints"]["docker"]') == []
    writes = 'os.environ["A"] = "1"\nos.environ.update(b)\ndel os.environ["C"]\nos.putenv("D", "")\nos.environ.pop("E")'
    assert environ_writes(writes) == [1, 2, 3, 4, 5]
    assert environ_writes('x = os.environ.get("A")\nenv = {**os.environ, "A": "1"}\nenv["B"] = "2"') == []


def test_no_docker_argv_is_built_outside_the_one_builder():
    found = {name: docker_argvs(path.read_text(encoding="utf-8")) for name, path in MODULES.items() if name != BUILDER}
    assert {name: lines for name, lines in found.items() if lines} == {}
    assert docker_argvs(MODULES[BUILDER].read_text(encoding="utf-8")) == []  # even there: one constant, DOCKER


def test_the_harness_never_writes_os_environ():
    found = {name: environ_writes(path.read_text(encoding="utf-8")) for name, path in MODULES.items()}
    assert {name: lines for name, lines in found.items() if lines} == {}


# --- the validation is the proof, not the product: a run never loads it


def test_the_run_path_imports_no_validation_module():
    for start in ("harness.run", "harness.phases", "harness.outcome"):
        assert not {m for m in reachable(start) if m.startswith("harness.validation")}, start


def test_python_m_harness_run_does_not_import_the_validation_package(tmp_path):
    (tmp_path / "pyproject.toml").write_text("[tool.harness]\n")
    (tmp_path / "addons").mkdir()
    env = {**os.environ, "HARNESS_ROOT": str(tmp_path), "PYTHONPATH": str(ROOT)}
    result = subprocess.run(
        [sys.executable, "-X", "importtime", "-m", "harness", "run", "no_such_module"],
        cwd=tmp_path, env=env, capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert result.returncode == 2, result.stderr[-2000:]  # the module does not exist: stopped in preflight
    imported = {
        line.rsplit("|", 1)[1].strip() for line in result.stderr.splitlines() if line.startswith("import time:")
    }
    assert "harness.cli" in imported and "harness.run" in imported  # the check sees the run's imports
    assert not {m for m in imported if m.startswith("harness.validation")}
    # ... and the validate command does load it, so the check above can fail.
    listing = subprocess.run(
        [sys.executable, "-X", "importtime", "-m", "harness", "validate", "--help"],
        cwd=tmp_path, env=env, capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert "harness.validation.demonstrations" in listing.stderr


def test_the_public_api_is_small_lazy_and_used_by_the_noxfile_and_tools():
    import harness

    assert sorted(harness.__all__) == ["Config", "ExitCode", "RunResult", "load_config", "run_module"]
    from harness.run import run_module

    assert harness.run_module is run_module
    code = "import sys, harness; harness.Config; print('harness.run' in sys.modules, 'docker' in sys.modules)"
    result = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert result.stdout.split() == ["False", "False"]  # a name is loaded when asked for, not before
    for user in ("noxfile.py", "tools/bench.py"):
        assert "from harness import " in (ROOT / user).read_text(encoding="utf-8"), user


def test_each_module_says_its_one_job_in_its_first_line():
    first_lines = {
        name: (ast.get_docstring(ast.parse(path.read_text(encoding="utf-8"))) or "") for name, path in MODULES.items()
    }
    missing = sorted(name for name, doc in first_lines.items() if not doc.strip())
    assert missing == []
    assert sorted(name for name, doc in first_lines.items() if not doc.splitlines()[0].rstrip().endswith(".")) == []
