"""`nox -s bench`: the harness (cold cache, warm cache, no cache) against the work order's flow.

One invocation, one machine, the variants alternating so that the machine's load hits them
alike; N runs of each (default 3). Per phase (up, ready, database, tests, teardown) and total
(the whole command, from start to exit): medians with min and max. Writes
`artefacts/bench/bench.json` and `bench.md`, and prints the table.

The work order's flow is its script's steps made runnable on real Odoo 18 and nothing more:
`up -d`, its health poll (`docker inspect` every 5 s until healthy), `exec` of its test
command with the fixes Odoo 18 needs to run at all (the `odoo` launcher instead of `odoo-bin`,
the db arguments that `exec` loses, `--http-port`), its `--test-enable` without `--test-tags`,
then `down -v --remove-orphans`. It runs on the same compose file as the harness.
"""

from __future__ import annotations

import argparse
import json
import os
import secrets
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path

from harness import Config, load_config, proc
from harness.compose import Compose, compose_env
from harness.ports import acquire_port

PHASES = ("up", "ready", "database", "tests", "teardown")
# The harness's phase names (result.json) for the table's columns.
HARNESS_PHASES = {"up": "up", "readiness": "ready", "database": "database", "tests": "tests", "teardown": "teardown"}
VARIANTS = {
    "cold": "harness, cold cache (builds the entry)",
    "warm": "harness, warm cache",
    "uncached": "harness, cache off (HARNESS_DB_CACHE=0)",
    "work-order": "the work order's flow, made runnable",
}
# The work order's poll: `sleep 5` between `docker inspect` health checks.
WORK_ORDER_POLL = 5.0
WORK_ORDER_MAX_WAIT = 300.0
CHILD_TIMEOUT = 1800.0

Timing = dict[str, float]


def harness_run(config: Config, module: str, env: dict[str, str], artefacts: Path) -> Timing:
    """One `python -m harness run MODULE` in a child; phase durations from its result.json."""
    started = time.time()
    argv = [sys.executable, "-m", "harness", "run", module]
    child_env = {**os.environ, **env, "HARNESS_ARTEFACTS_DIR": str(artefacts)}
    done = subprocess.run(argv, cwd=config.root, env=child_env, capture_output=True, text=True, timeout=CHILD_TIMEOUT)
    ended = time.time()
    if done.returncode != 0:
        raise RuntimeError(f"the harness run failed (exit {done.returncode}):\n{done.stdout[-3000:]}")
    result_file = max(artefacts.glob("*/result.json"), key=lambda p: p.stat().st_mtime)
    timing: Timing = {}
    for phase in json.loads(result_file.read_text(encoding="utf-8"))["phases"]:
        column = HARNESS_PHASES.get(phase["name"])
        if column:
            timing[column] = timing.get(column, 0.0) + float(phase["seconds"])
    timing["total"] = ended - started
    return timing


def work_order_run(config: Config, module: str) -> Timing:
    """The work order's script, step by step, on the harness's compose file and environment."""
    lease = acquire_port(config.ports, config.lock_dir, host=config.publish_host, range_text=config.port_range_text)
    project = f"{config.project_prefix}bench-wo-{secrets.token_hex(4)}"
    compose = Compose(project, config.compose_files, compose_env(config, lease.port))
    timing: Timing = {}
    started = time.time()
    try:
        mark = time.time()
        up = compose.run("up", "-d", timeout=config.up_timeout)
        timing["up"] = time.time() - mark
        if not up.ok:
            raise RuntimeError(f"up failed: {up.output[-2000:]}")
        mark = time.time()
        _wait_healthy(compose, config, mark)
        timing["ready"] = time.time() - mark
        mark = time.time()
        command = [
            config.odoo_executable, "-c", config.odoo_config, "-d", "odoo",
            "--db_host", config.db_host, "--db_user", config.db_user, "--db_password", config.db_password,
            "--http-port", str(config.test_http_port),
            "--test-enable", "--stop-after-init", "-i", module, "--log-level=test",
        ]  # fmt: skip
        tests = compose.run("exec", "-T", config.odoo_service, *command, timeout=CHILD_TIMEOUT)
        timing["tests"] = time.time() - mark
        timing["odoo_exit"] = float(tests.returncode)
    finally:
        mark = time.time()
        compose.run("down", "-v", "--remove-orphans", timeout=config.down_timeout)
        timing["teardown"] = time.time() - mark
        lease.release()
    timing["total"] = time.time() - started
    return timing


