"""The Docker engine: the SDK client for the pinned engine, what carries a project's label, and images.

Which engine is harness.docker_cli's to say (pinned once for the SDK and the CLI alike); this
module asks it by the exact Compose project label (Docker SDK), and owns the image, commit and
run helpers the database cache and the dependency reader need (through docker_cli's one runner).
"""

from __future__ import annotations

import contextlib
import dataclasses
import re
from collections.abc import Callable, Iterable, Sequence
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import docker
import docker.errors
import docker.tls
from docker import DockerClient

from harness import docker_cli, proc
from harness.docker_cli import Endpoint
from harness.errors import EnvironmentProblem
from harness.records import Resources

PROJECT_LABEL = "com.docker.compose.project"
SERVICE_LABEL = "com.docker.compose.service"


def client_kwargs(endpoint: Endpoint, timeout: float) -> dict[str, Any]:
    """Arguments for docker.DockerClient that reach the same engine as the CLI."""
    kwargs: dict[str, Any] = {"base_url": endpoint.host, "timeout": int(max(timeout, 1))}
    if endpoint.scheme == "ssh":
        kwargs["use_ssh_client"] = True  # the system's ssh, as the CLI uses it (no paramiko)
    if endpoint.tls:
        folder = Path(endpoint.cert_dir) if endpoint.cert_dir else None
        pem = {name: folder / f"{name}.pem" for name in ("ca", "cert", "key")} if folder else {}
        have = {name: str(path) for name, path in pem.items() if path.is_file()}
        kwargs["tls"] = docker.tls.TLSConfig(
            client_cert=(have["cert"], have["key"]) if "cert" in have and "key" in have else None,
            ca_cert=have.get("ca"),
            verify=endpoint.tls_verify,
        )
    return kwargs


def connect(timeout: float) -> DockerClient:
    """A client for the engine the `docker` CLI uses, pinned for both; EnvironmentProblem when it does not answer."""
    endpoint = docker_cli.pin(docker_cli.resolve_endpoint(timeout=timeout))
    try:
        client = docker.DockerClient(**client_kwargs(endpoint, timeout))
        client.ping()
    except docker.errors.DockerException as exc:
        hint = docker_cli.unreachable_hint(endpoint)
        raise EnvironmentProblem(
            f"the Docker engine of {endpoint.describe()} does not answer ({exc}); {hint}"
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


# --- images, commits and one-off containers: the CLI, through docker_cli's runner


def inspect_image(reference: str, fmt: str, timeout: float) -> str | None:
    """`docker image inspect --format FMT REF`, or None when the engine has no such image."""
    result = docker_cli.run(["image", "inspect", "--format", fmt, reference], timeout=timeout, check=False)
    return result.stdout.strip() if result.ok else None


def image_id(reference: str, timeout: float) -> str | None:
    """The engine's ID of an image reference, or None when the engine has no such image."""
    return inspect_image(reference, "{{.Id}}", timeout) or None


def build_image(
    context: Path, tag: str, on_line: Callable[[str], None], timeout: float, *, network: str | None = None
) -> proc.StreamResult:
    """`docker build --pull=false [--network N] -t TAG CONTEXT`, its output to `on_line` as it comes."""
    args = ["build", "--pull=false", *(["--network", network] if network else []), "-t", tag, str(context)]
    return docker_cli.stream(args, on_line, timeout=timeout)


def list_images(filters: Iterable[str], timeout: float, *, fmt: str | None = None) -> list[str]:
    """`docker image ls` with `--filter F` for each filter: image IDs, or `fmt` per image."""
    args = ["image", "ls", *(part for f in filters for part in ("--filter", f))]
    args += ["--format", fmt] if fmt else ["-q"]
    return docker_cli.run(args, timeout=timeout, what="listing images").stdout.split()


def remove_images(references: Sequence[str], timeout: float) -> proc.Result:
    """`docker rmi REFS` (never --force: an image a container still runs on stays); the caller reads the result."""
    return docker_cli.run(["rmi", *references], timeout=timeout, check=False)


def commit(container: str, image: str, changes: Iterable[str], timeout: float, *, what: str = "") -> None:
    """`docker commit --pause=true` a container as `image`, with Dockerfile `changes` (LABEL, ENV)."""
    args = ["commit", "--pause=true", *(part for c in changes for part in ("--change", c)), container, image]
    docker_cli.run(args, timeout=timeout, what=what or "docker commit")


def run_image(image: str, command: Sequence[str], timeout: float, *, entrypoint: str) -> proc.Result:
    """A one-off container of `image` without network, removed when it ends; the caller reads the result."""
    args = ["run", "--rm", "--entrypoint", entrypoint, "--network", "none", image, *command]
    return docker_cli.run(args, timeout=timeout, check=False)
