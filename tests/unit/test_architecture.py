"""The house's rules, checked on the source: which module may import what (whole package, subfolders included)."""

from __future__ import annotations

import ast
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


def imports(name: str) -> set[str]:
    """Every module `name` imports, at its top or inside a function (absolute names)."""
    found: set[str] = set()
    for node in ast.walk(ast.parse(MODULES[name].read_text(encoding="utf-8"))):
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
