"""The Docker engine: which one (the CLI's own choice, pinned for the SDK and the CLI alike), and
questions to it by the exact Compose project label (Docker SDK)."""

from __future__ import annotations

import contextlib
import dataclasses
import json
import os
import re
import shutil
import sys
import urllib.parse
from collections.abc import Callable, Mapping, MutableMapping
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import docker
import docker.errors
import docker.tls
from docker import DockerClient

from harness import proc
from harness.errors import EnvironmentProblem
from harness.records import Resources

PROJECT_LABEL = "com.docker.compose.project"
SERVICE_LABEL = "com.docker.compose.service"


# Where the Docker CLI talks when nothing names another engine.
DEFAULT_HOSTS = {"win32": "npipe:////./pipe/docker_engine"}
DEFAULT_HOST = "unix:///var/run/docker.sock"
# The endpoint this process pinned for the SDK and every CLI call (see use_endpoint).
_pinned: Endpoint | None = None


@dataclasses.dataclass(frozen=True)
class Endpoint:
    """One Docker engine as the CLI resolves it: DOCKER_HOST, else the current context."""

    host: str  # unix:///..., tcp://HOST:PORT, ssh://USER@HOST, npipe:////./pipe/...
    source: str  # "DOCKER_HOST", "context NAME" or "the default socket (no docker CLI)"
    context: str | None = None
    tls: bool = False
    tls_verify: bool = False
    cert_dir: str | None = None  # ca.pem, cert.pem, key.pem

    @property
    def scheme(self) -> str:
        """`unix`, `tcp`, `ssh`, `npipe`, ..."""
        return urllib.parse.urlsplit(self.host).scheme or "tcp"

    @property
    def remote_host(self) -> str | None:
        """The machine the engine runs on for tcp:// and ssh:// endpoints (None for local sockets)."""
        if self.scheme not in {"tcp", "ssh", "http", "https"}:
            return None
        host = self.host if "://" in self.host else f"tcp://{self.host}"
        return urllib.parse.urlsplit(host).hostname

    def describe(self) -> str:
        """`context 'desktop-linux' (unix:///...)` / `DOCKER_HOST=tcp://...` for messages."""
        if self.source == "DOCKER_HOST":
            return f"DOCKER_HOST={self.host}"
        return f"{self.source} ({self.host})"

    def cli_env(self) -> dict[str, str]:
        """What pins the docker CLI (and docker compose) to this endpoint: DOCKER_HOST wins over contexts."""
        env = {"DOCKER_HOST": self.host}
        if self.tls:
            env["DOCKER_TLS_VERIFY" if self.tls_verify else "DOCKER_TLS"] = "1"
        if self.cert_dir:
            env["DOCKER_CERT_PATH"] = self.cert_dir
        return env

    def client_kwargs(self, timeout: float) -> dict[str, Any]:
        """Arguments for docker.DockerClient that reach the same engine as the CLI."""
        kwargs: dict[str, Any] = {"base_url": self.host, "timeout": int(max(timeout, 1))}
        if self.scheme == "ssh":
            kwargs["use_ssh_client"] = True  # the system's ssh, as the CLI uses it (no paramiko)
        if self.tls:
            folder = Path(self.cert_dir) if self.cert_dir else None
            pem = {name: folder / f"{name}.pem" for name in ("ca", "cert", "key")} if folder else {}
            have = {name: str(path) for name, path in pem.items() if path.is_file()}
            kwargs["tls"] = docker.tls.TLSConfig(
                client_cert=(have["cert"], have["key"]) if "cert" in have and "key" in have else None,
                ca_cert=have.get("ca"),
                verify=self.tls_verify,
            )
        return kwargs


def _inspect_context(name: str | None, timeout: float) -> str:
    """`docker context inspect [NAME]`: JSON text; EnvironmentProblem when the CLI refuses."""
    result = proc.run(["docker", "context", "inspect", *([name] if name else [])], timeout=timeout)
    if not result.ok:
        which = f"context {name!r}" if name else "the current Docker context"
        raise EnvironmentProblem(
            f"cannot read {which} (`docker context inspect` exit {result.returncode}: "
            f"{result.stderr.strip() or result.stdout.strip()}); "
            "`docker context ls` lists the contexts, `docker context use NAME` selects one"
        )
    return result.stdout


