"""Helpers shared by the tests of the Odoo log reader, the verdict and the JUnit report."""

from __future__ import annotations

from pathlib import Path

from harness.odoo_log import LogAnalysis, analyse_log

LOGS = Path(__file__).resolve().parent.parent / "fixtures" / "odoo_logs"
# The real logs' test database was renamed `odoo` (see the fixtures' README); so were the synthetic ones'.
DB = "odoo"


def analyse(name: str, module: str, database: str = DB) -> LogAnalysis:
    """The analysis of fixture log `name` for `module`, whose test database is `database`."""
    with (LOGS / f"{name}.log").open(encoding="utf-8") as log:
        return analyse_log(log, module, database)


def line(level: str, logger: str, message: str, db: str = DB) -> str:
    """One line in Odoo's format, trailing space (empty perf field) included."""
    return f"2026-11-24 12:00:00,000 42 {level} {db} {logger}: {message} "
