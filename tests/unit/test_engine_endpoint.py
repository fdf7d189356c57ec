"""Which engine: DOCKER_HOST, else the CLI's context, pinned for the SDK and every CLI call alike.

No engine and no docker CLI are needed: `docker context inspect` is faked with the output
the CLI prints for Docker Desktop on macOS, a TLS context and an ssh context.
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

import docker.errors
import pytest

from harness import docker_cli, engine, proc
from harness.compose import Compose
from harness.errors import EnvironmentProblem
from harness.readiness import health_url, poll_host

DESKTOP = """[
    {
        "Name": "desktop-linux",
        "Metadata": {"Description": "Docker Desktop"},
        "Endpoints": {"docker": {"Host": "unix:///Users/ana/.docker/run/docker.sock", "SkipTLSVerify": false}},
        "TLSMaterial": {},
        "Storage": {
            "MetadataPath": "/Users/ana/.docker/contexts/meta/fe9c",
            "TLSPath": "/Users/ana/.docker/contexts/tls/fe9c"
        }
    }
]"""


def tls_context(tls_path: Path, *, skip_verify: bool = False) -> str:
    return json.dumps(
        [
            {
                "Name": "build-box",
                "Metadata": {},
                "Endpoints": {"docker": {"Host": "tcp://build.example.test:2376", "SkipTLSVerify": skip_verify}},
                "TLSMaterial": {"docker": ["ca.pem", "cert.pem", "key.pem"]},
                "Storage": {"MetadataPath": "/x", "TLSPath": str(tls_path)},
            }
        ]
    )


SSH = json.dumps(
    [
        {
            "Name": "remote",
            "Metadata": {},
            "Endpoints": {"docker": {"Host": "ssh://deploy@docker-host.example.test", "SkipTLSVerify": False}},
            "TLSMaterial": {},
            "Storage": {"MetadataPath": "/x", "TLSPath": "/y"},
        }
    ]
)


class Inspect:
    """A fake `docker context inspect [NAME]` that records the names it was asked for."""

    def __init__(self, output: str) -> None:
        self.output = output
        self.asked: list[str | None] = []

    def __call__(self, name: str | None, timeout: float) -> str:
        self.asked.append(name)
        return self.output


def never(name: str | None, timeout: float) -> str:
    raise AssertionError("DOCKER_HOST is set: no context may be read")


@pytest.fixture(autouse=True)
def fresh_pin(monkeypatch):
    """Every test starts unpinned, and os.environ's DOCKER_* come back as they were."""
    monkeypatch.setattr(docker_cli, "_pinned", None)
    for key in ("DOCKER_HOST", "DOCKER_CONTEXT", "DOCKER_TLS_VERIFY", "DOCKER_TLS", "DOCKER_CERT_PATH"):
        monkeypatch.setenv(key, "placeholder")  # recorded, so teardown restores the real value or absence
        monkeypatch.delenv(key)


# --- resolution


def test_docker_host_wins_over_docker_context():
    env = {"DOCKER_HOST": "tcp://10.0.0.5:2375", "DOCKER_CONTEXT": "desktop-linux"}
    endpoint = docker_cli.resolve_endpoint(env, inspect=never)
    assert endpoint.host == "tcp://10.0.0.5:2375"
    assert endpoint.describe() == "DOCKER_HOST=tcp://10.0.0.5:2375"
    assert not endpoint.tls


def test_docker_host_with_tls_variables():
    env = {"DOCKER_HOST": "tcp://h:2376", "DOCKER_TLS_VERIFY": "1", "DOCKER_CERT_PATH": "/certs"}
    endpoint = docker_cli.resolve_endpoint(env, inspect=never)
    assert endpoint.tls and endpoint.tls_verify and endpoint.cert_dir == "/certs"
    assert endpoint.cli_env() == {"DOCKER_HOST": "tcp://h:2376", "DOCKER_TLS_VERIFY": "1", "DOCKER_CERT_PATH": "/certs"}


def test_docker_context_variable_names_the_context_to_inspect():
    inspect = Inspect(DESKTOP)
    endpoint = docker_cli.resolve_endpoint({"DOCKER_CONTEXT": "desktop-linux"}, inspect=inspect)
    assert inspect.asked == ["desktop-linux"]
    assert endpoint.host == "unix:///Users/ana/.docker/run/docker.sock"
    assert endpoint.context == "desktop-linux"
    assert endpoint.describe() == "context 'desktop-linux' (unix:///Users/ana/.docker/run/docker.sock)"


def test_without_variables_the_current_context_is_inspected():
    inspect = Inspect(DESKTOP)
    endpoint = docker_cli.resolve_endpoint({}, inspect=inspect)
    assert inspect.asked == [None]
    assert endpoint.host.endswith("/.docker/run/docker.sock")
    assert endpoint.remote_host is None
    assert endpoint.cli_env() == {"DOCKER_HOST": "unix:///Users/ana/.docker/run/docker.sock"}


