"""The stand-in Odoo 18 under the real engine and real `docker compose`.

One compose project (docker-compose.agent.yml + the stand-in override) serves
the whole module; the commands of docs/odoo18-facts.md (the real measurements)
are run in it with `docker compose exec -T odoo ...` and must give the same exit
codes and summary lines. The fault knobs get small projects of their own.
Run: python -m pytest -m integration tests/integration/test_standin.py -p no:cacheprovider
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import os
import re
import secrets
import socket
import subprocess
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Iterator, Sequence
from pathlib import Path

import pytest

from tools.images import STANDIN_ALIAS, STANDIN_DIR, ensure_images, postgres_spec, standin_spec

pytestmark = pytest.mark.integration

REPO = Path(__file__).resolve().parents[2]
AGENT_COMPOSE = REPO / "docker-compose.agent.yml"
OVERRIDE = STANDIN_DIR / "compose.override.yml"
FAULTS = STANDIN_DIR / "faults.override.yml"
ADDONS = REPO / "tests" / "fixtures" / "addons"
ODOO = ["odoo", "-c", "/etc/odoo/odoo.conf"]
DB_ARGS = ["--db_host", "db", "--db_user", "odoo", "--db_password", "odoo"]


def module_test_argv(db: str, module: str, db_args: list[str] = DB_ARGS) -> list[str]:
    """The harness's command shape: explicit db args, a free HTTP port, only MODULE's tests."""
    return [
        *ODOO,
        "-d",
        db,
        *db_args,
        "--http-port",
        "8071",
        "--test-tags",
        f"/{module}",
        "--stop-after-init",
        "-i",
        module,
    ]


# Odoo's format; a one-line record ends with a space (the empty perf field), a record whose
# message goes on over more lines (a failure and its traceback) ends that way on its last line.
LOG_LINE = re.compile(r"^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d{3} \d+ (DEBUG|INFO|WARNING|ERROR|CRITICAL) \S+ [\w.]+: ")
UP_TIMEOUT = 240.0
EXEC_TIMEOUT = 120.0


@dataclasses.dataclass
class Project:
    """One compose project started by these tests (always named standin-dev-...)."""

    name: str
    files: Sequence[Path]
    env: dict[str, str]
    port: int

    def compose(self, *args: str, timeout: float = EXEC_TIMEOUT) -> subprocess.CompletedProcess[str]:
        """`docker compose -p NAME -f ... ARGS`; never raises on a non-zero exit."""
        cmd = ["docker", "compose", "-p", self.name]
        for file in self.files:
            cmd += ["-f", str(file)]
        return subprocess.run([*cmd, *args], env=self.env, capture_output=True, text=True, timeout=timeout, check=False)

    def exec_odoo(self, *args: str, timeout: float = EXEC_TIMEOUT) -> subprocess.CompletedProcess[str]:
        return self.compose("exec", "-T", "odoo", *args, timeout=timeout)

    def health(self) -> tuple[int, str]:
        """Status and body of GET /web/health on the published port; (0, error) if no answer."""
        url = f"http://127.0.0.1:{self.port}/web/health"
        try:
            with urllib.request.urlopen(url, timeout=2) as response:
                return response.status, response.read().decode()
        except urllib.error.HTTPError as exc:
            return exc.code, exc.read().decode()
        except (OSError, urllib.error.URLError) as exc:
            return 0, str(exc)

    def leftovers(self) -> list[str]:
        """Containers (stopped too), networks and volumes that still carry the project's label."""
        label = f"label=com.docker.compose.project={self.name}"
        found = []
        for kind in (["ps", "-a"], ["network", "ls"], ["volume", "ls"]):
            out = subprocess.run(
                ["docker", *kind, "-q", "--filter", label], capture_output=True, text=True, timeout=60, check=True
            ).stdout.split()
            found += [f"{kind[0]}:{item}" for item in out]
        return found

    def down(self) -> subprocess.CompletedProcess[str]:
        return self.compose("down", "-v", "--remove-orphans", "-t", "3", timeout=180)


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@contextlib.contextmanager
def compose_project(*extra_files: Path, env: dict[str, str] | None = None) -> Iterator[Project]:
    """A fresh project; `down -v --remove-orphans` in `finally`, whatever happened."""
    port = _free_port()
    project_env = {
        **{k: v for k, v in os.environ.items() if not k.startswith("STANDIN_")},
        "ODOO_PORT": str(port),
        "HARNESS_ADDONS_PATH": str(ADDONS),
        **(env or {}),
    }
    project = Project(f"standin-dev-{secrets.token_hex(4)}", [AGENT_COMPOSE, OVERRIDE, *extra_files], project_env, port)
    try:
        yield project
    finally:
        project.down()


