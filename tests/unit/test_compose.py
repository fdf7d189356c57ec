"""`docker compose` argument lists, the port-clash detector and the environment (no Docker run)."""

from __future__ import annotations

from pathlib import Path

import pytest

from harness import proc
from harness.compose import Compose, is_port_clash
from harness.docker_cli import DockerCommandFailed
from harness.errors import EnvironmentProblem
from tests.unit.pinned import DOCKER

F1 = Path("/repo/docker-compose.agent.yml")
F2 = Path("/repo/override.yml")


@pytest.fixture
def calls(monkeypatch):
    """Record what Compose would run instead of running it."""
    recorded: list[dict] = []

    def fake_run(argv, *, timeout, env=None, on_spawn=None):
        recorded.append({"argv": list(argv), "timeout": timeout, "env": env, "on_spawn": on_spawn})
        return proc.Result(tuple(argv), 0, "odoo\ndb\n\n", "", 0.01)

    def fake_stream(argv, on_line, *, timeout, env=None, on_spawn=None, on_idle=None):
        recorded.append({"argv": list(argv), "timeout": timeout, "env": env, "on_spawn": on_spawn})
        for line in ("Container p-db-1  Started", "Container p-odoo-1  Started"):
            on_line(line)
        return proc.StreamResult(0, 0.01, False)

    monkeypatch.setattr(proc, "run", fake_run)
    monkeypatch.setattr(proc, "stream", fake_stream)
    return recorded


def test_argv_order():
    compose = Compose("hub-agent-test-x-1-abc", (F1, F2))
    assert compose.argv("up", "-d") == [
        *DOCKER, "compose", "-p", "hub-agent-test-x-1-abc", "-f", str(F1), "-f", str(F2), "up", "-d",
    ]  # fmt: skip


def test_argv_without_files_names_only_the_project():
    assert Compose("p", ()).argv("down") == [*DOCKER, "compose", "-p", "p", "down"]


def test_up_streams_its_output_and_returns_it(calls):
    seen: list[str] = []
    result = Compose("p", (F1,)).up(timeout=600, on_line=seen.append)
    assert calls[0]["argv"] == [*DOCKER, "compose", "-p", "p", "-f", str(F1), "up", "-d", "--no-color"]
    assert calls[0]["timeout"] == 600
    assert seen == ["Container p-db-1  Started", "Container p-odoo-1  Started"]
    assert result.ok and result.output == "Container p-db-1  Started\nContainer p-odoo-1  Started"


def test_up_past_its_timeout_is_an_environment_problem(monkeypatch):
    monkeypatch.setattr(proc, "stream", lambda argv, on_line, **kw: proc.StreamResult(None, 5.0, True))
    with pytest.raises(EnvironmentProblem, match="did not finish within 5 s"):
        Compose("p", (F1,)).up(timeout=5)


def test_every_compose_process_is_reported_to_the_listener(calls):
    pids: list[int] = []
    compose = Compose("p", (F1,), on_spawn=pids.append)
    compose.up(timeout=600)
    compose.down(stop_timeout=3, timeout=120)
    assert [call["on_spawn"] for call in calls] == [pids.append, pids.append]
    assert compose == Compose("p", (F1,))  # the listener is no part of the project's identity


def test_down_removes_volumes_and_orphans_with_a_stop_timeout(calls):
    Compose("p", (F1, F2)).down(stop_timeout=3, timeout=120)
    argv = calls[0]["argv"]
    assert argv[:10] == [*DOCKER, "compose", "-p", "p", "-f", str(F1), "-f", str(F2)]
    assert argv[10:] == ["down", "-v", "--remove-orphans", "-t", "3"]
    assert calls[0]["timeout"] == 120


def test_exec_argv_has_no_tty():
    argv = Compose("p", (F1,)).exec_argv("odoo", ["odoo", "-d", "db", "--test-tags", "/traction"])
    assert argv == [*DOCKER, "compose", "-p", "p", "-f", str(F1), "exec", "-T", "odoo",
                    "odoo", "-d", "db", "--test-tags", "/traction"]  # fmt: skip


def test_services_parses_the_config_output(calls):
    assert Compose("p", (F1,)).services(timeout=60) == ["odoo", "db"]
    assert calls[0]["argv"][-2:] == ["config", "--services"]


def test_services_fails_with_the_command_its_code_and_its_output_when_config_fails(monkeypatch):
    monkeypatch.setattr(proc, "run", lambda argv, **kw: proc.Result(tuple(argv), 1, "odoo\n", "boom", 0.0))
    with pytest.raises(DockerCommandFailed) as caught:
        Compose("p", (F1,)).services(timeout=60)
    assert caught.value.returncode == 1 and caught.value.argv[-2:] == ("config", "--services")
    assert caught.value.message == "`docker compose config` failed (exit 1): odoo\nboom"
    assert caught.value.exit_code == 3