def test_a_context_with_tls_material_gives_the_sdk_and_the_cli_the_certificates(tmp_path):
    (tmp_path / "docker").mkdir()
    for name in ("ca.pem", "cert.pem", "key.pem"):
        (tmp_path / "docker" / name).write_text("-----BEGIN-----\n")
    endpoint = docker_cli.resolve_endpoint({}, inspect=Inspect(tls_context(tmp_path)))
    assert endpoint.tls and endpoint.tls_verify
    assert endpoint.cert_dir == str(tmp_path / "docker")
    assert endpoint.remote_host == "build.example.test"
    assert endpoint.cli_env() == {
        "DOCKER_HOST": "tcp://build.example.test:2376",
        "DOCKER_TLS_VERIFY": "1",
        "DOCKER_CERT_PATH": str(tmp_path / "docker"),
    }
    certs = tmp_path / "docker"
    assert endpoint.cli_flags() == [
        "--host", "tcp://build.example.test:2376", "--tlsverify",
        "--tlscacert", str(certs / "ca.pem"), "--tlscert", str(certs / "cert.pem"), "--tlskey", str(certs / "key.pem"),
    ]  # fmt: skip
    kwargs = engine.client_kwargs(endpoint, 30)
    assert kwargs["base_url"] == "tcp://build.example.test:2376"
    tls = kwargs["tls"]
    assert tls.cert == (str(tmp_path / "docker" / "cert.pem"), str(tmp_path / "docker" / "key.pem"))
    assert tls.ca_cert == str(tmp_path / "docker" / "ca.pem")
    assert tls.verify is True


def test_skip_tls_verify_keeps_tls_without_checking_the_server(tmp_path):
    (tmp_path / "docker").mkdir()
    endpoint = docker_cli.resolve_endpoint({}, inspect=Inspect(tls_context(tmp_path, skip_verify=True)))
    assert endpoint.tls and not endpoint.tls_verify
    assert endpoint.cli_env()["DOCKER_TLS"] == "1"
    assert "DOCKER_TLS_VERIFY" not in endpoint.cli_env()
    assert endpoint.cli_flags() == ["--host", "tcp://build.example.test:2376", "--tls"]


def test_an_ssh_context_uses_the_system_ssh_for_the_sdk():
    endpoint = docker_cli.resolve_endpoint({}, inspect=Inspect(SSH))
    assert endpoint.remote_host == "docker-host.example.test"
    kwargs = engine.client_kwargs(endpoint, 30)
    assert kwargs["base_url"] == "ssh://deploy@docker-host.example.test"
    assert kwargs["use_ssh_client"] is True


def test_an_unknown_context_is_named_in_the_error(monkeypatch):
    monkeypatch.setattr(docker_cli.shutil, "which", lambda name: "/usr/bin/docker")
    refused = proc.Result(("docker",), 1, "", 'context "nope": context not found', 0.1)
    monkeypatch.setattr(engine.proc, "run", lambda argv, timeout: refused)
    with pytest.raises(EnvironmentProblem) as caught:
        docker_cli.resolve_endpoint({"DOCKER_CONTEXT": "nope"})
    assert "context 'nope'" in caught.value.message
    assert "docker context ls" in caught.value.message


def test_unreadable_inspect_output_is_an_environment_problem():
    with pytest.raises(EnvironmentProblem, match="cannot understand"):
        docker_cli.resolve_endpoint({}, inspect=Inspect("[]"))


@pytest.mark.parametrize(
    ("platform", "host"), [("linux", docker_cli.DEFAULT_HOST), ("win32", "npipe:////./pipe/docker_engine")]
)
def test_without_a_docker_cli_the_platform_default(monkeypatch, platform, host):
    monkeypatch.setattr(docker_cli.shutil, "which", lambda name: None)
    endpoint = docker_cli.resolve_endpoint({}, platform=platform)
    assert endpoint.host == host
    assert "no docker CLI" in endpoint.source


# --- one endpoint for the SDK and every CLI call


class FakeClient:
    made: list[dict] = []

    def __init__(self, **kwargs) -> None:
        FakeClient.made.append(kwargs)

    def ping(self) -> bool:
        return True


def test_connect_gives_the_sdk_and_the_cli_the_same_endpoint(monkeypatch):
    monkeypatch.setattr(docker_cli.shutil, "which", lambda name: "/usr/bin/docker")
    monkeypatch.setattr(docker_cli, "_inspect_context", Inspect(DESKTOP))
    FakeClient.made = []
    monkeypatch.setattr(engine.docker, "DockerClient", FakeClient)
    engine.connect(10)
    sdk_host = FakeClient.made[0]["base_url"]
    assert sdk_host == "unix:///Users/ana/.docker/run/docker.sock"
    # Every CLI call after it (compose, exec, down) names the pinned engine in its argv; os.environ is not touched.
    assert "DOCKER_HOST" not in os.environ
    assert Compose("p", ()).argv("ps")[:3] == ["docker", "--host", sdk_host]
    assert docker_cli.argv("image", "ls")[:3] == ["docker", "--host", sdk_host]
    assert docker_cli.current_endpoint().context == "desktop-linux"
    # A second connect resolves to the pinned endpoint without asking the CLI again.
    monkeypatch.setattr(docker_cli, "_inspect_context", never)
    engine.connect(10)
    assert FakeClient.made[1]["base_url"] == sdk_host
    assert docker_cli.current_endpoint().context == "desktop-linux"


