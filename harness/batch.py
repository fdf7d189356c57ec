"""Several modules in one command: plan the jobs, run them N at a time as guarded children, one summary.

    python -m harness run a b c [-j N] [--mode grouped|isolated]

Every job is a child process `python -m harness run MODULE` (isolated) or `python -m harness
run-group A B ...` (grouped: harness/group.py), with the same guarantees as a single run: its
own Compose project, its own signal guard, teardown and watchdog. The children run in sessions
of their own, so a Ctrl+C reaches this process only; it forwards the signal once to every live
child, starts nothing new, waits until every child has torn its environment down, and exits
with the signal's code. Each module's result.json is read back from its child's artefacts.
"""

from __future__ import annotations

import contextlib
import dataclasses
import math
import os
import queue
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from types import FrameType
from typing import Any, Literal, TextIO

from harness import batch_report, github, proc
from harness.batch_report import ModuleOutcome
from harness.config import Config
from harness.errors import SIGNAL_EXIT_CODES, ExitCode
from harness.outcome import combined_exit_code
from harness.proof import ProofLog
from harness.records import utc_stamp
from harness.signals import HANDLED_SIGNALS, signal_name

Mode = Literal["grouped", "isolated"]
MODES: tuple[Mode, ...] = ("grouped", "isolated")
# A module without tests does not fail the command (harness.outcome.combined_exit_code).
NO_TESTS = int(ExitCode.NO_TESTS)
# A grouped member ending so (usage or environment error), or with no result, runs again alone.
FALLBACK_CODES = frozenset({int(ExitCode.USAGE), int(ExitCode.ENVIRONMENT)})
# The label of such a run: `<module>-alone` (no module name holds a dash).
ALONE = "-alone"
# How often the loop looks at its children when none of them prints anything.
POLL = 0.2
# What a GiB of memory means to `-j`: a run (Odoo server, test process, PostgreSQL) takes about 1.
_RUN_MEMORY = 1 << 30


@dataclasses.dataclass(frozen=True)
class Job:
    """One child: one module in its own environment, or several sharing one (`grouped`)."""

    label: str
    modules: tuple[str, ...]
    grouped: bool

    def argv(self) -> list[str]:
        """The child's command line."""
        if self.grouped:
            return [sys.executable, "-m", "harness", "run-group", *self.modules]
        return [sys.executable, "-m", "harness", "run", *self.modules]


