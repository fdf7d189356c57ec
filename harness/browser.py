"""Browser tours (`--browser`): a headless Chromium in the test image, its screenshots kept, its absence said.

Odoo 18's `HttpCase.browser_js` / `start_tour` (odoo/tests/common.py, `ChromeBrowser`) looks for an
executable named `google-chrome`, `chromium`, `chromium-browser` or `google-chrome-stable` on the
PATH and imports the `websocket` module (the `websocket-client` distribution); without either it
skips the test ("Chrome executable not found", "websocket-client module is not installed").

On a Debian image (the project's own, bookworm) the two come from the Debian packages `chromium`
and `python3-websocket`. The container cannot reach Debian, so this machine's apt (its own sources,
proxies and keys) resolves them against the image's own dpkg status (only what the image lacks),
downloads the .debs into a build context, and a derived image installs them with `dpkg -i` and no
network. The image is tagged `hub-harness-browser:<key>`, the key a hash of the base image's ID and
the resolved package versions: while neither changes, it is reused (one `docker image inspect`).
The host's apt must serve the image's release; an image of another release (the official
Ubuntu-based odoo:18.0 on a Debian host) is refused with a message pointing to docs/reference.md.

A failing tour makes Odoo save a screenshot (and a screencast with `--screencasts`) under its
`--screenshots` folder, by default `/tmp/odoo_tests` in the container: it is copied into the
run's artefacts before the teardown.
"""

from __future__ import annotations

import contextlib
import dataclasses
import fcntl
import hashlib
import json
import os
import re
import shutil
import tarfile
import tempfile
from collections.abc import Callable, Iterable, Iterator, Sequence
from pathlib import Path

from harness import engine, proc
from harness.config import Config
from harness.docker_cli import DockerCommandFailed
from harness.errors import EnvironmentProblem
from harness.odoo_cases import CaseOutcome
from harness.paths import manifests_dir, private_state_dir

Log = Callable[[str], None]

REPOSITORY = "hub-harness-browser"
LABEL = "hub-harness.browser"
# Bump when how the image is made changes.
FORMAT_VERSION = "1"
# What Odoo 18's ChromeBrowser needs, as Debian names it.
PACKAGES = ("chromium", "python3-websocket")
# Odoo's default --screenshots folder (tempfile.gettempdir()/odoo_tests in odoo/tools/config.py);
# screenshots go to DIR/<db>/screenshots, screencasts (with --screencasts) to DIR/<db>/screencasts.
CONTAINER_FILES = "/tmp/odoo_tests"  # noqa: S108 - a folder inside the test container
ARTEFACTS_FOLDER = "browser"
_CONTAINER_CONTEXT = "/tmp/harness-browser"  # noqa: S108 - inside the image build only
_STATUS_MARK = "@@hub-harness-dpkg-status@@"
# Prints the image's /etc/os-release, then its dpkg status (what is installed).
_READ_IMAGE = f"cat /etc/os-release; echo {_STATUS_MARK}; cat /var/lib/dpkg/status"
# `apt-get -s install` prints one line per package it would unpack: "Inst NAME [OLD] (VERSION ...".
_INST = re.compile(r"^Inst (\S+) (?:\[[^\]]*\] )?\((\S+) ")
# Skip reasons of odoo/tests/common.py when there is no browser to drive.
_QUIET_BUILD = (
    "Setting up ",
    "(Reading database",
    "Selecting previously",
    "Preparing to unpack",
    "Unpacking ",
    "Processing triggers",
    "Get:",
    "Creat",
    "debconf:",
)
_NO_BROWSER = re.compile(r"Chrome executable not found|websocket-client module is not installed|^\S+ not found$")


@dataclasses.dataclass(frozen=True)
class Package:
    """One Debian package apt would install, and its version."""

    name: str
    version: str


@dataclasses.dataclass(frozen=True)
class ImageRelease:
    """What the image is (from /etc/os-release) and what it has installed (its dpkg status text)."""

    distribution: str  # "debian", "ubuntu"
    codename: str  # "bookworm", "noble"
    status: str


# --- what to install


def parse_os_release(text: str) -> dict[str, str]:
    """The KEY=value pairs of an os-release file, quotes removed."""
    pairs = {}
    for line in text.splitlines():
        key, sep, value = line.partition("=")
        if sep and key.strip():
            pairs[key.strip()] = value.strip().strip("\"'")
    return pairs


def parse_image_output(text: str) -> ImageRelease:
    """The image's release and dpkg status from what `_READ_IMAGE` printed."""
    head, sep, status = text.partition(_STATUS_MARK)
    if not sep:
        raise EnvironmentProblem("could not read the image's /etc/os-release and dpkg status")
    release = parse_os_release(head)
    return ImageRelease(release.get("ID", ""), release.get("VERSION_CODENAME", ""), status.lstrip("\n"))


