"""`docker compose` CLI calls for one project: argument lists (built by harness.docker_cli), each with a timeout."""

from __future__ import annotations

import dataclasses
import secrets
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path

from harness import docker_cli, proc
from harness.addons_path import odoo_addons_path
from harness.config import Config
from harness.errors import EnvironmentProblem

# What `up` prints when the host port was taken between our probe and Docker's bind.
PORT_CLASH_MARKERS = ("port is already allocated", "address already in use")


# What `up` prints when an image is neither on the engine nor pullable.
MISSING_IMAGE_MARKERS = ("pull access denied", "no such image", "no such host", "manifest unknown", "/v2/")


def compose_env(config: Config, port: int) -> dict[str, str]:
    """What docker-compose.agent.yml reads from the environment for one run."""
    return {
        "ODOO_PORT": str(port),
        "HARNESS_PUBLISH_HOST": config.publish_host,
        # The first addons folder (the compose file mounts it); the others: addons_path.override_file.
        "HARNESS_ADDONS_PATH": str(config.addons_path[0]),
        "HARNESS_CONTAINER_ADDONS_PATH": odoo_addons_path(config),
        "HARNESS_DB_USER": config.db_user,
        "HARNESS_DB_PASSWORD": config.db_password,
        # The server's master password, made for this run and known to no one: with the database
        # manager off it guards nothing by itself, but Odoo's default `admin` never applies.
        "HARNESS_ADMIN_PASSWORD": secrets.token_urlsafe(24),
    }


def up_failure_hint(output: str) -> str:
    """A next step for the user, read off a failed `up`'s output ('' when none applies)."""
    lowered = output.lower()
    if any(marker in lowered for marker in MISSING_IMAGE_MARKERS):
        return (
            "an image is not on the engine and cannot be pulled: load it (`docker load`) or name a local one "
            "with ODOO_IMAGE / POSTGRES_IMAGE (or a compose override via HARNESS_COMPOSE_FILES)"
        )
    return ""


def is_port_clash(output: str) -> bool:
    """True when a failed `up` lost its host port to someone else."""
    lowered = output.lower()
    return any(marker in lowered for marker in PORT_CLASH_MARKERS)


@dataclasses.dataclass(frozen=True)
class Compose:
    """One Compose project: its name, its files (applied in order) and the environment it sees.

    `on_spawn` hears the pid of every `docker compose` process started for the project.
    """

    project: str
    files: tuple[Path, ...]
    env: Mapping[str, str] = dataclasses.field(default_factory=dict)
    on_spawn: proc.SpawnListener | None = dataclasses.field(default=None, compare=False, repr=False)

    def argv(self, *args: str) -> list[str]:
        """`docker --host ENGINE compose -p NAME -f F1 -f F2 ... ARGS`."""
        files = [part for path in self.files for part in ("-f", str(path))]
        return docker_cli.argv("compose", "-p", self.project, *files, *args)

    def environment(self) -> dict[str, str]:
        """The caller's environment plus this project's variables (ODOO_PORT, addons path, ...)."""
        return docker_cli.environment(self.env)

    def run(self, *args: str, timeout: float, check: bool = False, what: str = "") -> proc.Result:
        """Run one compose subcommand to completion; with `check`, a failure raises DockerCommandFailed."""
        result = proc.run(self.argv(*args), timeout=timeout, env=self.environment(), on_spawn=self.on_spawn)
        if check and not result.ok:
            raise docker_cli.DockerCommandFailed.of(result, what)
        return result

    def up(
        self,
        timeout: float,
        on_line: Callable[[str], None] = lambda line: None,
        on_idle: Callable[[float], None] | None = None,
    ) -> proc.Result:
        """`up -d`: create and start the services (no waiting for health: readiness does that).

        Its output (pulls, container states) goes to `on_line` as it comes, and is also returned.
        """
        lines: list[str] = []

        def keep(line: str) -> None:
            lines.append(line)
            on_line(line)

        argv = self.argv("up", "-d", "--no-color")
        outcome = proc.stream(
            argv, keep, timeout=timeout, env=self.environment(), on_spawn=self.on_spawn, on_idle=on_idle
        )
        if outcome.timed_out:
            raise EnvironmentProblem(f"`docker compose up` did not finish within {timeout:.0f} s")
        assert outcome.returncode is not None
        return proc.Result(tuple(argv), outcome.returncode, "\n".join(lines), "", outcome.seconds)

    def down(self, stop_timeout: int, timeout: float) -> proc.Result:
        """`down -v --remove-orphans -t N`: remove containers, networks and volumes of the project."""
        return self.run("down", "-v", "--remove-orphans", "-t", str(stop_timeout), timeout=timeout)

    def services(self, timeout: float) -> list[str]:
        """The service names the files define (DockerCommandFailed when compose cannot read them)."""
        result = self.run("config", "--services", timeout=timeout, check=True, what="`docker compose config`")
        return [line.strip() for line in result.stdout.splitlines() if line.strip()]

    def logs(self, service: str, timeout: float) -> str:
        """One service's log (both streams), with timestamps."""
        result = self.run("logs", "--no-color", "--timestamps", service, timeout=timeout)
        return result.stdout + result.stderr

    def exec_argv(self, service: str, command: Sequence[str]) -> list[str]:
        """`exec -T SERVICE COMMAND...`: no TTY, stdin from /dev/null (the runner gives DEVNULL)."""
        return self.argv("exec", "-T", service, *command)
