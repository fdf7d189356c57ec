"""Questions to the Docker engine, by the exact Compose project label (Docker SDK)."""

from __future__ import annotations

import contextlib
import dataclasses
from datetime import datetime, timezone
from typing import Any

import docker
import docker.errors
from docker import DockerClient

from harness.errors import EnvironmentProblem

PROJECT_LABEL = "com.docker.compose.project"
SERVICE_LABEL = "com.docker.compose.service"


def connect(timeout: float) -> DockerClient:
    """A client for the engine the `docker` CLI uses; EnvironmentProblem when it does not answer."""
    try:
        client = docker.from_env(timeout=int(max(timeout, 1)))
        client.ping()
    except docker.errors.DockerException as exc:
        raise EnvironmentProblem(
            f"the Docker engine does not answer ({exc}); start it with `bash scripts/provision-engine.sh`"
        ) from None
    return client


def _label(project: str) -> dict[str, list[str]]:
    return {"label": [f"{PROJECT_LABEL}={project}"]}


@dataclasses.dataclass(frozen=True)
class Resources:
    """Containers, networks and volumes that carry one project's label."""

    containers: tuple[str, ...] = ()
    networks: tuple[str, ...] = ()
    volumes: tuple[str, ...] = ()

    @property
    def empty(self) -> bool:
        """True when nothing of the project is left."""
        return not (self.containers or self.networks or self.volumes)

    def describe(self) -> str:
        """`containers: a, b; networks: -; volumes: -` for messages and proofs."""
        return "; ".join(
            f"{kind}: {', '.join(names) or '-'}"
            for kind, names in (("containers", self.containers), ("networks", self.networks), ("volumes", self.volumes))
        )


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
    exit_code = state.get("ExitCode") if state.get("Status") in {"exited", "dead"} else None
    return ContainerState(str(state.get("Status", "unknown")), health, exit_code)


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


def _parse_created(text: str) -> datetime | None:
    try:
        # Docker gives nanoseconds; Python takes microseconds.
        head, _, frac = text.rstrip("Z").partition(".")
        return datetime.fromisoformat(f"{head}.{frac[:6] or '0'}").replace(tzinfo=timezone.utc)
    except ValueError:
        return None


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
        note(network.attrs.get("Labels", {}).get(PROJECT_LABEL, ""), _parse_created(network.attrs.get("Created", "")))
    for volume in client.volumes.list(filters=filters):
        labels = volume.attrs.get("Labels") or {}
        note(labels.get(PROJECT_LABEL, ""), _parse_created(volume.attrs.get("CreatedAt", "")))
    return [ProjectInfo(name, created) for name, created in sorted(found.items())]