def _assert_cleaned_up(project: Project) -> None:
    result = project.down()
    assert result.returncode == 0, result.stderr
    assert project.leftovers() == []


def _output(result: subprocess.CompletedProcess[str]) -> str:
    return result.stdout + result.stderr


def _db_name(label: str) -> str:
    return f"{label}_{secrets.token_hex(3)}"


def _wait_for(predicate, timeout: float, interval: float = 0.2):
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value or time.monotonic() > deadline:
            return value
        time.sleep(interval)


# Not named `images`: conftest.py's leak sweep keys on that name and on `env`, and these tests
# use projects of their own (standin-dev-*), never the harness's prefix.
@pytest.fixture(scope="module")
def standin_images() -> dict[str, str]:
    return ensure_images([postgres_spec(), standin_spec()], log=lambda _line: None)


@pytest.fixture(scope="module")
def stack(standin_images: dict[str, str]) -> Iterator[Project]:
    """The module's compose project, up and healthy; checked clean after `down`."""
    with compose_project() as project:
        result = project.compose("up", "-d", "--wait", timeout=UP_TIMEOUT)
        assert result.returncode == 0, _output(result)
        yield project
        _assert_cleaned_up(project)


# --- images ------------------------------------------------------------------------------


def test_images_are_reused_quickly_and_tagged_current(standin_images: dict[str, str]) -> None:
    started = time.monotonic()
    again = ensure_images(
        [postgres_spec(), standin_spec()], log=lambda line: pytest.fail(f"nothing should be built: {line}")
    )
    assert again == standin_images
    assert time.monotonic() - started < 5
    for current, ref in standin_images.items():
        ids = subprocess.run(
            ["docker", "image", "inspect", "--format", "{{.Id}}", ref, current],
            capture_output=True,
            text=True,
            timeout=60,
            check=True,
        ).stdout.split()
        assert len(ids) == 2 and ids[0] == ids[1]


