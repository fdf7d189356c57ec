"""Which of a module's tests a run runs: `--tests SPEC` and `--failed` turned into Odoo's `--test-tags`.

Odoo 18 selects tests with `[-][tag][/module][:class][.method]` fragments, comma-separated
(odoo/tests/tag_selector.py). A user names tests the way the log names them, so SPEC accepts:

- `TestItem`, `TestItem.test_boom` (a word starting with a capital letter is a class),
- `:TestItem`, `.test_boom`, `post_install`, `-slow` (Odoo's own fragment without the module),
- a whole fragment such as `post_install/m:TestItem.test_boom` (its module must be the one run),

several with commas. Every fragment is scoped to the module, so no other module's tests run.
The module's test files are read (never imported) to check the names before Docker is touched.
"""

from __future__ import annotations

import ast
import dataclasses
import json
import re
from pathlib import Path

from harness.errors import UsageError
from harness.odoo_cases import case_ref

# Odoo 18's own grammar (tag_selector.TagsSelector.filter_spec_re).
_FRAGMENT = re.compile(
    r"""^(?P<sign>[+-]?)(?P<tag>\*|\w*)(?:/(?P<module>[\w/]*(?:\.py)?))?(?::(?P<klass>\w*))?"""
    r"""(?:\.(?P<method>\w*))?(?:\[(?P<params>.*)\])?$"""
)
# A class name as the log shows it: the first word of `TestItem.test_boom`.
_CLASS_FIRST = re.compile(r"^[A-Z]\w*(\.\w+)?$")
# Tags every Odoo test carries or may carry without a @tagged in the module (BaseCase.test_tags).
_BUILTIN_TAGS = frozenset({"standard", "at_install", "post_install", "*"})
# Class-level hooks: a failure there is the whole class's, so --failed reruns the class.
_CLASS_HOOKS = frozenset({"setUpClass", "tearDownClass", "setUpModule", "tearDownModule"})


@dataclasses.dataclass(frozen=True)
class Inventory:
    """A module's test classes as its tests folder defines them: class -> test methods, and its tags."""

    classes: dict[str, tuple[str, ...]]
    tags: frozenset[str]

    def describe(self) -> str:
        """`TestItem (test_a, test_boom), TestOther (test_x)`, or a sentence when there is none."""
        if not self.classes:
            return "none found in its tests folder"
        return ", ".join(
            f"{name} ({', '.join(methods) or 'no test_* method'})" for name, methods in self.classes.items()
        )


@dataclasses.dataclass(frozen=True)
class Selection:
    """A user's selection for one module: what they wrote and the `--test-tags` value it becomes."""

    spec: str
    test_tags: str
    classes: str = ""  # the module's test classes in words (Inventory.describe), for messages

    def describe(self) -> str:
        """`TestItem.test_boom (--test-tags /m:TestItem.test_boom)`."""
        return f"{self.spec} (--test-tags {self.test_tags})"


def inventory(module_dir: Path) -> Inventory:
    """Read `module_dir/tests/**/*.py` with ast: classes with test methods (inherited ones too) and tags."""
    defined: dict[str, tuple[list[str], list[str]]] = {}  # class -> (own test methods, base names)
    tags: set[str] = set()
    for path in sorted((module_dir / "tests").rglob("*.py")):
        try:
            tree = ast.parse(path.read_text(encoding="utf-8", errors="replace"), filename=str(path))
        except SyntaxError:
            continue  # Odoo will say so when it imports the file; the selection is not the place
        for node in ast.walk(tree):
            if not isinstance(node, ast.ClassDef):
                continue
            methods = [
                item.name
                for item in node.body
                if isinstance(item, (ast.FunctionDef, ast.AsyncFunctionDef)) and item.name.startswith("test")
            ]
            bases = [_base_name(base) for base in node.bases]
            defined[node.name] = (methods, [b for b in bases if b])
            tags.update(_decorator_tags(node))
    classes = {name: _all_methods(name, defined) for name in defined}
    return Inventory({name: methods for name, methods in classes.items() if methods}, frozenset(tags))


def _base_name(node: ast.expr) -> str:
    if isinstance(node, ast.Name):
        return node.id
    if isinstance(node, ast.Attribute):
        return node.attr
    return ""


def _decorator_tags(node: ast.ClassDef) -> set[str]:
    """The tags of `@tagged("a", "-b")` (signs dropped): names a selection may use."""
    found: set[str] = set()
    for decorator in node.decorator_list:
        if isinstance(decorator, ast.Call) and _base_name(decorator.func) == "tagged":
            for arg in decorator.args:
                if isinstance(arg, ast.Constant) and isinstance(arg.value, str):
                    found.add(arg.value.lstrip("+-"))
    return found


def _all_methods(
    name: str, defined: dict[str, tuple[list[str], list[str]]], seen: frozenset[str] = frozenset()
) -> tuple[str, ...]:
    """A class's test methods, its bases' within the module included (a mixin of tests)."""
    own, bases = defined[name]
    methods = list(own)
    for base in bases:
        if base in defined and base not in seen and base != name:
            methods += [m for m in _all_methods(base, defined, seen | {name}) if m not in methods]
    return tuple(methods)


