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

The repository row (`--repository`, on by default; `--no-repository` leaves it out): every OCA
18.0 addon of tests/oca_wheels.py (pinned wheels, downloaded at run time with `pip download
--no-deps`, depending only on base/web/mail) as one repository. The harness: `python -m harness
run A B ...` in its default mode (grouped, default -j), warm database cache (one unmeasured run
first). OCA's CI: one database on the same images, the addons' dependencies installed first
without tests, then `-i a,b,c --test-tags /a,/b,/c --stop-after-init`. Alternating, N runs each;
whole command, start to exit, including the database server's start and removal. Each module's
harness verdict is compared with its single-module verdict (exit 0 with the pinned test count).
"""

from __future__ import annotations

import argparse
import json
import os
import secrets
import signal
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
from tests import oca_wheels
from tools import oca_table

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


# --- the repository row ------------------------------------------------------------------------------


def outside_depends(addons: Path, modules: Sequence[str]) -> list[str]:
    """The modules `modules` depend on that are not among them (what OCA's CI installs first, without tests)."""
    from harness.dependencies import user_manifests

    manifests = user_manifests((addons,))
    wanted = {dep for module in modules for dep in manifests[module].depends}
    return sorted(wanted - set(modules)) or ["base"]


def oca_argv(
    install: Sequence[str], tests: Sequence[str], *, network: str, db_host: str, addons: Path, helper: Path
) -> list[str]:
    """One plain Odoo process on database `oca_repository`: `-i install`, `--test-tags` of `tests` (none: no tests)."""
    argv = oca_wheels.plain_odoo_argv(
        install[0], image=odoo_image(), network=network, db_host=db_host, addons=addons, python_path=helper,
        database="oca_repository",
    )  # fmt: skip
    argv[argv.index("-i") + 1] = ",".join(install)
    at = argv.index("--test-tags")
    if tests:
        argv[at + 1] = ",".join(f"/{module}" for module in tests)
    else:
        del argv[at : at + 2]
    return argv


def odoo_image() -> str:
    """The Odoo image both sides run (ODOO_IMAGE, default the project's)."""
    return os.environ.get("ODOO_IMAGE", "hub-harness/odoo:18.0")


def oca_repository_run(modules: Sequence[str], addons: Path, helper: Path, log: Path) -> dict[str, object]:
    """OCA's CI over the repository: a database server, the dependencies, then every addon with its tests."""
    postgres = os.environ.get("POSTGRES_IMAGE", "hub-harness/postgres:15")
    started = time.monotonic()
    record: dict[str, object] = {}
    with oca_table.plain_database(postgres) as (label, network, db):
        where = {"network": network, "db_host": db, "addons": addons, "helper": helper}
        for step, install, tests in (("depends", outside_depends(addons, modules), ()), ("tests", modules, modules)):
            argv = oca_argv(install, tests, **where)
            mark = time.monotonic()
            result = proc.run([argv[0], argv[1], *label, *argv[2:]], timeout=CHILD_TIMEOUT)
            record[step] = round(time.monotonic() - mark, 2)
            with open(log, "a", encoding="utf-8") as out:
                out.write(result.output)
            if step == "tests":
                record["odoo_exit"] = result.returncode
                record["counts"] = oca_wheels.odoo_counts(result.output)
            elif not result.ok:
                raise RuntimeError(f"installing the dependencies failed (exit {result.returncode}); see {log}")
    record["total"] = round(time.monotonic() - started, 2)
    return record


def harness_repository_run(config: Config, modules: Sequence[str], env: dict[str, str], artefacts: Path) -> dict:
    """`python -m harness run A B ...` (default mode and -j): the whole command's seconds and each module's row."""
    argv = [sys.executable, "-m", "harness", "run", *modules]
    started = time.monotonic()
    done = subprocess.run(
        argv, cwd=config.root, env={**os.environ, **env, "HARNESS_ARTEFACTS_DIR": str(artefacts)},
        capture_output=True, text=True, timeout=CHILD_TIMEOUT,
    )  # fmt: skip
    total = time.monotonic() - started
    summaries = sorted(artefacts.glob("*batch-*/summary.json"), key=lambda p: p.stat().st_mtime)
    if not summaries:
        raise RuntimeError(f"the harness left no summary.json (exit {done.returncode}):\n{done.stdout[-3000:]}")
    summary = json.loads(summaries[-1].read_text(encoding="utf-8"))
    rows = {row["module"]: {"exit": row["exit_code"], "tests": row["tests"]} for row in summary["modules"]}
    return {"total": round(total, 2), "exit": done.returncode, "modules": rows, "jobs": summary.get("jobs")}


def single_verdicts(modules: Sequence[str]) -> dict[str, dict[str, int]]:
    """Each module's single-module verdict as measured (tests/oca_wheels.py: exit 0 with its pinned count)."""
    return {module: {"exit": 0, "tests": oca_wheels.PINNED[module].tests} for module in modules}


def repository_markdown(harness: list[dict], oca: list[dict], modules: Sequence[str], command: str) -> str:
    """The repository rows: medians (min-max), the ratio harness / OCA, and whether the verdicts agree."""
    expected = single_verdicts(modules)

    def cell(values: list[float]) -> str:
        return f"{statistics.median(values):.1f} ({min(values):.1f}-{max(values):.1f})" if values else "-"

    h_total = [float(r["total"]) for r in harness]
    o_total = [float(r["total"]) for r in oca]
    agree = [all(r["modules"].get(m) == expected[m] for m in modules) for r in harness]
    differing = sorted({m for r in harness for m in modules if r["modules"].get(m) != expected[m]})
    tests = sum(p["tests"] for p in expected.values())
    lines = [
        f"`{command}`: repository of {len(modules)} OCA 18.0 addons ({tests} tests), {len(harness)} runs of each, "
        "alternating; seconds of the whole command, median (min-max).",
        "",
        "| variant | dependencies | tests | total |",
        "| --- | --- | --- | --- |",
        f"| harness, `run` of every module (grouped, warm cache) | - | - | {cell(h_total)} |",
        f"| OCA-style: one database, dependencies then `-i` all with `--test-tags` | "
        f"{cell([float(r['depends']) for r in oca])} | {cell([float(r['tests']) for r in oca])} | {cell(o_total)} |",
        "",
    ]
    if h_total and o_total:
        lines.append(f"- harness / OCA-style: {statistics.median(h_total) / statistics.median(o_total):.2f}")
    lines.append(
        f"- every module's verdict equal to its single-module verdict: {sum(agree)} of {len(agree)} runs"
        + (f" (differing: {', '.join(differing)})" if differing else "")
    )
    counts = {tuple(r["counts"]) if r.get("counts") else None for r in oca}
    lines.append(f"- OCA-style exit codes {sorted({r['odoo_exit'] for r in oca})}, (failed, errors, tests) {counts}")
    return "\n".join(lines) + "\n"


def repository_bench(config: Config, runs: int, out: Path, command: str) -> str:
    """The repository row: download the addons, warm the cache once, then N alternating runs of each side."""
    modules = sorted(oca_wheels.PINNED)
    addons = oca_wheels.addons_folder(modules, out / "repository" / "addons")
    helper = oca_wheels.test_helper_folder()
    requirements = out / "repository" / "test-requirements.txt"
    requirements.write_text(f"{oca_wheels.TEST_HELPER}\n", encoding="utf-8")
    env = {
        "HARNESS_ADDONS_PATH": str(addons),
        "HARNESS_REQUIREMENTS": str(requirements),
        "HARNESS_DB_CACHE_DIR": str(out / "repository" / "cache-warm"),
        "HARNESS_READY_TIMEOUT": "900",
    }
    # Not measured: builds the requirements image and every group's cache entry.
    warm = harness_repository_run(config, modules, env, out / "repository" / "runs")
    print(f"repository warm-up: {warm['total']:.1f} s, exit {warm['exit']}", file=sys.stderr, flush=True)
    harness: list[dict] = []
    oca: list[dict] = []
    for round_ in range(runs):
        harness.append(harness_repository_run(config, modules, env, out / "repository" / "runs"))
        oca.append(oca_repository_run(modules, addons, helper, out / "repository" / f"oca-{round_ + 1}.log"))
        print(
            f"repository round {round_ + 1}: harness {harness[-1]['total']:.1f} s (exit {harness[-1]['exit']}), "
            f"OCA-style {oca[-1]['total']:.1f} s (exit {oca[-1]['odoo_exit']})",
            file=sys.stderr,
            flush=True,
        )
        data = {"modules": modules, "harness": harness, "oca": oca, "warm_up": warm}
        (out / "repository.json").write_text(json.dumps(data, indent=2) + "\n", encoding="utf-8")
    return repository_markdown(harness, oca, modules, command)


def _exit_on_signal(signum: int, _frame: object) -> None:
    raise SystemExit(128 + signum)


def main(argv: Sequence[str] | None = None) -> int:
    """`python -m tools.bench [--runs N] [--module M] [--variants a,b]`.

    SIGTERM and SIGHUP end it as SystemExit, so the `finally` blocks that remove the OCA-style
    side's database container and network run (with no handler, Python dies at once and leaves them).
    """
    previous = {sig: signal.signal(sig, _exit_on_signal) for sig in (signal.SIGTERM, signal.SIGHUP)}
    try:
        return _main(argv)
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)


def _main(argv: Sequence[str] | None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tools.bench", description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--module", default="traction")
    parser.add_argument("--variants", default=",".join(VARIANTS), help="comma-separated: " + ", ".join(VARIANTS))
    parser.add_argument(
        "--repository",
        action=argparse.BooleanOptionalAction,
        default=True,
        help="the repository row: the pinned OCA addons through the harness against OCA's one-database command",
    )
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
    command = "nox -s bench" + (f" -- {' '.join(argv)}" if argv else "")
    text = markdown(table, args.module, args.runs, command) if variants else ""
    if args.repository:
        text += ("\n" if text else "") + repository_bench(config, args.runs, out, command)
    (out / "bench.json").write_text(json.dumps({"module": args.module, "runs": runs, "table": table}, indent=2) + "\n")
    (out / "bench.md").write_text(text, encoding="utf-8")
    print(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