def test_a_child_docker_cli_gets_no_stale_engine_settings_and_the_pin_in_its_argv(monkeypatch):
    monkeypatch.setenv("DOCKER_TLS_VERIFY", "1")
    monkeypatch.setenv("DOCKER_CERT_PATH", "/old")
    monkeypatch.setenv("DOCKER_CONTEXT", "elsewhere")
    docker_cli.pin(docker_cli.Endpoint("unix:///run/user/1000/docker.sock", "context 'rootless'", "rootless"))
    env = docker_cli.environment({"ODOO_PORT": "8090"})
    assert not {"DOCKER_TLS_VERIFY", "DOCKER_CERT_PATH", "DOCKER_CONTEXT", "DOCKER_HOST"} & set(env)
    assert env["ODOO_PORT"] == "8090" and env["PATH"] == os.environ["PATH"]
    assert docker_cli.argv("ps") == ["docker", "--host", "unix:///run/user/1000/docker.sock", "ps"]
    assert os.environ["DOCKER_CONTEXT"] == "elsewhere"  # read, never written


class DeadClient:
    def __init__(self, **kwargs) -> None:
        raise docker.errors.DockerException("Error while fetching server API version: connection refused")


def test_an_unreachable_desktop_context_is_named_and_not_sent_to_the_linux_script(monkeypatch):
    monkeypatch.setattr(sys, "platform", "darwin")
    monkeypatch.setattr(docker_cli.shutil, "which", lambda name: "/usr/local/bin/docker")
    monkeypatch.setattr(docker_cli, "_inspect_context", Inspect(DESKTOP))
    monkeypatch.setattr(engine.docker, "DockerClient", DeadClient)
    with pytest.raises(EnvironmentProblem) as caught:
        engine.connect(5)
    message = caught.value.message
    assert "context 'desktop-linux'" in message
    assert "unix:///Users/ana/.docker/run/docker.sock" in message
    assert "Docker Desktop" in message
    assert "provision-engine.sh" not in message


def test_an_unreachable_local_linux_engine_points_to_the_provisioning_script(monkeypatch):
    monkeypatch.setattr(sys, "platform", "linux")
    monkeypatch.setenv("DOCKER_HOST", docker_cli.DEFAULT_HOST)
    monkeypatch.setattr(engine.docker, "DockerClient", DeadClient)
    with pytest.raises(EnvironmentProblem, match="provision-engine.sh"):
        engine.connect(5)


def test_an_unreachable_remote_engine_names_its_host(monkeypatch):
    monkeypatch.setenv("DOCKER_HOST", "tcp://10.1.2.3:2375")
    monkeypatch.setattr(engine.docker, "DockerClient", DeadClient)
    with pytest.raises(EnvironmentProblem) as caught:
        engine.connect(5)
    assert "DOCKER_HOST=tcp://10.1.2.3:2375" in caught.value.message
    assert "10.1.2.3 is reachable" in caught.value.message
    assert "provision-engine.sh" not in caught.value.message


# --- readiness polls where Docker publishes


@pytest.mark.parametrize(
    ("host", "publish_host", "expected"),
    [
        ("tcp://10.1.2.3:2375", "127.0.0.1", "10.1.2.3"),
        ("ssh://deploy@docker-host.example.test", "127.0.0.1", "docker-host.example.test"),
        ("unix:///var/run/docker.sock", "127.0.0.1", "127.0.0.1"),
        ("unix:///Users/ana/.docker/run/docker.sock", "127.0.0.1", "127.0.0.1"),
        ("npipe:////./pipe/docker_engine", "127.0.0.1", "127.0.0.1"),
        ("unix:///var/run/docker.sock", "0.0.0.0", "127.0.0.1"),
        ("unix:///var/run/docker.sock", "192.168.1.20", "192.168.1.20"),
    ],
)
def test_poll_host(host, publish_host, expected):
    assert poll_host(publish_host, docker_cli.Endpoint(host, "DOCKER_HOST")) == expected


def test_health_url_uses_the_pinned_engine_and_brackets_ipv6():
    assert health_url("127.0.0.1", 8090) == "http://127.0.0.1:8090/web/health"  # nothing pinned: local
    docker_cli.pin(docker_cli.Endpoint("tcp://10.1.2.3:2375", "DOCKER_HOST"))
    assert health_url("127.0.0.1", 8090) == "http://10.1.2.3:8090/web/health"
    assert health_url("::1", 8091, docker_cli.Endpoint(docker_cli.DEFAULT_HOST, "x")) == "http://[::1]:8091/web/health"
