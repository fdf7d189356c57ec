"""The one way to the docker CLI: which engine (resolved once, pinned), every docker argv, one runner.

Every `docker ...` and `docker compose ...` command of the harness is built by `argv` (or
`context_argv`, for the commands that read contexts), which names the pinned engine with the
CLI's own global flags; none of them relies on os.environ, which the harness never writes.
`run` runs one and raises DockerCommandFailed (argv, exit code, tail of the output: exit 3) when
it fails and the caller cannot go on without it.
"""

from __future__ import annotations

import dataclasses
import json
import os
import shlex
import shutil
import sys
import urllib.parse
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path

from harness import proc
from harness.errors import EnvironmentProblem

# The CLI itself: the one place its name starts an argument list.
DOCKER = "docker"
# What names an engine in the environment: a child docker CLI gets flags instead, so these go.
ENDPOINT_VARIABLES = ("DOCKER_HOST", "DOCKER_CONTEXT", "DOCKER_TLS_VERIFY", "DOCKER_TLS", "DOCKER_CERT_PATH")
# How much of a failed command's output its error quotes.
OUTPUT_TAIL = 400

# Where the Docker CLI talks when nothing names another engine.
DEFAULT_HOSTS = {"win32": "npipe:////./pipe/docker_engine"}
DEFAULT_HOST = "unix:///var/run/docker.sock"
# The endpoint this process pinned for the SDK and every CLI call (see pin).
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

    def cli_flags(self) -> list[str]:
        """The docker CLI's global flags that name this endpoint: `--host`, and TLS with its certificates."""
        flags = ["--host", self.host]
        if self.tls:
            flags.append("--tlsverify" if self.tls_verify else "--tls")
        if self.cert_dir:
            for name, flag in (("ca", "--tlscacert"), ("cert", "--tlscert"), ("key", "--tlskey")):
                path = Path(self.cert_dir) / f"{name}.pem"
                if path.is_file():
                    flags += [flag, str(path)]
        return flags

    def describe(self) -> str:
        """`context 'desktop-linux' (unix:///...)` / `DOCKER_HOST=tcp://...` for messages."""
        if self.source == "DOCKER_HOST":
            return f"DOCKER_HOST={self.host}"
        return f"{self.source} ({self.host})"

    def cli_env(self) -> dict[str, str]:
        """The environment that names this endpoint, for a child that is not the docker CLI (the watchdog)."""
        env = {"DOCKER_HOST": self.host}
        if self.tls:
            env["DOCKER_TLS_VERIFY" if self.tls_verify else "DOCKER_TLS"] = "1"
        if self.cert_dir:
            env["DOCKER_CERT_PATH"] = self.cert_dir
        return env


def _inspect_context(name: str | None, timeout: float) -> str:
    """`docker context inspect [NAME]`: JSON text; EnvironmentProblem when the CLI refuses."""
    result = proc.run(context_argv("inspect", *([name] if name else [])), timeout=timeout)
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
    if _pinned is not None and inspect is None:
        return _pinned  # the context read once stays this process's engine, even if the user switches
    if inspect is None:
        if shutil.which("docker") is None:
            default = DEFAULT_HOSTS.get(platform or sys.platform, DEFAULT_HOST)
            return Endpoint(default, "the default socket (no docker CLI on PATH)")
        inspect = _inspect_context
    return endpoint_from_context(inspect(env.get("DOCKER_CONTEXT") or None, timeout))


def pin(endpoint: Endpoint) -> Endpoint:
    """Make `endpoint` the engine of every later docker / docker compose argv of this process.

    Nothing is written to os.environ: each argv names the engine itself (`--host`, TLS flags),
    and a child that is not the docker CLI (the watchdog) gets it in the environment it is given.
    """
    global _pinned
    _pinned = endpoint
    return endpoint


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


def endpoint() -> Endpoint:
    """The pinned engine; resolved (as the CLI would) and pinned on first use."""
    return _pinned if _pinned is not None else pin(resolve_endpoint())


def context_argv(*args: str) -> list[str]:
    """`docker context ARGS`: reads the CLI's contexts, so it names no engine."""
    return [DOCKER, "context", *args]


def argv(*args: str) -> list[str]:
    """`docker --host ENGINE [TLS flags] ARGS`: every docker and compose command of the harness."""
    return [DOCKER, *endpoint().cli_flags(), *args]


def environment(extra: Mapping[str, str] | None = None) -> dict[str, str]:
    """The environment of a docker child: this process's, without what would name another engine, plus `extra`."""
    base = {key: value for key, value in os.environ.items() if key not in ENDPOINT_VARIABLES}
    return {**base, **(extra or {})}


class DockerCommandFailed(EnvironmentProblem):
    """A docker command the run needed failed: its argv, its exit code and the tail of its output."""

    def __init__(self, argv_: Sequence[str], returncode: int, output: str, what: str = "") -> None:
        self.argv = tuple(argv_)
        self.returncode = returncode
        self.tail = output.strip()[-OUTPUT_TAIL:]
        shown = what or f"`{shlex.join(self.argv[:6])}{' ...' if len(self.argv) > 6 else ''}`"
        super().__init__(f"{shown} failed (exit {returncode}): {self.tail or 'no output'}")

    @classmethod
    def of(cls, result: proc.Result, what: str = "") -> DockerCommandFailed:
        """The failure of a finished command."""
        return cls(result.argv, result.returncode, result.output, what)


def run(
    args: Sequence[str],
    *,
    timeout: float,
    env: Mapping[str, str] | None = None,
    on_spawn: proc.SpawnListener | None = None,
    check: bool = True,
    what: str = "",
) -> proc.Result:
    """`docker ARGS` to completion; with `check`, a non-zero exit raises DockerCommandFailed (`what` names it)."""
    result = proc.run(argv(*args), timeout=timeout, env=environment(env), on_spawn=on_spawn)
    if check and not result.ok:
        raise DockerCommandFailed.of(result, what)
    return result


def stream(
    args: Sequence[str],
    on_line: Callable[[str], None],
    *,
    timeout: float,
    env: Mapping[str, str] | None = None,
    **options: object,
) -> proc.StreamResult:
    """`docker ARGS`, each output line to `on_line` as it comes (proc.stream's options pass through)."""
    return proc.stream(argv(*args), on_line, timeout=timeout, env=environment(env), **options)  # type: ignore[arg-type]