def _wait_healthy(compose: Compose, config: Config, since: float) -> None:
    """The work order's wait: `docker inspect` the odoo container's health every 5 s."""
    while time.time() - since < WORK_ORDER_MAX_WAIT:
        container = compose.run("ps", "-q", config.odoo_service, timeout=config.command_timeout).stdout.strip()
        inspect = ["docker", "inspect", "--format", "{{.State.Health.Status}}", container]
        if proc.run(inspect, timeout=config.command_timeout).stdout.strip() == "healthy":
            return
        time.sleep(WORK_ORDER_POLL)
    raise RuntimeError("the work order's health wait timed out")


def summarise(runs: dict[str, list[Timing]]) -> dict[str, dict[str, dict[str, float]]]:
    """{variant: {phase: {median, min, max}}} over each variant's runs."""
    table: dict[str, dict[str, dict[str, float]]] = {}
    for variant, timings in runs.items():
        table[variant] = {}
        for phase in (*PHASES, "total"):
            values = [t[phase] for t in timings if phase in t]
            if values:
                table[variant][phase] = {
                    "median": round(statistics.median(values), 2),
                    "min": round(min(values), 2),
                    "max": round(max(values), 2),
                }
    return table


def markdown(table: dict[str, dict[str, dict[str, float]]], module: str, runs: int, command: str) -> str:
    """The table as Markdown: median (min-max) seconds, plus the ratios the issue asks for."""
    lines = [
        f"`{command}`: module `{module}`, {runs} runs of each variant, alternating; seconds, median (min-max).",
        "",
        "| variant | " + " | ".join(PHASES) + " | total |",
        "|" + " --- |" * (len(PHASES) + 2),
    ]
    for variant, phases in table.items():
        cells = [
            f"{phases[p]['median']:.1f} ({phases[p]['min']:.1f}-{phases[p]['max']:.1f})" if p in phases else "-"
            for p in (*PHASES, "total")
        ]
        lines.append(f"| {VARIANTS[variant]} | " + " | ".join(cells) + " |")
    total = {variant: phases["total"]["median"] for variant, phases in table.items() if "total" in phases}
    lines.append("")
    if "warm" in total and "work-order" in total:
        lines.append(f"- warm cache / work order's flow: {total['warm'] / total['work-order']:.2f}")
    if "cold" in total and "uncached" in total:
        lines.append(f"- cold cache / no cache: {total['cold'] / total['uncached']:.2f}")
    if "warm" in total and "uncached" in total:
        lines.append(f"- warm cache / no cache: {total['warm'] / total['uncached']:.2f}")
    return "\n".join(lines) + "\n"


def main(argv: Sequence[str] | None = None) -> int:
    """`python -m tools.bench [--runs N] [--module M] [--variants a,b]`."""
    parser = argparse.ArgumentParser(prog="python -m tools.bench", description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--module", default="traction")
    parser.add_argument("--variants", default=",".join(VARIANTS), help="comma-separated: " + ", ".join(VARIANTS))
    args = parser.parse_args(argv)
    config = load_config()
    variants = [v for v in args.variants.split(",") if v]
    out = config.artefacts_dir / "bench"
    out.mkdir(parents=True, exist_ok=True)
    warm_dir = out / "cache-warm"
    if "warm" in variants:
        # Not measured: makes the warm variant's entry exist before its first measured run.
        harness_run(config, args.module, {"HARNESS_DB_CACHE_DIR": str(warm_dir)}, out / "runs")
    runs: dict[str, list[Timing]] = {v: [] for v in variants}
    for round_ in range(args.runs):
        for variant in variants:
            if variant == "work-order":
                timing = work_order_run(config, args.module)
            else:
                env = {
                    "cold": {"HARNESS_DB_CACHE_DIR": tempfile.mkdtemp(prefix="bench-cold-", dir=out)},
                    "warm": {"HARNESS_DB_CACHE_DIR": str(warm_dir)},
                    "uncached": {"HARNESS_DB_CACHE": "0"},
                }[variant]
                timing = harness_run(config, args.module, env, out / "runs")
            runs[variant].append(timing)
            print(f"round {round_ + 1} {variant}: {timing['total']:.1f} s", file=sys.stderr, flush=True)
    table = summarise(runs)
    command = "nox -s bench" + (f" -- --runs {args.runs}" if args.runs != 3 else "")
    text = markdown(table, args.module, args.runs, command)
    (out / "bench.json").write_text(json.dumps({"module": args.module, "runs": runs, "table": table}, indent=2) + "\n")
    (out / "bench.md").write_text(text, encoding="utf-8")
    print(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