def parse_simulation(text: str) -> list[Package]:
    """The packages `apt-get -s install` would unpack, sorted by name."""
    found = {match.group(1): match.group(2) for line in text.splitlines() if (match := _INST.match(line))}
    return [Package(name, version) for name, version in sorted(found.items())]


def apt_options(status: Path, archives: Path) -> list[str]:
    """apt-get options: resolve against the image's dpkg status, download into `archives`, no lock.

    The host's own sources, lists, proxies and keys apply; only what is installed is the image's.
    """
    return [
        "-o", f"Dir::State::status={status}",
        "-o", f"Dir::Cache::archives={archives}",
        "-o", "Debug::NoLocking=1",
        "-o", "APT::Install-Recommends=false",
        "-o", "APT::Install-Suggests=false",
    ]  # fmt: skip


def image_key(base_image_id: str, packages: Iterable[Package]) -> str:
    """24 hex digits over the base image's ID and the packages' names and versions (order does not count)."""
    lines = sorted({f"{p.name}={p.version}" for p in packages})
    text = "\n".join([f"format={FORMAT_VERSION}", f"base={base_image_id}", *lines])
    return hashlib.sha256(text.encode()).hexdigest()[:24]


def dockerfile(base_image: str, user: str, packages: Sequence[Package]) -> str:
    """The browser image's Dockerfile: the context's .debs installed by dpkg as root, the image's user restored.

    The image's own apt installs the .deb files given by path: it orders them by their
    dependencies and pre-dependencies (`dpkg -i` of all at once does not: systemd-sysv pre-depends
    on systemd), and finds each one among the files, so it needs neither network nor
    package lists (its archive cache is the context's folder: apt refuses a file given by path
    that it would have to copy there).
    """
    listed = " ".join(f"{p.name}={p.version}" for p in packages)
    return "\n".join(
        [
            f"FROM {base_image}",
            "USER root",
            f"COPY debs {_CONTAINER_CONTEXT}/debs",
            f"RUN DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends "
            f"-o Dir::Cache::archives={_CONTAINER_CONTEXT}/debs {_CONTAINER_CONTEXT}/debs/*.deb "
            f"&& rm -rf {_CONTAINER_CONTEXT} && chromium --version",
            *([f"USER {user}"] if user else []),
            f"LABEL {LABEL}=1 {LABEL}.base={json.dumps(base_image)} {LABEL}.packages={json.dumps(listed)}",
            "",
        ]
    )


# --- the image


def build_image(config: Config, base_image: str, log: Log) -> str:
    """The test image with a browser: `base_image` itself when it has one already, else the derived image.

    Built once per key; raises EnvironmentProblem (exit 3) when this machine cannot fetch the packages.
    """
    base_id = engine.image_id(base_image, config.command_timeout)
    if base_id is None:
        raise EnvironmentProblem(
            f"--browser: the test image {base_image} is not on the engine (build or pull it first)"
        )
    release = read_image(base_image, base_id, config)
    _check_release(base_image, release)
    with tempfile.TemporaryDirectory(prefix="hub-harness-browser-") as scratch:
        status = Path(scratch) / "status"
        status.write_text(release.status, encoding="utf-8")
        packages = resolve(status, Path(scratch) / "debs", config)
        if not packages:
            log(f"browser: {base_image} has {' and '.join(PACKAGES)} already")
            return base_image
        key = image_key(base_id, packages)
        tag = f"{REPOSITORY}:{key}"
        if engine.image_id(tag, config.command_timeout) is not None:
            log(f"browser image {tag} reused ({len(packages)} package(s) on {base_image})")
            return tag
        with _build_lock(config, key):
            if engine.image_id(tag, config.command_timeout) is not None:
                log(f"browser image {tag} reused (built by another run meanwhile)")
                return tag
            log(f"browser image {tag}: downloading {len(packages)} Debian package(s) on this machine")
            context = Path(scratch) / "context"
            debs = context / "debs"
            (debs / "partial").mkdir(parents=True)
            _apt(["install", "--download-only", "-y", "-q", *PACKAGES], status, debs, config, log)
            shutil.rmtree(debs / "partial", ignore_errors=True)
            user = engine.inspect_image(base_image, "{{.Config.User}}", config.command_timeout) or ""
            (context / "Dockerfile").write_text(dockerfile(base_image, user, packages), encoding="utf-8")
            _docker_build(context, tag, config, log)
    log(f"browser image {tag} built")
    return tag


def read_image(base_image: str, base_id: str, config: Config) -> ImageRelease:
    """The image's release and dpkg status, read once per image ID (memoised in the user's state folder)."""
    folder = manifests_dir(config)
    memo = folder / f"{base_id.replace(':', '_').replace('/', '_')}.dpkg.txt"
    with contextlib.suppress(OSError):
        return parse_image_output(memo.read_text(encoding="utf-8"))
    result = engine.run_image(base_image, ["-c", _READ_IMAGE], config.command_timeout, entrypoint="sh")
    if not result.ok:
        raise DockerCommandFailed.of(result, f"reading the dpkg status of {base_image}")
    release = parse_image_output(result.stdout)
    with contextlib.suppress(OSError, EnvironmentProblem):  # the memo only saves the next run a container
        private_state_dir(folder, config)
        tmp = memo.with_suffix(f".{os.getpid()}.tmp")
        tmp.write_text(result.stdout, encoding="utf-8")
        tmp.replace(memo)
    return release


