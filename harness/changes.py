"""`--changed [REF]`: the modules a change touches, and every module of the repository that depends on them.

The rules (`select` is pure and unit-tested):
- a changed file inside a module's folder selects that module;
- every module of the repository that depends on a selected module, directly or through others
  (manifests' `depends`), is selected too; a module folder that is gone (deleted, renamed) still
  selects the modules that depend on its name;
- a changed file outside every module (the compose file, pyproject.toml, requirements files,
  the harness itself) may change any run: every module is selected.
Changes are counted from the merge base of REF and HEAD, working tree and untracked files
included, so uncommitted edits count too; renames count as both paths.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path, PurePosixPath

from harness import proc
from harness.config import Config
from harness.dependencies import user_manifests
from harness.errors import UsageError
from harness.modules import discover_modules

# Tried in order when no REF is given: the remote's default branch, then the usual names.
DEFAULT_REFS = ("origin/HEAD", "origin/main", "main")
# (module, why it was selected), sorted by module.
Selected = list[tuple[str, str]]


def owning_module(path: str, folders: Sequence[str]) -> str | None:
    """The module folder name `path` lies in (`addons/m/x.py` -> `m`), or None outside every module folder."""
    parts = PurePosixPath(path).parts
    for folder in folders:
        prefix = PurePosixPath(folder).parts
        if len(parts) > len(prefix) + 1 and parts[: len(prefix)] == prefix:
            return parts[len(prefix)]
    return None


def select(changed: Sequence[str], folders: Sequence[str], depends: Mapping[str, Sequence[str]]) -> Selected:
    """(module, why) for every module of `depends` (the repository's modules) the change selects, sorted.

    `folders` are the repository's own addons folders, relative to the repository root, as the
    paths in `changed` are.
    """
    outside = [path for path in changed if owning_module(path, folders) is None]
    if outside:
        more = f" (and {len(outside) - 1} more)" if len(outside) > 1 else ""
        return [(name, f"a change outside any module: {outside[0]}{more}") for name in sorted(depends)]
    touched: dict[str, list[str]] = {}
    for path in changed:
        touched.setdefault(owning_module(path, folders) or "", []).append(path)
    why: dict[str, str] = {}
    for name, paths in touched.items():
        if name in depends:
            more = f" (and {len(paths) - 1} more)" if len(paths) > 1 else ""
            why[name] = f"changed: {paths[0]}{more}"
    # Breadth first from every touched name (gone ones too): the shortest chain is the one said.
    dependents: dict[str, list[str]] = {}
    for name, needs in depends.items():
        for needed in needs:
            dependents.setdefault(needed, []).append(name)
    frontier = sorted(touched)
    chain: dict[str, list[str]] = {name: [name] for name in frontier}
    while frontier:
        following: list[str] = []
        for needed in frontier:
            for name in sorted(dependents.get(needed, [])):
                if name in chain:
                    continue
                chain[name] = [name, *chain[needed]]
                following.append(name)
                path = chain[needed]
                gone = path[-1] not in depends
                how = needed if len(path) == 1 else f"{needed}, which depends on {' -> '.join(path[1:])}"
                why[name] = f"depends on {how} ({'gone' if gone else 'changed'})"
        frontier = following
    return sorted(why.items())


def default_ref(root: Path, timeout: float) -> str:
    """The first of DEFAULT_REFS that exists in the repository."""
    for ref in DEFAULT_REFS:
        if _git(root, ["rev-parse", "--verify", "--quiet", f"{ref}^{{commit}}"], timeout).ok:
            return ref
    raise UsageError(f"--changed without REF: none of {', '.join(DEFAULT_REFS)} exists here; pass --changed REF")


def changed_files(root: Path, ref: str, timeout: float) -> tuple[str, list[str]]:
    """(merge base, changed paths relative to the repository's top) since the merge base of `ref` and HEAD."""
    base = _git(root, ["merge-base", ref, "HEAD"], timeout)
    if not base.ok:
        raise UsageError(f"--changed {ref}: no merge base with HEAD ({base.output.strip()[-200:]})")
    commit = base.stdout.strip()
    diff = _git(root, ["diff", "--name-only", "--no-renames", commit, "--"], timeout)
    untracked = _git(root, ["ls-files", "--others", "--exclude-standard", "--full-name"], timeout)
    if not diff.ok or not untracked.ok:
        raise UsageError(f"git could not list the changes since {commit}: {(diff.output or untracked.output)[-200:]}")
    paths = [*diff.stdout.splitlines(), *untracked.stdout.splitlines()]
    return commit, sorted({path.strip() for path in paths if path.strip()})


def select_changed(config: Config, ref: str | None) -> tuple[str, Selected]:
    """(what was compared against, the selection) for `--changed [REF]` in this repository."""
    timeout = config.command_timeout
    top = _git(config.root, ["rev-parse", "--show-toplevel"], timeout)
    if not top.ok:
        raise UsageError(f"--changed needs a git repository: {config.root} is not in one")
    top_dir = Path(top.stdout.strip())
    ref = ref or default_ref(config.root, timeout)
    commit, paths = changed_files(config.root, ref, timeout)
    folders = [_relative(folder, top_dir) for folder in config.own_addons]
    installable = set(discover_modules(config.own_addons))
    manifests = user_manifests(config.own_addons)
    depends = {name: addon.depends for name, addon in manifests.items() if name in installable}
    return f"{ref} (merge base {commit[:12]})", select(paths, folders, depends)


def _relative(folder: Path, top: Path) -> str:
    try:
        return folder.resolve().relative_to(top.resolve()).as_posix()
    except ValueError:
        raise UsageError(f"addons folder {folder} is outside the git repository {top}") from None


def _git(root: Path, args: list[str], timeout: float) -> proc.Result:
    return proc.run(["git", "-C", str(root), *args], timeout=timeout)