def default_jobs(config: Config, cpus: int | None = None, memory: int | None = None) -> int:
    """`-j` when none is given: one run per core, no more than memory allows (~1 GiB a run), at least 1."""
    cpus = cpus if cpus is not None else (os.cpu_count() or 1)
    if memory is None:
        try:
            memory = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
        except (ValueError, OSError):
            memory = cpus * _RUN_MEMORY
    return max(1, min(cpus, memory // _RUN_MEMORY, len(config.ports)))


def plan_jobs(modules: Sequence[str], groups: Mapping[str, str], mode: Mode, jobs: int) -> list[Job]:
    """The children to start, largest first.

    Isolated: one job per module. Grouped: modules whose databases start from the same cache
    entry (`groups` maps a module to its key) share an environment; a key with more modules
    than a fair share (all modules / `jobs`) is split, so that `jobs` environments can run at
    once. A module without a key (its dependencies cannot be cached) runs alone.
    """
    if mode == "isolated":
        return [Job(module, (module,), False) for module in modules]
    share = max(1, math.ceil(len(modules) / max(1, jobs)))
    by_key: dict[str, list[str]] = {}
    planned: list[Job] = []
    for module in modules:
        key = groups.get(module)
        if key is None:
            planned.append(Job(module, (module,), False))
        else:
            by_key.setdefault(key, []).append(module)
    for members in by_key.values():
        parts = math.ceil(len(members) / share)
        for index in range(parts):
            chunk = tuple(members[index::parts])
            if len(chunk) == 1:
                planned.append(Job(chunk[0], chunk, False))
            else:
                planned.append(Job(f"group-{chunk[0]}", chunk, True))
    return sorted(planned, key=lambda job: -len(job.modules))


def last_seconds(artefacts: Path) -> dict[str, float]:
    """Each module's seconds in the newest earlier command's summary.json (nothing when there is none)."""
    summaries = sorted(artefacts.glob("*batch-*/summary.json"), key=lambda p: p.stat().st_mtime, reverse=True)
    for path in summaries[:1]:
        rows = batch_report.read_json_rows(path)
        return {module: seconds for module, seconds in rows.items() if seconds is not None}
    return {}


def by_expected_seconds(planned: Sequence[Job], seconds: Mapping[str, float]) -> list[Job]:
    """The longest jobs first, as the last command timed their modules: the end comes sooner with N at once.

    A module the last command did not time counts as the median of those it did; with no
    times at all the plan's own order stays (most modules first).
    """
    if not seconds:
        return list(planned)
    known = sorted(seconds.values())
    typical = known[len(known) // 2]
    return sorted(planned, key=lambda job: -sum(seconds.get(module, typical) for module in job.modules))


class Batch:
    """Runs the jobs, at most `jobs` at once, and stops them all on the first signal."""

    def __init__(self, config: Config, planned: Sequence[Job], jobs: int, folder: Path, log: ProofLog) -> None:
        self.config = config
        self.pending = list(planned)
        self.jobs = max(1, jobs)
        self.folder = folder
        self.log = log
        self.started: dict[str, Job] = {}
        self.running: dict[str, tuple[subprocess.Popen[bytes], float]] = {}  # child, deadline
        self.finished: dict[str, int] = {}
        self.received: list[int] = []
        self.lines: queue.Queue[tuple[str, str | None]] = queue.Queue()
        self.prefix = len(planned) > 1
        self._outcomes: dict[str, list[ModuleOutcome]] = {}

    def outcomes(self, label: str) -> list[ModuleOutcome]:
        """The rows a started job's result.json files give, read once its process has ended.

        Its fallback, the summary and the check of its exit code all read the same files: a
        job's results are final when its process is gone, so they are read once.
        """
        if label not in self._outcomes:
            self._outcomes[label] = job_outcomes(self.folder / label, self.started[label])
        return self._outcomes[label]

    def run(self) -> None:
        """Start, follow and reap children until every job ended (or, after a signal, was never started)."""
        previous: dict[int, Any] = {}
        if threading.current_thread() is threading.main_thread():
            previous = {sig: signal.signal(sig, self._handle) for sig in HANDLED_SIGNALS}
        try:
            while self.running or (self.pending and not self.received):
                while self.pending and not self.received and len(self.running) < self.jobs:
                    self._start(self.pending.pop(0))
                self._drain()
                self._reap()
        finally:
            for sig, handler in previous.items():
                signal.signal(sig, handler)
        if self.received:
            left = sum(len(job.modules) for job in self.pending)
            self.log.harness(
                f"stopped by {signal_name(self.received[0])}: every started run tore its environment down"
                + (f"; {left} module(s) not started" if left else "")
            )

    # --- signals: forwarded once to every live child; nothing new starts

    def _handle(self, signum: int, frame: FrameType | None) -> None:
        first = not self.received
        self.received.append(signum)
        if first:
            for child, _ in list(self.running.values()):
                _forward(child, signum)

    # --- children

    def _deadline(self, job: Job) -> float:
        """A child's own timeouts bound it; this only catches a child that hangs beyond all of them."""
        c = self.config
        per_module = c.test_timeout + c.command_timeout
        return time.monotonic() + c.up_timeout + c.ready_timeout + c.down_timeout + per_module * len(job.modules)

    def _start(self, job: Job) -> None:
        folder = self.folder / job.label
        env = {
            **os.environ,
            "HARNESS_ARTEFACTS_DIR": str(folder),
            "HARNESS_LOG_FILE": str(folder / self.config.log_file.name),
            # Ports come from the range: a run that finds none free waits for one (the queue).
            "HARNESS_PORT_WAIT": str(self.config.up_timeout),
            "PYTHONUNBUFFERED": "1",
        }
        env.pop("GITHUB_STEP_SUMMARY", None)  # the batch writes the one job summary
        shared = "one environment for " if job.grouped else ""
        self.log.harness(f"start {job.label}: {shared}{', '.join(job.modules)}")
        child = proc.spawn(
            job.argv(), env=env, cwd=self.config.root, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=False
        )
        self.started[job.label] = job
        self.running[job.label] = (child, self._deadline(job))
        threading.Thread(target=_pump, args=(job.label, child, self.lines), daemon=True).start()
        if self.received:  # a signal came while it was starting
            _forward(child, self.received[0])

    def _drain(self) -> None:
        """Show what the children printed, waiting at most POLL for the first line."""
        try:
            label, line = self.lines.get(timeout=POLL)
        except queue.Empty:
            return
        while True:
            if line is not None:
                self._show(label, line)
            try:
                label, line = self.lines.get_nowait()
            except queue.Empty:
                return

    def _show(self, label: str, line: str) -> None:
        if line.startswith("::"):  # a GitHub workflow command works only at the start of a line
            self.log.console(line)
        elif self.prefix:
            self.log.line(f"[{label}] {line}")
        else:
            self.log.line(line)

    def _reap(self) -> None:
        now = time.monotonic()
        for label, (child, deadline) in list(self.running.items()):
            code = child.poll()
            if code is None:
                if now > deadline:
                    self.log.harness(f"{label} outlived every timeout of its run; stopping it")
                    proc.stop(child)
                continue
            del self.running[label]
            self.finished[label] = code
            self.log.harness(f"end {label}: exit {code}")
            job = self.started[label]
            if job.grouped and not self.received:
                self._fall_back(job)
        if not self.running:
            self._drain()  # the last lines of the last child

    def _fall_back(self, job: Job) -> None:
        """Each member the group gave no verdict of its own runs again alone, before anything else starts."""
        rows = {row.module: row for row in self.outcomes(job.label)}
        again = fallback_jobs(job, rows)
        for alone in again:
            row = rows.get(alone.modules[0])
            why = f"exit {row.exit_code}: {row.message}" if row is not None else "no result.json"
            self.log.harness(
                f"{alone.modules[0]}: its group {job.label} ended without its own verdict ({why}); "
                f"running it alone as {alone.label}"
            )
        self.pending[:0] = again


def fallback_jobs(job: Job, rows: Mapping[str, ModuleOutcome]) -> list[Job]:
    """The isolated runs a grouped job's members need: those that left no result or ended 2 or 3.

    A member's failing or passing tests are its own verdict (its own test process, its own copy of
    the database): it stands. A usage or environment error, or no result at all, may be the
    group's (another member's install broke the shared environment, a member is missing from the
    addons path): the module's single run decides it instead, so its row is its single verdict.
    """
    if not job.grouped:
        return []
    return [
        Job(f"{module}{ALONE}", (module,), False)
        for module in job.modules
        if module not in rows or rows[module].exit_code in FALLBACK_CODES
    ]


def job_outcomes(folder: Path, job: Job) -> list[ModuleOutcome]:
    """The rows a job's result.json files give (its members' only), in no particular order."""
    found = []
    for path in sorted(folder.glob("**/result.json")):
        row = batch_report.read_outcome(path, folder.name)
        if row is not None and row.module in job.modules:
            found.append(row)
    return found


def _forward(child: subprocess.Popen[bytes], signum: int) -> None:
    """Pass a signal on to one child (its own session never got the terminal's)."""
    with contextlib.suppress(ProcessLookupError):
        os.kill(child.pid, signum)


def _pump(label: str, child: subprocess.Popen[bytes], lines: queue.Queue[tuple[str, str | None]]) -> None:
    """Hand a child's output to the main thread line by line; None at its end."""
    assert child.stdout is not None
    for raw in child.stdout:
        lines.put((label, raw.decode("utf-8", errors="replace").rstrip("\r\n")))
    child.stdout.close()
    lines.put((label, None))


# --- results and the whole command ---------------------------------------------------------


def collect(batch: Batch, planned: Sequence[Job]) -> list[ModuleOutcome]:
    """One row per module, in plan order: its result.json, or why it has none."""
    found: dict[str, ModuleOutcome] = {}
    # In start order: a module's run alone (a group's fallback) comes after its group and wins.
    for label, job in batch.started.items():
        for row in batch.outcomes(label):
            found[row.module] = row
        for module in job.modules:
            if module not in found:
                code = batch.finished.get(label) or int(ExitCode.ENVIRONMENT)
                why = f"{label} ended (exit {code}) without a result.json for {module}"
                found[module] = ModuleOutcome(module, code, "NO RESULT", message=why, job=label)
    stopped = SIGNAL_EXIT_CODES.get(batch.received[0], ExitCode.SIGINT) if batch.received else ExitCode.SIGINT
    for job in planned:
        for module in job.modules:
            why = "not started: the command was interrupted"
            found.setdefault(module, ModuleOutcome(module, int(stopped), "NOT RUN", message=why))
    return [found[module] for job in planned for module in job.modules]


def unexplained_exits(batch: Batch) -> list[str]:
    """Jobs whose process ended with another code than their own modules' results add up to.

    A job's process exits with the combined code of the results it wrote; when it does not (a
    crash after the results were written, a child killed from outside) the rows alone would hide
    it. Each such job is one line for the user, and the command is at least an environment error.
    After a signal the children's codes are the signal's: nothing is compared.
    """
    if batch.received:
        return []
    problems = []
    for label in batch.started:
        code = batch.finished.get(label)
        rows = batch.outcomes(label)
        if code is None or not rows:
            continue  # no rows: collect() already gives each module a NO RESULT row with this code
        expected = combined_exit_code(row.exit_code for row in rows)
        if combined_exit_code([code]) != expected:
            problems.append(
                f"{label} ended with exit {code} where its modules' results add up to exit {expected}: "
                f"see its output in {batch.folder / label / batch.config.log_file.name}"
            )
    return problems


def run_batch(
    config: Config,
    selected: Sequence[tuple[str, str]],
    *,
    mode: Mode,
    jobs: int | None = None,
    echo: TextIO | None = None,
    groups: Callable[[Config, Sequence[str]], Mapping[str, str]] | None = None,
) -> int:
    """Run every selected module (name, why it was selected); the summary; the combined exit code."""
    modules = [name for name, _ in selected]
    workers = jobs if jobs is not None else default_jobs(config)
    stamp = time.strftime("%Y%m%dT%H%M%S", time.gmtime())
    folder = config.artefacts_dir / f"{config.project_prefix}batch-{stamp}-{os.getpid()}"
    log = ProofLog([config.log_file, folder / config.log_file.name], echo)
    try:
        log.harness(f"{len(modules)} module(s), mode {mode}, up to {workers} at once; artefacts in {folder}")
        for name, why in selected:
            log.harness(f"selected {name}: {why}")
        keys: Mapping[str, str] = {}
        if mode == "grouped":
            if groups is None:
                from harness.group import cache_groups as groups
            keys = groups(config, modules)
        planned = by_expected_seconds(plan_jobs(modules, keys, mode, workers), last_seconds(config.artefacts_dir))
        batch = Batch(config, planned, workers, folder, log)
        started = time.monotonic()
        batch.run()
        rows = collect(batch, planned)
        code = combined_exit_code(row.exit_code for row in rows)
        problems = unexplained_exits(batch)
        if problems:
            code = combined_exit_code([code, ExitCode.ENVIRONMENT])
        seconds = time.monotonic() - started
        log.harness("=" * 64)
        for line in batch_report.table(rows):
            log.harness(line)
        for problem in problems:
            log.harness(f"ERROR: {problem}")
        junit = batch_report.merge_junit(rows, folder / "junit.xml")
        summary = batch_report.write_summary(
            rows,
            folder,
            code,
            {
                "mode": mode,
                "jobs": workers,
                "seconds": round(seconds, 3),
                "started_at": utc_stamp(time.time() - seconds),
                "problems": problems,
            },
        )
        log.harness(f"total          {seconds:.1f} s, exit {code}")
        log.harness(f"junit          {junit}")
        log.harness(f"summary        {summary}")
        log.harness("=" * 64)
        _job_summary(rows, code, log)
        return code
    finally:
        log.close()


def _job_summary(rows: Sequence[ModuleOutcome], code: int, log: ProofLog) -> None:
    """One section in $GITHUB_STEP_SUMMARY for the whole command (the children write none)."""
    target = os.environ.get("GITHUB_STEP_SUMMARY")
    if not target or not github.enabled():
        return
    try:
        with open(target, "a", encoding="utf-8") as summary:
            summary.write(batch_report.markdown(rows, f"{len(rows)} modules", code))
    except OSError as exc:
        log.harness(f"could not append to the job summary: {exc.strerror}")
