"""Command line: `python3 -m harness run MODULE [MODULE...]`, `reap`, `modules`, `validate`."""

from __future__ import annotations

import argparse
import json
import sys

from harness.config import Config, load_config
from harness.errors import ExitCode, HarnessError, UsageError


def run_command(config: Config, module: str) -> int:
    """The guarded run, as both `nox -s tests(...)` and `python3 -m harness run` call it."""
    from harness.run import run_module

    return run_module(config, module).exit_code


def run_many_command(config: Config, args: argparse.Namespace) -> int:
    """`run` with several modules, --all or --changed: harness.batch runs them (grouped or isolated)."""
    from harness import batch, changes

    single_only = [
        flag
        for flag, on in (
            ("--tests", args.tests is not None),
            ("--failed", args.failed),
            ("--keep-db-on-failure", args.keep_db_on_failure),
            ("--browser", args.browser),
            ("--coverage", args.coverage),
        )
        if on
    ]
    if single_only:
        raise UsageError(f"{', '.join(single_only)}: only for a run of one module (`run MODULE ...`)")
    if args.changed is not None:
        against, selected = changes.select_changed(config, args.changed or None)
        print(f"[harness] --changed: compared with {against}; {len(selected)} module(s) selected")
        if not selected:
            print("[harness] no module is touched by the change: nothing to test")
            return ExitCode.PASSED
    elif args.all:
        from harness.modules import discover_modules

        selected = [(name, "--all") for name in discover_modules(config.own_addons)]
    else:
        selected = [(name, "named on the command line") for name in dict.fromkeys(args.modules)]
    return batch.run_batch(config, selected, mode=args.mode, jobs=args.jobs)


def run_group_command(config: Config, modules: list[str]) -> int:
    """The child `run a b c` starts for modules sharing an environment (harness/group.py)."""
    from harness.batch import combined_exit_code
    from harness.group import run_group

    return combined_exit_code(result.exit_code for result in run_group(config, modules))


def reap_command(config: Config, dry_run: bool) -> int:
    """Remove this prefix's projects whose owner is gone, stale database cache entries, stale requirements images.

    --dry-run only lists them. Only the user's own entries and images are looked at.
    """
    from harness import dbcache
    from harness.cleanup import sweep
    from harness.engine import connect

    entries = sweep(config, connect(config.command_timeout), dry_run=dry_run)
    if not entries:
        print(f"reap: no project starting with {config.project_prefix} on the engine")
    removed = dbcache.reap(config, log=lambda line: print(f"reap: {line}"), dry_run=dry_run)
    if not removed:
        print(f"reap: no stale database cache entry (entries live in {config.db_cache_dir})")
    from harness import requirements

    if not requirements.reap(config, log=lambda line: print(f"reap: {line}"), dry_run=dry_run):
        print(f"reap: no stale requirements image (keeping your {config.requirements_keep} most recently used)")
    return ExitCode.ENVIRONMENT if any(e.action == "failed" for e in entries) else ExitCode.PASSED


def modules_command(config: Config, as_json: bool, changed: str | None = None) -> int:
    """List the repository's own installable modules (JSON for CI matrices); dependency folders are left out.

    With `changed` only those a change touches (harness/changes.py); why each was chosen goes to stderr.
    """
    from harness.modules import discover_modules, module_dirs

    module_dirs(config.addons_path)  # a module in two folders is an error even when one is a dependency folder
    names = discover_modules(config.own_addons)
    if changed is not None:
        from harness.changes import select_changed

        against, selected = select_changed(config, changed or None)
        print(f"--changed: compared with {against}; {len(selected)} of {len(names)} module(s)", file=sys.stderr)
        for name, why in selected:
            print(f"selected {name}: {why}", file=sys.stderr)
        names = [name for name, _ in selected]
    print(json.dumps(names) if as_json else "\n".join(names))
    return ExitCode.PASSED


def validate_command(config: Config, names: list[str], phase: str) -> int:
    """Run validation demonstrations and write their proof under validation/."""
    from harness.validation.demonstrations import run_validations

    return run_validations(config, names, interrupt_phase=phase)


