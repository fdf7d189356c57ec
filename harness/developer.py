"""The run options a module developer reaches for: their flags, and how they become configuration.

`--tests`, `--failed`, `--keep-db-on-failure`, `--browser`, `--coverage`, `--fail-under` of
`python3 -m harness run` (and of `nox -s "tests(module='m')" -- ...`).
"""

from __future__ import annotations

import argparse

from harness.config import Config
from harness.errors import UsageError
from harness.selection import failed_spec


def add_run_options(parser: argparse.ArgumentParser) -> None:
    """The developer flags of `run`."""
    chosen = parser.add_mutually_exclusive_group()
    chosen.add_argument(
        "--tests",
        metavar="SPEC",
        help="only these tests: Class, Class.method, a tag or an Odoo --test-tags fragment, comma-separated",
    )
    chosen.add_argument("--failed", action="store_true", help="rerun exactly the failures of the module's last run")
    parser.add_argument(
        "--keep-db-on-failure",
        action="store_true",
        help="on a failing verdict, save the test database (pg_dump -Fc) and its filestore into the artefacts",
    )
    parser.add_argument("--browser", action="store_true", help="run with a headless Chromium: HttpCase tours run")
    parser.add_argument("--coverage", action="store_true", help="measure the module's coverage (coverage.py, branch)")
    parser.add_argument("--fail-under", type=float, metavar="N", help="with --coverage: fail below N percent")


def apply_run_options(config: Config, args: argparse.Namespace) -> Config:
    """The configuration a run with these flags uses (flags win over [tool.harness] and HARNESS_*)."""
    changes: dict[str, object] = {}
    if args.tests is not None:
        changes["tests"] = args.tests
    if args.failed:
        changes["tests"] = failed_spec(config.artefacts_dir, args.module)
    if args.keep_db_on_failure:
        changes["keep_db_on_failure"] = True
    if args.browser:
        changes["browser"] = True
    if args.coverage:
        changes["coverage"] = True
        if getattr(args, "changed", None) is not None:
            from harness.changes import default_ref

            changes["coverage_changed"] = args.changed or default_ref(config.root, config.command_timeout)
    if args.fail_under is not None:
        if not 0 <= args.fail_under <= 100:
            raise UsageError(f"--fail-under {args.fail_under:g}: give a percentage between 0 and 100")
        changes["fail_under"] = args.fail_under
        changes["coverage"] = True
    return config.with_overrides(**changes) if changes else config