def host_release() -> dict[str, str]:
    """This machine's os-release pairs ({} when it has none)."""
    for path in (Path("/etc/os-release"), Path("/usr/lib/os-release")):
        with contextlib.suppress(OSError):
            return parse_os_release(path.read_text(encoding="utf-8"))
    return {}


def _check_release(base_image: str, release: ImageRelease) -> None:
    """The host's apt serves one release: the image must be of it (else apt would pick foreign packages)."""
    host = host_release()
    if release.distribution == host.get("ID") and release.codename == host.get("VERSION_CODENAME"):
        return
    raise EnvironmentProblem(
        f"--browser: {base_image} is {release.distribution or '?'} {release.codename or '?'}, this machine's apt "
        f"serves {host.get('ID', '?')} {host.get('VERSION_CODENAME', '?')}: the browser's packages must come "
        "from the image's own release. For the official odoo:18.0 (Ubuntu) image see docs/reference.md, "
        "'Browser tours'"
    )


def resolve(status: Path, archives: Path, config: Config) -> list[Package]:
    """The packages (and versions) the image lacks for PACKAGES, as this machine's apt resolves them."""
    archives.mkdir(parents=True, exist_ok=True)
    (archives / "partial").mkdir(exist_ok=True)
    return parse_simulation(_apt(["-s", "install", *PACKAGES], status, archives, config, None))


def _apt(args: list[str], status: Path, archives: Path, config: Config, log: Log | None) -> str:
    apt = shutil.which("apt-get")
    if apt is None:
        raise EnvironmentProblem(
            "--browser needs apt-get on this machine to download Debian's chromium and python3-websocket"
        )
    lines: list[str] = []

    def show(line: str) -> None:
        lines.append(line)
        if log is not None and line.strip() and not line.startswith(("Get:", "  ")):
            log(f"apt: {line.strip()}")

    outcome = proc.stream([apt, *apt_options(status, archives), *args], show, timeout=config.up_timeout)
    if outcome.returncode != 0:
        tail = " | ".join(line.strip() for line in lines[-3:])
        raise EnvironmentProblem(
            f"apt-get {args[0]} of {' '.join(PACKAGES)} failed (exit {outcome.returncode}): {tail} "
            "(stale package lists? apt-get update)"
        )
    return "\n".join(lines)


@contextlib.contextmanager
def _build_lock(config: Config, key: str) -> Iterator[None]:
    """One build of a key at a time among this user's runs (the kernel drops the lock if a run dies)."""
    folder = private_state_dir(manifests_dir(config), config)
    with open(folder / f"browser-{key}.lock", "w", encoding="utf-8") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def _docker_build(context: Path, tag: str, config: Config, log: Log) -> None:
    # --network none: everything comes from the context.
    def show(line: str) -> None:
        # apt's per-package lines (a few hundred) say nothing the step's outcome does not.
        if line.strip() and not line.lstrip("\x1b[0m").startswith(_QUIET_BUILD):
            log(f"build: {line}")

    outcome = engine.build_image(context, tag, show, config.up_timeout, network="none")
    if outcome.returncode != 0:
        raise EnvironmentProblem(f"docker build of the browser image {tag} failed (exit {outcome.returncode})")


# --- after the tests


def skipped_for_browser(skipped: Iterable[CaseOutcome], module: str) -> list[CaseOutcome]:
    """The module's tests Odoo skipped because it found no browser (or no websocket-client) to drive."""
    return [s for s in skipped if s.test.belongs_to(module) and _NO_BROWSER.search(s.message.strip())]


def skip_note(count: int, browser: bool) -> tuple[str, str] | None:
    """The final block's row for tests skipped for want of a browser (None: there were none)."""
    if not count:
        return None
    tests = f"{count} test{'s' if count != 1 else ''}"
    if browser:
        return ("browser", f"{tests} skipped: no browser found in the test image although --browser was given")
    return ("browser", f"{tests} skipped: no browser; run with --browser")


def extract_files(archive: Path, target: Path) -> list[Path]:
    """Unpack the tar of Odoo's screenshot folder into `target`; the files it held (regular files only)."""
    target.mkdir(parents=True, exist_ok=True)
    with tarfile.open(archive) as tar:
        members = [m for m in tar.getmembers() if m.isfile() or m.isdir()]
        tar.extractall(target, members=members, filter="data")
    return sorted(p for p in target.rglob("*") if p.is_file())