def build_parser(argv: list[str] | None = None) -> argparse.ArgumentParser:
    """The argument parser (also used by the README's usage section).

    The `validate` command's names and phases come from harness.validation, which is imported
    only when `argv` is a `validate` command (or is not given): `run` never loads it.
    """
    parser = argparse.ArgumentParser(prog="python3 -m harness", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    run = sub.add_parser("run", help="run modules' tests, each module's verdict as in its own environment")
    run.add_argument("modules", nargs="*", metavar="MODULE", help="one module: a single run; several: see --mode")
    run.add_argument("--all", action="store_true", help="every module of the repository's own addons folders")
    run.add_argument(
        "--changed",
        nargs="?",
        const="",
        metavar="REF",
        help="the modules changed since the merge base of REF (default: origin/HEAD, origin/main, main) "
        "and HEAD, and every module that depends on them",
    )
    run.add_argument("-j", "--jobs", type=int, help="environments at once (default: cores, memory and ports allow)")
    run.add_argument(
        "--mode",
        choices=("grouped", "isolated"),
        default="grouped",
        help="several modules: grouped (modules with the same dependencies share an environment, each in its "
        "own copy of the database; default) or isolated (an environment per module)",
    )
    run.add_argument("--no-db-cache", action="store_true", help="start from a new database, as HARNESS_DB_CACHE=0 does")
    from harness.developer import add_run_options

    add_run_options(run)
    group = sub.add_parser("run-group", help="internal: what `run` starts for modules sharing an environment")
    group.add_argument("modules", nargs="+", metavar="MODULE")
    reap = sub.add_parser("reap", help="remove environments whose run died")
    reap.add_argument("--dry-run", action="store_true", help="only list what would be removed")
    mods = sub.add_parser("modules", help="list the repository's own modules (not those of dependency_addons)")
    mods.add_argument("--json", action="store_true")
    mods.add_argument("--changed", nargs="?", const="", metavar="REF", help="only the modules a change touches")
    val = sub.add_parser("validate", help="run validation demonstrations (all of them when none is named)")
    if argv is None or argv[:1] == ["validate"]:
        try:
            from harness.validation.demonstrations import DEMONSTRATIONS, INTERRUPT_PHASES
        except ModuleNotFoundError:  # a bare Python without docker/psutil: --help must still work
            DEMONSTRATIONS, INTERRUPT_PHASES = {}, ("up", "readiness", "tests")

        # No `choices=`: argparse rejects an empty list against choices; run_validations checks the names.
        val.add_argument("names", nargs="*", metavar="NAME", help="one of: " + ", ".join(DEMONSTRATIONS))
        val.add_argument("--phase", default="tests", choices=INTERRUPT_PHASES, help="where `interrupt` sends SIGINT")
    return parser


def main(argv: list[str] | None = None) -> int:
    """Parse, dispatch, and map every HarnessError to its documented exit code."""
    argv = sys.argv[1:] if argv is None else argv
    args = build_parser(argv).parse_args(argv)
    try:
        config = load_config()
        if args.command == "run":
            if args.no_db_cache:
                config = config.with_overrides(db_cache=False)
            # One module with --coverage --changed REF: REF is what its diff coverage compares with.
            diff_ref = len(args.modules) == 1 and args.coverage and args.changed is not None
            many = (
                args.all
                or (args.changed is not None and not diff_ref)
                or len(args.modules) != 1
                or args.jobs is not None
            )
            if args.modules and (args.all or (args.changed is not None and not diff_ref)):
                raise UsageError("name modules, or use --all or --changed, not both")
            if not many:
                from harness.developer import apply_run_options

                args.module = args.modules[0]
                return run_command(apply_run_options(config, args), args.module)
            if not (args.modules or args.all or args.changed is not None):
                raise UsageError("run needs a MODULE, several, --all or --changed")
            return run_many_command(config, args)
        if args.command == "run-group":
            return run_group_command(config, args.modules)
        if args.command == "reap":
            return reap_command(config, args.dry_run)
        if args.command == "modules":
            return modules_command(config, args.json, args.changed)
        return validate_command(config, args.names, args.phase)
    except HarnessError as exc:
        print(f"error: {exc.message}", file=sys.stderr)
        return int(exc.exit_code)
    except KeyboardInterrupt:
        return int(ExitCode.SIGINT)
    except ModuleNotFoundError as exc:
        print(
            f"error: the harness needs its Python dependencies ({exc.name} is missing for {sys.executable}): "
            "run it through nox (bash scripts/run-tests.sh MODULE sets nox up), or install them: "
            "python3 -m venv .venv && .venv/bin/pip install -e . && .venv/bin/python3 -m harness ...",
            file=sys.stderr,
        )
        return int(ExitCode.ENVIRONMENT)
