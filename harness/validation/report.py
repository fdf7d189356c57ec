"""The validation's written proof: one folder per demonstration and PROOF.md (the work order's section 9)."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable
from datetime import datetime, timezone
from pathlib import Path

from harness.config import Config
from harness.odoo_command import redact_data, redact_text
from harness.proof import write_json


@dataclasses.dataclass
class Demonstration:
    """One demonstration's outcome and where its proof lies."""

    name: str
    title: str
    command: str
    expected: str
    observed_exit: int | None = None  # the exit code the demonstrated command ended with
    ok: bool = False
    checks: list[str] = dataclasses.field(default_factory=list)
    failures: list[str] = dataclasses.field(default_factory=list)
    seconds: float = 0.0
    folder: Path | None = None
    log_tail: list[str] = dataclasses.field(default_factory=list)
    # Lines of the log the proof quotes on their own (a FAIL block may lie before the tail).
    excerpt: list[str] = dataclasses.field(default_factory=list)
    cleanup_check: str = ""

    def expect(self, condition: bool, what: str) -> None:
        """Record one check; the demonstration passes only when all of them hold."""
        (self.checks if condition else self.failures).append(what)


def write_proof_folder(demo: Demonstration, secrets: Iterable[str] = ()) -> None:
    """command.txt, exit_code.txt, cleanup.txt and result.json in the demonstration's folder, passwords hidden."""
    assert demo.folder is not None
    secrets = list(secrets)
    (demo.folder / "command.txt").write_text(redact_text(demo.command, secrets) + "\n", encoding="utf-8")
    (demo.folder / "exit_code.txt").write_text(f"{demo.observed_exit}\n", encoding="utf-8")
    (demo.folder / "cleanup.txt").write_text(redact_text(demo.cleanup_check, secrets) + "\n", encoding="utf-8")
    data = {
        "name": demo.name,
        "title": demo.title,
        "command": demo.command,
        "expected": demo.expected,
        "exit_code": demo.observed_exit,
        "proven": demo.ok,
        "checks": demo.checks,
        "failed_checks": demo.failures,
        "seconds": demo.seconds,
    }
    write_json(demo.folder / "result.json", redact_data(data, secrets))


def proof_markdown(config: Config, demos: list[Demonstration]) -> str:
    """PROOF.md, laid out as the work order's section 9, ready to paste into an issue."""
    out = [
        "# Proof of Execution",
        "",
        f"Generated {datetime.now(timezone.utc).isoformat(timespec='seconds')} by `nox -s validate`.",
        "",
    ]
    for demo in demos:
        out += [
            f"## {demo.title}",
            "",
            "```bash",
            demo.command,
            f'echo "Exit code: $?"  # {demo.observed_exit}',
            "```",
            "",
            f"**Result:** {'PROVEN' if demo.ok else 'NOT PROVEN'} — expected {demo.expected}; "
            f"exit code {demo.observed_exit}; {demo.seconds} s.",
            "",
        ]
        out += [f"- [x] {check}" for check in demo.checks] + [f"- [ ] {failed}" for failed in demo.failures] + [""]
        if demo.excerpt:
            out += [f"From `{config.log_file.name}`:", "", "```text", *demo.excerpt, "```", ""]
        out += [
            f"Last {len(demo.log_tail)} lines of `{config.log_file.name}`:",
            "",
            "```text",
            *demo.log_tail,
            "```",
            "",
        ]
        out += ["Cleanup verification:", "", "```text", demo.cleanup_check, "```", ""]
    out += ["## 9.5 Documentation Review", "", *documentation_review(config)]
    return "\n".join(out)


# The documents whose updated sections the work order's 9.5 shows: (file, heading that opens the section).
REVIEWED_DOCS = (
    ("docs/reference.md", "## Running Tests"),
    ("docs/onboarding_coder_agent.md", "### 9.1 Test Execution"),
    ("docs/work_order_template.md", "### 9.1 Test Execution"),
)


def section(path: Path, heading: str) -> list[str]:
    """The lines of `path` from `heading` to the next heading of the same or a higher level."""
    lines = path.read_text(encoding="utf-8").splitlines() if path.is_file() else []
    start = next((i for i, line in enumerate(lines) if line.lower().startswith(heading.lower())), None)
    if start is None:
        return [f"({path.name} has no section {heading!r})"]
    level = len(heading) - len(heading.lstrip("#"))
    in_code = False
    for index in range(start + 1, len(lines)):
        line = lines[index]
        if line.startswith("```"):
            in_code = not in_code  # a `#` comment inside a code block is no heading
        elif not in_code and line.startswith("#") and len(line) - len(line.lstrip("#")) <= level:
            return lines[start:index]
    return lines[start:]


def documentation_review(config: Config) -> list[str]:
    """9.5: the updated documentation sections, each under the command that shows it."""
    out: list[str] = []
    for name, heading in REVIEWED_DOCS:
        out += [f"From `{name}`:", "", "````markdown", *section(config.root / name, heading), "````", ""]
    return out