def endpoint_from_context(text: str) -> Endpoint:
    """The endpoint a `docker context inspect` output describes (host, TLS material)."""
    try:
        data = json.loads(text)
        entry = data[0] if isinstance(data, list) else data
        name = str(entry["Name"])
        docker_endpoint = entry["Endpoints"]["docker"]
        host = str(docker_endpoint["Host"])
    except (ValueError, LookupError, TypeError) as exc:
        raise EnvironmentProblem(f"cannot understand `docker context inspect` output ({exc!r})") from None
    material = (entry.get("TLSMaterial") or {}).get("docker") or []
    tls_path = (entry.get("Storage") or {}).get("TLSPath") or ""
    cert_dir = str(Path(tls_path) / "docker") if material and tls_path else None
    skip_verify = bool(docker_endpoint.get("SkipTLSVerify"))
    # A context with TLS material speaks TLS; SkipTLSVerify only turns off the server check.
    tls = bool(cert_dir) or (skip_verify and host.startswith("tcp://"))
    return Endpoint(host, f"context {name!r}", name, tls, tls and not skip_verify, cert_dir)


def resolve_endpoint(
    env: Mapping[str, str] | None = None,
    *,
    inspect: Callable[[str | None, float], str] | None = None,
    platform: str | None = None,
    timeout: float = 30.0,
) -> Endpoint:
    """The engine the `docker` CLI would use here: DOCKER_HOST, else DOCKER_CONTEXT, else the current context."""
    env = os.environ if env is None else env
    host = env.get("DOCKER_HOST", "")
    if host:
        if _pinned is not None and _pinned.host == host:
            return _pinned
        tls = bool(env.get("DOCKER_TLS_VERIFY") or env.get("DOCKER_TLS"))
        cert_dir = env.get("DOCKER_CERT_PATH") or (str(Path.home() / ".docker") if tls else None)
        return Endpoint(host, "DOCKER_HOST", None, tls, bool(env.get("DOCKER_TLS_VERIFY")), cert_dir)
    if inspect is None:
        if shutil.which("docker") is None:
            default = DEFAULT_HOSTS.get(platform or sys.platform, DEFAULT_HOST)
            return Endpoint(default, "the default socket (no docker CLI on PATH)")
        inspect = _inspect_context
    return endpoint_from_context(inspect(env.get("DOCKER_CONTEXT") or None, timeout))


def use_endpoint(endpoint: Endpoint, environ: MutableMapping[str, str] | None = None) -> None:
    """Pin `endpoint` for every later CLI call of this process and its children (compose, exec, the watchdog).

    The SDK is given the same endpoint explicitly, so both talk to one engine even if
    the user switches contexts during a run.
    """
    global _pinned
    environ = os.environ if environ is None else environ
    for key in ("DOCKER_TLS_VERIFY", "DOCKER_TLS", "DOCKER_CERT_PATH"):
        environ.pop(key, None)
    environ.update(endpoint.cli_env())
    _pinned = endpoint


def current_endpoint() -> Endpoint | None:
    """The endpoint this process pinned, or None before the first connect."""
    return _pinned


def unreachable_hint(endpoint: Endpoint, platform: str | None = None) -> str:
    """What to do when `endpoint` does not answer, for the machine the user is on."""
    platform = platform or sys.platform
    if endpoint.remote_host:
        return f"check that {endpoint.remote_host} is reachable from here and that its Docker engine runs"
    if platform == "darwin" or platform == "win32":
        return (
            "start Docker Desktop (or the engine behind that context, e.g. `colima start`); "
            "`docker context ls` lists the contexts, `docker context use NAME` selects one"
        )
    if endpoint.host == DEFAULT_HOST:
        return "start it: `bash scripts/provision-engine.sh` installs and starts Docker Engine with Compose v2"
    return (
        "start the engine behind it (rootless Docker: `systemctl --user start docker`; a system engine: "
        "`bash scripts/provision-engine.sh`) or select another context with `docker context use NAME`"
    )


def connect(timeout: float) -> DockerClient:
    """A client for the engine the `docker` CLI uses, pinned for both; EnvironmentProblem when it does not answer."""
    endpoint = resolve_endpoint(timeout=timeout)
    use_endpoint(endpoint)
    try:
        client = docker.DockerClient(**endpoint.client_kwargs(timeout))
        client.ping()
    except docker.errors.DockerException as exc:
        raise EnvironmentProblem(
            f"the Docker engine of {endpoint.describe()} does not answer ({exc}); {unreachable_hint(endpoint)}"
        ) from None
    return client


def _label(project: str) -> dict[str, list[str]]:
    return {"label": [f"{PROJECT_LABEL}={project}"]}


def project_resources(client: DockerClient, project: str) -> Resources:
    """Everything on the engine labelled `com.docker.compose.project=<project>`, stopped containers included."""
    filters = _label(project)
    return Resources(
        containers=tuple(sorted(_container_name(c) for c in client.api.containers(all=True, filters=filters))),
        networks=tuple(sorted(n.name for n in client.networks.list(filters=filters))),
        volumes=tuple(sorted(v.name for v in client.volumes.list(filters=filters))),
    )


