"""CI-native output under GitHub Actions (GITHUB_ACTIONS=true); nothing of it elsewhere.

- Odoo's output (and `compose up`'s) folds into `::group::` / `::endgroup::`.
- One `::error` annotation per failing test, on its file and line when the traceback shows
  them (container paths mapped back to the repository), or one for the run when it failed
  otherwise (usage, environment, a signal, a module that never ran its tests).
- A table per module appended to the job summary ($GITHUB_STEP_SUMMARY).

Workflow commands go to the console only, never into the proof logs.
https://docs.github.com/actions/reference/workflow-commands-for-github-actions
"""

from __future__ import annotations

import os
import secrets
from collections.abc import Callable, Mapping
from pathlib import Path

from harness.errors import ExitCode
from harness.result import RunResult


def enabled(env: Mapping[str, str] | None = None) -> bool:
    """True inside a GitHub Actions job."""
    return (os.environ if env is None else env).get("GITHUB_ACTIONS") == "true"


def repository(default: Path, env: Mapping[str, str] | None = None) -> Path:
    """The checkout that annotation paths are relative to: GITHUB_WORKSPACE, else `default`."""
    workspace = (os.environ if env is None else env).get("GITHUB_WORKSPACE")
    return Path(workspace) if workspace else default


def _data(text: str) -> str:
    return text.replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A")


def _property(text: str) -> str:
    return _data(text).replace(":", "%3A").replace(",", "%2C")


def group(title: str) -> str:
    """The command that opens a folded group."""
    return f"::group::{_data(title)}"


END_GROUP = "::endgroup::"


def stop_commands() -> tuple[str, str]:
    """The pair of lines that turn workflow commands off and on again, with a token made for this call.

    Between them the runner reads no `::command::`: Odoo's output (a test may print `::error ...`
    or `::stop-commands::`) can neither fake an annotation nor silence the harness's own, and it
    cannot guess the token that would end the pause early.
    """
    token = secrets.token_hex(16)
    return f"::stop-commands::{token}", f"::{token}::"


def error(message: str, *, title: str, file: str | None = None, line: int | None = None) -> str:
    """One `::error` annotation."""
    props = [f"file={_property(file)}"] if file else []
    props += [f"line={line}"] if file and line else []
    props.append(f"title={_property(title)}")
    return f"::error {','.join(props)}::{_data(message)}"


def warning(message: str, *, title: str) -> str:
    """One `::warning` annotation (shown, but it fails nothing)."""
    return f"::warning title={_property(title)}::{_data(message)}"


def annotations(result: RunResult) -> list[str]:
    """One per failing test; one for the run when no failing test explains its failure.

    A module without tests (exit 5) gets a warning: the job does not fail for it.
    """
    if result.passed:
        return []
    if result.exit_code == ExitCode.NO_TESTS:
        return [warning(result.message, title=f"{result.module}: {result.headline}")]
    found = [
        error(f"{test.message}", title=f"{result.module}: {test.kind} in {test.name}", file=test.file, line=test.line)
        for test in result.failed_tests
    ]
    if found and result.exit_code == 1:
        return found
    return [*found, error(result.message or result.headline, title=f"{result.module}: {result.headline}")]


_ICONS = {ExitCode.PASSED: "✅", ExitCode.NO_TESTS: "⚠️"}


def summary_markdown(result: RunResult) -> str:
    """The module's job-summary section: a heading, one table row, its failing tests."""
    counts = result.counts
    cells = [
        f"`{result.module}`",
        f"{_ICONS.get(result.exit_code, '❌')} {result.headline}",
        str(result.exit_code),
        *([str(counts.tests), str(counts.failures), str(counts.errors), str(counts.skipped)] if counts else ["-"] * 4),
        f"{result.seconds:.1f} s",
        "clean" if result.cleanup is None or result.cleanup.clean else "**LEFT BEHIND**",
    ]
    out = [
        f"### {result.module}: {result.headline}",
        "",
        "| module | verdict | exit | tests | failures | errors | skipped | time | cleanup |",
        "| --- | --- | --- | --- | --- | --- | --- | --- | --- |",
        "| " + " | ".join(cell.replace("|", "\\|") for cell in cells) + " |",
        "",
    ]
    if not result.passed and result.message:
        out += [f"**Reason:** {result.message}", ""]
    coverage = result.extras.get("coverage")
    if coverage:
        changed = coverage.get("diff_percent")
        diff = f"; lines changed since `{coverage['diff_ref']}`: {changed} %" if coverage.get("diff_ref") else ""
        out += [f"**Coverage:** {coverage['percent']} %{diff}", ""]
    for test in result.failed_tests:
        where = f" (`{test.file}:{test.line}`)" if test.file else ""
        out.append(f"- `{test.name}`: {test.message}{where}")
    return "\n".join(out).rstrip() + "\n\n"


def append_step_summary(
    result: RunResult, env: Mapping[str, str] | None = None, redact: Callable[[str], str] = str
) -> Path | None:
    """Append the module's section to $GITHUB_STEP_SUMMARY (passwords hidden by `redact`); the file, or None."""
    target = (os.environ if env is None else env).get("GITHUB_STEP_SUMMARY")
    if not target:
        return None
    with open(target, "a", encoding="utf-8") as summary:
        summary.write(redact(summary_markdown(result)))
    return Path(target)