def test_odoo_image_has_no_odoo_bin(standin_images: dict[str, str]) -> None:
    result = subprocess.run(
        [
            "docker",
            "run",
            "--rm",
            "--name",
            f"standin-dev-{secrets.token_hex(4)}",
            "--entrypoint",
            "bash",
            STANDIN_ALIAS,
            "-c",
            "command -v odoo; command -v odoo-bin",
        ],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.stdout.split() == ["/usr/bin/odoo"]


# --- the server -------------------------------------------------------------------------


def test_services_are_healthy_and_health_answers_200(stack: Project) -> None:
    result = stack.compose("ps", "--format", "json")
    states = [json.loads(line) for line in result.stdout.splitlines() if line.strip()]
    assert {s["Service"]: s["Health"] for s in states} == {"db": "healthy", "odoo": "healthy"}
    assert stack.health() == (200, '{"status": "pass"}')


# --- the work order's commands, as measured on real Odoo 18 -----------------------------


def test_odoo_bin_is_not_found(stack: Project) -> None:
    result = stack.exec_odoo("odoo-bin", "-c", "/etc/odoo/odoo.conf", "-d", _db_name("bin"), "--stop-after-init")
    assert result.returncode == 126
    assert 'exec: "odoo-bin": executable file not found in $PATH' in _output(result)


def test_exec_without_db_args_fails_on_the_local_socket(stack: Project) -> None:
    result = stack.exec_odoo(
        *ODOO, "-d", _db_name("nodbargs"), "--test-enable", "--stop-after-init", "-i", "fixture_pass"
    )
    assert result.returncode == 1
    assert "odoo: database: default@default:default" in result.stderr
    assert 'connection to server on socket "/var/run/postgresql/.s.PGSQL.5432" failed' in result.stderr


def test_test_enable_without_http_port_hits_the_servers_port(stack: Project) -> None:
    result = stack.exec_odoo(
        *ODOO, "-d", _db_name("portclash"), *DB_ARGS, "--test-enable", "--stop-after-init", "-i", "fixture_pass"
    )
    assert result.returncode == 1
    assert result.stderr.rstrip().endswith("OSError: [Errno 98] Address already in use")


@pytest.mark.parametrize(
    ("module", "exit_code", "expected", "level"),
    [
        ("fixture_pass", 0, ["0 failed, 0 error(s) of 3 tests when loading database"], "INFO"),
        (
            "fixture_fail",
            1,
            [
                "odoo.addons.fixture_fail.tests.test_item: FAIL: TestItem.test_injected_failure",
                "odoo.modules.loading: Module fixture_fail: 1 failures, 0 errors of 2 tests",
                "1 failed, 0 error(s) of 2 tests when loading database",
            ],
            "ERROR",
        ),
        (
            "fixture_error",
            1,
            [
                "ERROR: TestItem.test_boom",
                'RuntimeError("boom")',
                "0 failed, 1 error(s) of 1 tests when loading database",
            ],
            "ERROR",
        ),
        (
            "fixture_importerror",
            255,
            [
                "ERROR {db} odoo.modules.registry: Failed to load registry",
                "CRITICAL {db} odoo.service.server: Failed to initialize database",
                "ModuleNotFoundError: No module named 'does_not_exist_anywhere'",
            ],
            None,
        ),
        (
            "no_such_module",
            0,
            [
                "WARNING {db} odoo.modules.loading: invalid module names, ignored: no_such_module",
                "0 failed, 0 error(s) of 0 tests when loading database",
            ],
            "WARNING",
        ),
        ("fixture_notests", 0, ["0 failed, 0 error(s) of 0 tests when loading database"], "WARNING"),
    ],
)
def test_module_run_matches_real_odoo(
    stack: Project, module: str, exit_code: int, expected: list[str], level: str | None
) -> None:
    db = _db_name(module)
    started = time.monotonic()
    result = stack.exec_odoo(*module_test_argv(db, module), "--log-level=test")
    log = result.stderr
    assert result.returncode == exit_code, log
    for text in expected:
        assert text.format(db=db) in log
    summaries = [line for line in log.splitlines() if "odoo.tests.result:" in line]
    if level is None:
        assert summaries == []  # no summary at all when the registry failed to load
    else:
        assert len(summaries) == 1 and f" {level} {db} odoo.tests.result: " in summaries[0]
        assert summaries[0].endswith(f"when loading database '{db}' ")
    prefixed = [line for line in log.splitlines() if line[:2] == "20"]
    assert prefixed and all(LOG_LINE.match(line) for line in prefixed)
    assert all(line.endswith(" ") for line in prefixed if not re.search(r": (FAIL|ERROR): ", line))
    assert time.monotonic() - started < 10


def test_post_install_tests_run_after_at_install_ones(stack: Project) -> None:
    result = stack.exec_odoo(*module_test_argv(_db_name("order"), "fixture_pass"))
    lines = result.stderr.splitlines()
    post = next(i for i, line in enumerate(lines) if "odoo.service.server: Starting post tests" in line)
    started = [(i, line.split("Starting ")[1].strip()) for i, line in enumerate(lines) if ": Starting Test" in line]
    assert [name for i, name in started if i < post] == [
        "TestAtInstall.test_addition ...",
        "TestAtInstall.test_membership ...",
    ]
    assert [name for i, name in started if i > post] == ["TestPostInstall.test_post_install ..."]


def test_first_signal_interrupts_a_running_test(stack: Project) -> None:
    db = _db_name("slow")
    pidfile = f"/tmp/{db}.pid"
    odoo = " ".join(module_test_argv(db, "fixture_slow"))
    compose = ["docker", "compose", "-p", stack.name, *[a for f in stack.files for a in ("-f", str(f))]]
    # `exec` keeps bash's pid, so the pid file names the Odoo process itself.
    runner = subprocess.Popen(
        [*compose, "exec", "-T", "odoo", "bash", "-c", f"echo $$ > {pidfile}; exec {odoo}"],
        env=stack.env,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    lines: list[str] = []
    reader = threading.Thread(target=lambda: lines.extend(runner.stderr or ()), daemon=True)
    reader.start()
    try:
        assert _wait_for(lambda: any("Starting TestItem.test_slow" in line for line in lines), timeout=30)
        interrupted = time.monotonic()
        stack.exec_odoo("bash", "-c", f"kill -TERM $(cat {pidfile})")
        assert runner.wait(timeout=30) == 130
        assert time.monotonic() - interrupted < 5
        reader.join(timeout=10)
        assert "".join(lines).rstrip().endswith("KeyboardInterrupt")
    finally:
        if runner.poll() is None:  # never leave it holding port 8071 for the other tests
            stack.exec_odoo("bash", "-c", f"kill -KILL $(cat {pidfile})")
            runner.kill()
            runner.wait(timeout=30)


def test_server_without_db_filter_falls_into_the_uninitialised_database_trap(stack: Project) -> None:
    """Real Odoo's monodb trap: one database, not initialised yet, no filter → /web/health 500.

    A role of its own keeps the other tests' databases out of this server's sight
    (Odoo only lists the databases the connecting user owns).
    """
    role, db = _db_name("trap"), _db_name("trapdb")
    psql = ["exec", "-T", "db", "psql", "-v", "ON_ERROR_STOP=1", "-U", "odoo", "-d", "postgres", "-c"]
    assert stack.compose(*psql, f"CREATE ROLE {role} LOGIN PASSWORD '{role}'").returncode == 0
    server = ["odoo", "--http-port", "8075", "--db_host", "db", "--db_user", role, "--db_password", role]
    assert stack.compose("exec", "-d", "odoo", *server).returncode == 0
    curl = ["curl", "-s", "-o", "/dev/null", "-w", "%{http_code}", "http://localhost:8075/web/health"]
    assert _wait_for(lambda: stack.exec_odoo(*curl).stdout == "200", timeout=20)
    assert stack.compose(*psql, f"CREATE DATABASE {db} OWNER {role}").returncode == 0
    assert stack.exec_odoo(*curl).stdout == "500"
    run = stack.exec_odoo(
        *module_test_argv(db, "fixture_pass", ["--db_host", "db", "--db_user", role, "--db_password", role])
    )
    assert run.returncode == 0, run.stderr
    assert stack.exec_odoo(*curl).stdout == "200"
    # The compose server has --db-filter=^$: it never picked any database up.
    assert stack.health()[0] == 200


# --- fault knobs -----------------------------------------------------------------------------


def test_crash_at_boot_knob(standin_images: dict[str, str]) -> None:
    with compose_project(FAULTS, env={"STANDIN_CRASH_AT_BOOT": "1"}) as project:
        assert project.compose("up", "-d", timeout=UP_TIMEOUT).returncode == 0

        def exited() -> dict | None:
            out = project.compose("ps", "-a", "--format", "json", "odoo").stdout
            states = [json.loads(line) for line in out.splitlines() if line.strip()]
            return next((s for s in states if s["State"] == "exited"), None)

        state = _wait_for(exited, timeout=60)
        assert state and state["ExitCode"] == 1
        assert "CRITICAL ? odoo.service.server:" in project.compose("logs", "odoo").stdout
        _assert_cleaned_up(project)


def test_boot_delay_and_never_ready_knobs(standin_images: dict[str, str]) -> None:
    env = {"STANDIN_BOOT_DELAY": "3", "STANDIN_NEVER_READY": "1"}
    with compose_project(FAULTS, env=env) as project:
        assert project.compose("up", "-d", timeout=UP_TIMEOUT).returncode == 0
        started = time.monotonic()
        assert project.health()[0] == 0  # nothing serves during the boot delay
        assert _wait_for(lambda: project.health()[0] == 503, timeout=30)
        assert time.monotonic() - started > 1.5
        for _ in range(3):
            assert project.health() == (503, '{"status": "fail"}')
            time.sleep(0.3)
        stopping = time.monotonic()
        assert project.compose("stop", "-t", "3", "odoo").returncode == 0
        assert time.monotonic() - stopping < 2.5  # SIGTERM handled, not killed after the timeout
        _assert_cleaned_up(project)
