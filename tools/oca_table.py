"""The OCA comparison table: every addon of tests/oca_wheels.py under plain Odoo and through the harness.

    python -m tools.oca_table [--modules a,b] [--out artefacts/oca-table]

For each pinned addon, one at a time (never two real-Odoo runs at once):
  1. plain Odoo the way OCA's CI runs one addon: the same image, `-i NAME --test-tags /NAME
     --stop-after-init` on a fresh database, odoo-test-helper importable;
  2. the harness through `nox -s "tests(module='NAME')"`, with a test-requirements.txt naming
     odoo-test-helper (so the requirements image is built by the first run and reused after).
Then the first addon once more through the harness, to show the reused requirements image.
It writes table.md (module, version, exits, counts, seconds) and one log per run under --out.
Needs the real images (ODOO_IMAGE / POSTGRES_IMAGE, default the project's own).
"""

from __future__ import annotations

import argparse
import contextlib
import os
import re
import secrets
import sys
import time
from collections.abc import Iterator
from pathlib import Path

from harness import proc
from tests import oca_wheels

ROOT = Path(__file__).resolve().parent.parent
TIMEOUT = 1800.0
_TESTS_LINE = re.compile(r"\[harness\] tests\s+(\d+) tests?, (\d+) failures?, (\d+) errors?")
_REQ_LINE = re.compile(r"^.*requirements image hub-harness-req:.*$", re.M)
_PHASES_LINE = re.compile(r"^\[harness\] phases .*$", re.M)


@contextlib.contextmanager
def plain_database(postgres: str) -> Iterator[tuple[list[str], str, str]]:
    """A network and a ready PostgreSQL server of their own: (label arguments, network, db host); removed after."""
    name = f"hub-oca-plain-{secrets.token_hex(4)}"
    label = ["--label", f"com.docker.compose.project={name}"]
    db = f"{name}-db"
    proc.run(["docker", "network", "create", *label, name], timeout=60)
    try:
        env = ["-e", "POSTGRES_USER=odoo", "-e", "POSTGRES_PASSWORD=odoo", "-e", "POSTGRES_DB=postgres"]
        started = proc.run(
            ["docker", "run", "-d", *label, "--name", db, "--network", name, *env, postgres], timeout=120
        )
        if not started.ok:
            raise RuntimeError(started.output)
        ready = ["docker", "exec", db, "pg_isready", "-U", "odoo", "-d", "postgres", "-h", "127.0.0.1"]
        deadline = time.monotonic() + 300
        while not proc.run(ready, timeout=30).ok:
            if time.monotonic() > deadline:
                raise RuntimeError("PostgreSQL never became ready")
            time.sleep(0.5)
        yield label, name, db
    finally:
        proc.run(["docker", "rm", "-f", "-v", db], timeout=120)
        proc.run(["docker", "network", "rm", name], timeout=60)


def _plain(
    module: str, image: str, postgres: str, addons: Path, helper: Path, log: Path
) -> tuple[int, tuple | None, float]:
    """Plain Odoo, OCA-style, on a database server of its own: (exit, (failed, errors, tests), seconds)."""
    with plain_database(postgres) as (label, network, db):
        argv = oca_wheels.plain_odoo_argv(
            module, image=image, network=network, db_host=db, addons=addons, python_path=helper,
            database=f"oca_{module}",
        )  # fmt: skip
        begun = time.monotonic()
        result = proc.run([argv[0], argv[1], *label, *argv[2:]], timeout=TIMEOUT)
        seconds = time.monotonic() - begun
        log.write_text(result.output, encoding="utf-8")
        return result.returncode, oca_wheels.odoo_counts(result.output), seconds