def _container_name(summary: dict[str, Any]) -> str:
    # From a listing entry: no per-container inspect, which fails for a container removed meanwhile.
    names = summary.get("Names") or [str(summary.get("Id", "?"))[:12]]
    return str(names[0]).lstrip("/")


def remove_project_resources(client: DockerClient, project: str) -> None:
    """Force-remove what `down` left, found by the exact project label only (never `prune`)."""
    filters = _label(project)
    for container in client.api.containers(all=True, filters=filters):
        with contextlib.suppress(docker.errors.NotFound):
            client.api.remove_container(container["Id"], force=True, v=True)
    for network in client.networks.list(filters=filters):
        with contextlib.suppress(docker.errors.NotFound):
            network.remove()
    for volume in client.volumes.list(filters=filters):
        with contextlib.suppress(docker.errors.NotFound):
            volume.remove(force=True)


@dataclasses.dataclass(frozen=True)
class ContainerState:
    """A service container's status (`running`, `exited`, ...) and health (`starting`, `healthy`, ...)."""

    status: str
    health: str | None
    exit_code: int | None


def service_state(client: DockerClient, project: str, service: str) -> ContainerState | None:
    """The state of `service`'s container in `project`, or None when it does not exist yet."""
    filters = {"label": [f"{PROJECT_LABEL}={project}", f"{SERVICE_LABEL}={service}"]}
    listed = client.api.containers(all=True, filters=filters)
    if not listed:
        return None
    try:
        state = client.api.inspect_container(listed[0]["Id"]).get("State", {})
    except docker.errors.NotFound:
        return None
    health = (state.get("Health") or {}).get("Status")
    exited = state.get("Status") in {"exited", "dead"}
    return ContainerState(str(state.get("Status", "unknown")), health, state.get("ExitCode") if exited else None)


def published_ports(client: DockerClient) -> set[int]:
    """Host ports that running containers publish (seen even when no host socket holds them)."""
    ports: set[int] = set()
    for container in client.api.containers():
        for binding in container.get("Ports") or []:
            if binding.get("PublicPort"):
                ports.add(int(binding["PublicPort"]))
    return ports


@dataclasses.dataclass(frozen=True)
class ProjectInfo:
    """A Compose project found on the engine: its name and its oldest container's creation time."""

    name: str
    created: datetime | None


# Docker's RFC 3339 times: seconds, an optional fraction of any length (Docker gives nanoseconds),
# and `Z` or a UTC offset (an engine whose clock is set to local time writes `-08:00`).
_RFC3339 = re.compile(r"(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d)(?:\.(\d+))?(Z|[+-]\d\d:\d\d)?$", re.IGNORECASE)


def parse_created(text: str) -> datetime | None:
    """A Docker timestamp as an aware UTC datetime; None when it is not one.

    The offset is honoured (Python's fromisoformat before 3.11 takes no `Z` and no nanoseconds,
    and dropping the offset made a project on a host west of UTC look hours older than it is).
    A time without any zone is Docker's UTC.
    """
    match = _RFC3339.match(text.strip())
    if match is None:
        return None
    head, fraction, zone = match.groups()
    zone = "+00:00" if zone is None or zone.upper() == "Z" else zone
    try:
        parsed = datetime.fromisoformat(f"{head}.{(fraction or '0')[:6].ljust(6, '0')}{zone}")
    except ValueError:
        return None
    return parsed.astimezone(timezone.utc)


def list_projects(client: DockerClient, name_prefix: str) -> list[ProjectInfo]:
    """Compose projects whose name starts with `name_prefix`, from containers, networks and volumes."""
    found: dict[str, datetime | None] = {}

    def note(name: str, created: datetime | None) -> None:
        if not name.startswith(name_prefix):
            return
        known = found.get(name)
        found[name] = created if known is None or (created is not None and created < known) else known

    filters = {"label": [PROJECT_LABEL]}
    for container in client.api.containers(all=True, filters=filters):
        created = container.get("Created")
        note(
            (container.get("Labels") or {}).get(PROJECT_LABEL, ""),
            datetime.fromtimestamp(created, timezone.utc) if isinstance(created, int) else None,
        )
    for network in client.networks.list(filters=filters):
        note(network.attrs.get("Labels", {}).get(PROJECT_LABEL, ""), parse_created(network.attrs.get("Created", "")))
    for volume in client.volumes.list(filters=filters):
        labels = volume.attrs.get("Labels") or {}
        note(labels.get(PROJECT_LABEL, ""), parse_created(volume.attrs.get("CreatedAt", "")))
    return [ProjectInfo(name, created) for name, created in sorted(found.items())]