def parse(spec: str, module: str) -> str:
    """The `--test-tags` value that runs SPEC's tests of `module` only (UsageError for what Odoo cannot read)."""
    items = [item.strip() for item in spec.split(",") if item.strip()]
    if not items:
        raise UsageError("--tests needs at least one test: a class, Class.method, a tag or a --test-tags fragment")
    fragments = [_fragment(item, module) for item in items]
    if all(fragment.startswith("-") for fragment in fragments):
        # Exclusions alone make Odoo include every module's standard tests: keep to the module.
        fragments.insert(0, f"/{module}")
    return ",".join(fragments)


def _fragment(item: str, module: str) -> str:
    text = ":" + item if _CLASS_FIRST.match(item) else item
    match = _FRAGMENT.match(text)
    if match is None:
        raise UsageError(
            f"--tests item {item!r} is not a test selection: use Class, Class.method, :Class, .method, a tag, "
            "or Odoo's [-][tag][/module][:class][.method]"
        )
    named = match["module"]
    if named and named != module:
        raise UsageError(f"--tests item {item!r} names module {named!r}, but this run tests {module!r}")
    out = f"{match['sign'] if match['sign'] == '-' else ''}{match['tag']}/{module}"
    if match["klass"]:
        out += f":{match['klass']}"
    if match["method"]:
        out += f".{match['method']}"
    if match["params"]:
        out += f"[{match['params']}]"
    return out


def check(selection: Selection, module: str, found: Inventory) -> None:
    """UsageError naming the selection and the module's test classes when no fragment can match a test."""
    includes = [f for f in selection.test_tags.split(",") if not f.startswith("-")]
    if any(_may_match(fragment, module, found) for fragment in includes):
        return
    raise UsageError(no_match_message(selection, module, found))


def no_match_message(selection: Selection, module: str, found: Inventory) -> str:
    """What the user reads when a selection matches no test of the module."""
    return f"the selection {selection.describe()} matches no test of {module}; its test classes: {found.describe()}"


def ran_nothing_reason(selection: Selection, module: str) -> str:
    """The verdict's reason when Odoo ran none of a selection's tests (a match the files did not show)."""
    return f"the selection {selection.describe()} ran no test of {module}; its test classes: {selection.classes}"


def _may_match(fragment: str, module: str, found: Inventory) -> bool:
    match = _FRAGMENT.match(fragment)
    if match is None:  # parse() built it; a defensive no
        return False
    tag, klass, method = match["tag"], match["klass"], match["method"]
    if tag and tag not in _BUILTIN_TAGS | found.tags | {module}:
        return False
    if klass and klass not in found.classes:
        return False
    if method:
        candidates = [found.classes[klass]] if klass else list(found.classes.values())
        return any(method in methods for methods in candidates)
    return bool(found.classes)


def select(spec: str, module: str, module_dir: Path) -> Selection:
    """Parse SPEC for `module` and check it against the module's tests folder (UsageError if it cannot match)."""
    found = inventory(module_dir)
    selection = Selection(spec, parse(spec, module), found.describe())
    check(selection, module, found)
    return selection


# --- --failed: the previous run's failures ----------------------------------------------------------


def last_result(artefacts_dir: Path, module: str) -> tuple[Path, dict] | None:
    """The newest result.json of a run of `module` that reached a verdict (exit 0 or 1), or None.

    A run stopped before its tests (a usage error, no free port...) ran nothing, so it is skipped.
    """
    newest: tuple[str, Path, dict] | None = None
    for path in artefacts_dir.glob("*/result.json"):
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            continue
        if not isinstance(data, dict) or data.get("module") != module or data.get("exit_code") not in (0, 1):
            continue
        stamp = str(data.get("started_at") or "")
        if newest is None or stamp > newest[0]:
            newest = (stamp, path, data)
    return None if newest is None else (newest[1], newest[2])


def failed_spec(artefacts_dir: Path, module: str) -> str:
    """A SPEC naming exactly the tests that failed in `module`'s last run (UsageError when there are none)."""
    found = last_result(artefacts_dir, module)
    if found is None:
        raise UsageError(f"--failed: no previous run of {module} in {artefacts_dir} (no result.json names it)")
    path, data = found
    names: list[str] = []
    for test in data.get("failed_tests") or []:
        ref = case_ref("", str(test.get("name", "")))
        method = ref.method.partition(" ")[0]  # a subtest's parameters are not part of the method
        if not ref.class_name:
            continue
        name = ref.class_name if method in _CLASS_HOOKS else f"{ref.class_name}.{method}"
        if name not in names:
            names.append(name)
    if not names:
        what = "passed" if data.get("exit_code") == 0 else f"named no failing test ({data.get('message', '')})"
        raise UsageError(f"--failed: the last run of {module} ({path}) {what}: there is nothing to rerun")
    return ",".join(names)