def _harness(module: str, env: dict[str, str], log: Path) -> tuple[int, tuple | None, float, str]:
    """`nox -s "tests(module=...)"` from the repository root: (exit, (failures, errors, tests), seconds, req line)."""
    nox = os.environ.get("NOX") or str(Path(sys.executable).with_name("nox"))
    begun = time.monotonic()
    result = proc.run([nox, "-s", f"tests(module='{module}')"], timeout=TIMEOUT, cwd=ROOT, env=env)
    seconds = time.monotonic() - begun
    log.write_text(result.output, encoding="utf-8")
    found = _TESTS_LINE.findall(result.output)
    # As plain Odoo's are ordered: (failed, errors, tests).
    counts = (int(found[-1][1]), int(found[-1][2]), int(found[-1][0])) if found else None
    req = _REQ_LINE.findall(result.output)
    phases = _PHASES_LINE.findall(result.output)
    line = (req[-1].strip() if req else "") + (" / " + phases[-1].strip() if phases else "")
    return result.returncode, counts, seconds, line


def main(argv: list[str] | None = None) -> int:
    """Run the comparison and write table.md; exit 1 when plain Odoo and the harness disagree anywhere."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--modules", default=",".join(oca_wheels.PINNED))
    parser.add_argument("--out", type=Path, default=ROOT / "artefacts" / "oca-table")
    parser.add_argument("--no-plain", action="store_true", help="only the harness runs")
    args = parser.parse_args(argv)
    modules = [m for m in args.modules.split(",") if m]
    out: Path = args.out.resolve()
    out.mkdir(parents=True, exist_ok=True)
    image = os.environ.get("ODOO_IMAGE", "hub-harness/odoo:18.0")
    postgres = os.environ.get("POSTGRES_IMAGE", "hub-harness/postgres:15")
    addons = oca_wheels.addons_folder(modules, out / "addons")
    helper = oca_wheels.test_helper_folder()
    requirements = out / "test-requirements.txt"
    requirements.write_text(f"# as OCA's repositories name it\n{oca_wheels.TEST_HELPER}\n", encoding="utf-8")
    env = {
        **os.environ,
        "ODOO_IMAGE": image,
        "POSTGRES_IMAGE": postgres,
        "HARNESS_ADDONS_PATH": str(addons),
        "HARNESS_REQUIREMENTS": str(requirements),
        "HARNESS_READY_TIMEOUT": "900",
    }
    rows = ["| module | version | helper | plain exit | plain tests (failed/errors/tests) | plain s "
            "| harness exit | harness tests (failures/errors/tests) | harness s | agree |",
            "|---|---|---|---|---|---|---|---|---|---|"]  # fmt: skip
    table = out / "table.md"
    disagree = 0
    for module in modules:
        pin = oca_wheels.PINNED[module]
        if args.no_plain:
            p_exit, p_counts, p_s = -1, None, 0.0
        else:
            p_exit, p_counts, p_s = _plain(module, image, postgres, addons, helper, out / f"{module}.plain.log")
        h_exit, h_counts, h_s, req = _harness(module, env, out / f"{module}.harness.log")
        agree = (p_exit == 0) == (h_exit == 0) and p_counts == h_counts
        disagree += not agree
        rows.append(
            f"| {module} | {pin.version} | {'yes' if pin.test_helper else 'no'} | {p_exit} | {p_counts} | {p_s:.0f} "
            f"| {h_exit} | {h_counts} | {h_s:.0f} | {'yes' if agree else 'NO'} |"
        )
        rows.append(f"<!-- {module} requirements: {req} -->")
        table.write_text("\n".join(rows) + "\n", encoding="utf-8")
        print(rows[-2], flush=True)
    # The same first addon again: the requirements image is reused (the line says how long it took).
    h_exit, h_counts, h_s, req = _harness(modules[0], env, out / f"{modules[0]}.harness-repeat.log")
    rows.append(f"\nrepeat {modules[0]}: exit {h_exit}, {h_counts}, {h_s:.0f} s; {req}")
    table.write_text("\n".join(rows) + "\n", encoding="utf-8")
    print(rows[-1], flush=True)
    return 1 if disagree else 0


if __name__ == "__main__":
    raise SystemExit(main())
