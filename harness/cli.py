"""Command line: `python -m harness run MODULE`, `reap`, `modules`, `validate`."""

from __future__ import annotations

import argparse
import json
import sys

from harness.config import Config, load_config
from harness.errors import ExitCode, HarnessError


def run_command(config: Config, module: str) -> int:
    """The guarded run, as both `nox -s tests(...)` and `python -m harness run` call it."""
    from harness.run import run_module

    return run_module(config, module).exit_code


def reap_command(config: Config, dry_run: bool) -> int:
    """Remove this prefix's projects whose owner is gone, and stale database cache entries (--dry-run: list)."""
    from harness import dbcache
    from harness.cleanup import sweep
    from harness.engine import connect

    entries = sweep(config, connect(config.command_timeout), dry_run=dry_run)
    if not entries:
        print(f"reap: no project starting with {config.project_prefix} on the engine")
    removed = dbcache.reap(config, log=lambda line: print(f"reap: {line}"), dry_run=dry_run)
    if not removed:
        print(f"reap: no stale database cache entry (entries live in {config.db_cache_dir})")
    return ExitCode.ENVIRONMENT if any(e.action == "failed" for e in entries) else ExitCode.PASSED


def modules_command(config: Config, as_json: bool) -> int:
    """List the repository's own installable modules (JSON for CI matrices); dependency folders are left out."""
    from harness.modules import discover_modules, module_dirs

    module_dirs(config.addons_path)  # a module in two folders is an error even when one is a dependency folder
    names = discover_modules(config.own_addons)
    print(json.dumps(names) if as_json else "\n".join(names))
    return ExitCode.PASSED


def validate_command(config: Config, names: list[str], phase: str) -> int:
    """Run validation demonstrations and write their proof under validation/."""
    from harness.validate import run_validations

    return run_validations(config, names, interrupt_phase=phase)


def build_parser() -> argparse.ArgumentParser:
    """The argument parser (also used by the README's usage section)."""
    parser = argparse.ArgumentParser(prog="python -m harness", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    run = sub.add_parser("run", help="run one module's tests in an isolated environment")
    run.add_argument("module")
    run.add_argument("--no-db-cache", action="store_true", help="start from a new database, as HARNESS_DB_CACHE=0 does")
    from harness.developer import add_run_options

    add_run_options(run)
    reap = sub.add_parser("reap", help="remove environments whose run died")
    reap.add_argument("--dry-run", action="store_true", help="only list what would be removed")
    mods = sub.add_parser("modules", help="list the repository's own modules (not those of dependency_addons)")
    mods.add_argument("--json", action="store_true")
    from harness.validate import DEMONSTRATIONS, INTERRUPT_PHASES

    val = sub.add_parser("validate", help="run validation demonstrations (all of them when none is named)")
    # No `choices=`: argparse rejects an empty list against choices; run_validations checks the names.
    val.add_argument("names", nargs="*", metavar="NAME", help="one of: " + ", ".join(DEMONSTRATIONS))
    val.add_argument("--phase", default="tests", choices=INTERRUPT_PHASES, help="where `interrupt` sends SIGINT")
    return parser


def main(argv: list[str] | None = None) -> int:
    """Parse, dispatch, and map every HarnessError to its documented exit code."""
    args = build_parser().parse_args(argv)
    try:
        config = load_config()
        if args.command == "run":
            if args.no_db_cache:
                config = config.with_overrides(db_cache=False)
            from harness.developer import apply_run_options

            config = apply_run_options(config, args)
            return run_command(config, args.module)
        if args.command == "reap":
            return reap_command(config, args.dry_run)
        if args.command == "modules":
            return modules_command(config, args.json)
        return validate_command(config, args.names, args.phase)
    except HarnessError as exc:
        print(f"error: {exc.message}", file=sys.stderr)
        return int(exc.exit_code)
    except KeyboardInterrupt:
        return int(ExitCode.SIGINT)