def test_logs_returns_both_streams(monkeypatch):
    seen = []

    def fake_run(argv, **kw):
        seen.append(list(argv))
        return proc.Result(tuple(argv), 0, "out\n", "err\n", 0.0)

    monkeypatch.setattr(proc, "run", fake_run)
    assert Compose("p", ()).logs("odoo", timeout=60) == "out\nerr\n"
    assert seen[0][-4:] == ["logs", "--no-color", "--timestamps", "odoo"]


def test_environment_merges_the_callers_with_the_project_vars(monkeypatch):
    monkeypatch.setenv("HARNESS_UNIT_MARKER", "from-os")
    monkeypatch.setenv("ODOO_PORT", "1")
    compose = Compose("p", (F1,), {"ODOO_PORT": "8091", "HARNESS_ADDONS_PATH": "/x/addons"})
    env = compose.environment()
    assert env["HARNESS_UNIT_MARKER"] == "from-os"
    assert env["ODOO_PORT"] == "8091"  # the project's value wins
    assert env["HARNESS_ADDONS_PATH"] == "/x/addons"
    assert "PATH" in env


def test_run_passes_the_merged_environment(calls, monkeypatch):
    monkeypatch.setenv("HARNESS_UNIT_MARKER", "from-os")
    Compose("p", (F1,), {"ODOO_PORT": "8092"}).up(timeout=1)
    env = calls[0]["env"]
    assert env["ODOO_PORT"] == "8092"
    assert env["HARNESS_UNIT_MARKER"] == "from-os"


def test_compose_env_for_one_run(tmp_path):
    from harness.compose import compose_env
    from harness.config import Config

    config = Config(root=tmp_path).with_overrides(addons_path=Path("addons"), db_user="u", db_password="pw")
    env = compose_env(config, 8093)
    admin = env.pop("HARNESS_ADMIN_PASSWORD")
    assert env == {
        "ODOO_PORT": "8093",
        "HARNESS_PUBLISH_HOST": "127.0.0.1",
        "HARNESS_ADDONS_PATH": str(tmp_path / "addons"),
        "HARNESS_CONTAINER_ADDONS_PATH": "/mnt/extra-addons",
        "HARNESS_DB_USER": "u",
        "HARNESS_DB_PASSWORD": "pw",
    }
    # A master password of the run's own: long, random, never Odoo's default.
    assert len(admin) >= 24 and admin != "admin"
    assert compose_env(config, 8093)["HARNESS_ADMIN_PASSWORD"] != admin


@pytest.mark.parametrize(
    "output",
    [
        "Error response from daemon: driver failed programming external connectivity on endpoint "
        "hub-agent-test-x-odoo-1 (3f2a): Bind for 127.0.0.1:8090 failed: port is already allocated",
        "Error response from daemon: driver failed programming external connectivity on endpoint "
        "hub-agent-test-x-odoo-1 (3f2a): Error starting userland proxy: listen tcp4 127.0.0.1:8090: "
        "bind: address already in use",
        " Container hub-agent-test-x-db-1  Started\nError: Bind for 0.0.0.0:8090 failed: Port Is Already Allocated",
        "failed to listen on 127.0.0.1:8090: ADDRESS ALREADY IN USE",
    ],
)
def test_port_clash_is_recognised(output):
    assert is_port_clash(output)


@pytest.mark.parametrize(
    "output",
    [
        "",
        "Error response from daemon: pull access denied for hub-odoo, repository does not exist",
        "Error response from daemon: driver failed programming external connectivity on endpoint x: "
        "iptables failed: No chain/target/match by that name",
        "network hub-agent-test-x_default not found",
        "service odoo: port 8090 is invalid",
        "Cannot connect to the Docker daemon at unix:///var/run/docker.sock. Is the docker daemon running?",
    ],
)
def test_other_errors_are_not_a_port_clash(output):
    assert not is_port_clash(output)


def test_up_failure_hint_names_the_missing_image_remedy() -> None:
    from harness.compose import up_failure_hint

    pull = 'Error response from daemon: Get "https://example.invalid/v2/": dial tcp: lookup: no such host'
    assert "ODOO_IMAGE" in up_failure_hint(pull)
    assert "ODOO_IMAGE" in up_failure_hint("Error: No such image: hub-harness/does-not-exist:none")
    assert up_failure_hint("Error: port is already allocated") == ""
