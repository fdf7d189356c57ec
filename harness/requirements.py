"""Python requirements built into an image by content: read, download on the host, install from the build context.

A run whose repository names pip requirements (requirement files, the manifests'
`external_dependencies["python"]`) gets a derived image `FROM` the configured Odoo image with them
installed, tagged `hub-harness-req:<key>` where the key hashes the base image's ID and the
requirement lines; while neither changes the image is reused (one `docker image inspect`).

No network is needed inside the build: pip downloads on the host, with the user's own pip
configuration (indexes, proxies, certificates), wheels for the base image's Python version and
platform into the build context, and the build installs them with `--no-index --no-deps` using a
pip wheel from the same context (so an image without pip works too). `odoo-addon-*` wheels land in
the image's `odoo/addons` namespace, where Odoo and harness.dependencies find them.

Another concern that needs packages in the test image calls `build_image` with its own lines.
"""

from __future__ import annotations

import contextlib
import dataclasses
import datetime
import fcntl
import getpass
import hashlib
import json
import os
import re
import shutil
import sys
import tempfile
import time
import zipfile
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import IO

from harness import engine, proc
from harness.config import Config
from harness.dependencies import user_manifests
from harness.docker_cli import DockerCommandFailed
from harness.errors import EnvironmentProblem, UsageError
from harness.modules import module_dirs, read_manifest
from harness.paths import manifests_dir, private_dir, private_state_dir, read_json

Log = Callable[[str], None]

REPOSITORY = "hub-harness-req"
LABEL = "hub-harness.requirements"
# Bump when how the image is made changes.
FORMAT_VERSION = "1"
DEFAULT_FILES = ("requirements.txt", "test-requirements.txt")
# The resolver must see `odoo` as present (odoo-addon-* wheels require it; Odoo is no PyPI
# package): a stub wheel of that name satisfies it during the download and is never installed.
ODOO_STUB_VERSION = "18.0"
_CONTAINER_CONTEXT = "/tmp/harness-requirements"  # noqa: S108 - inside the image build only

# Prints what pip needs to download for the image: Python version, ABI, glibc, machine.
_TARGET_SCRIPT = """
import json, os, platform, sys
libc = (os.confstr("CS_GNU_LIBC_VERSION") or "glibc 0.0").split()[-1]
print(json.dumps({"python": "%d.%d" % sys.version_info[:2], "libc": libc, "machine": platform.machine()}))
"""

# Prints the names of the Python distributions installed in the image.
_INSTALLED_SCRIPT = """
import importlib.metadata as m, json
print(json.dumps(sorted({d.metadata["Name"] or "" for d in m.distributions()})))
"""

# The classic builder's notice that BuildKit exists: true, and nothing the user can act on here.
_BUILDER_BANNER = re.compile(r"legacy builder is deprecated|Install the buildx component|docs\.docker\.com/go/buildx")


@dataclasses.dataclass(frozen=True)
class Requirement:
    """One requirement line and where it came from (a file and line, a manifest, a caller)."""

    line: str
    source: str


@dataclasses.dataclass(frozen=True)
class Target:
    """The interpreter and platform the wheels are for."""

    python: str  # "3.11"
    libc: str  # "2.36"
    machine: str  # "x86_64"

    def pip_arguments(self) -> list[str]:
        """`pip download` options that select wheels this interpreter can install."""
        major, minor = (int(p) for p in self.libc.split(".")[:2])
        platforms = [f"manylinux_{major}_{m}_{self.machine}" for m in range(minor, 4, -1)] if major == 2 else []
        platforms += [f"manylinux2014_{self.machine}", f"manylinux2010_{self.machine}"]
        platforms += [f"manylinux1_{self.machine}", f"linux_{self.machine}"]
        abi = "cp" + self.python.replace(".", "")
        args = ["--only-binary=:all:", "--python-version", self.python, "--implementation", "cp"]
        args += ["--abi", abi, "--abi", "abi3", "--abi", "none"]
        return args + [part for p in platforms for part in ("--platform", p)]


# --- what the repository asks for


def requirement_files(config: Config) -> list[Path]:
    """The requirement files to read: the configured ones (each must exist), else the defaults that exist."""
    if config.requirements is None:
        return [config.root / name for name in DEFAULT_FILES if (config.root / name).is_file()]
    missing = [str(p) for p in config.requirements if not p.is_file()]
    if missing:
        raise UsageError(f"requirement file(s) not found: {', '.join(missing)} (requirements / HARNESS_REQUIREMENTS)")
    return list(config.requirements)


def read_file(path: Path, seen: frozenset[Path] = frozenset()) -> list[Requirement]:
    """The requirement lines of a pip requirements file, `-r` includes followed, comments dropped."""
    if path in seen:
        return []
    found: list[Requirement] = []
    for number, raw in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        line = re.sub(r"(^|\s)#.*$", "", raw).strip()
        if not line:
            continue
        include = re.match(r"^(-r|--requirement)[=\s]\s*(\S+)$", line)
        if include:
            found += read_file((path.parent / include.group(2)).resolve(), seen | {path})
            continue
        if line.startswith("-"):
            # Index and other pip options come from the user's pip configuration, not from here.
            raise UsageError(f"{path}:{number}: pip option {line!r} is not supported in a requirement file here")
        found.append(Requirement(line, f"{path}:{number}"))
    return found


def manifest_requirements(config: Config, module: str) -> list[Requirement]:
    """`external_dependencies["python"]` of `module` and of its dependencies in the addons folders."""
    folders = module_dirs(config.addons_path)
    manifests = user_manifests(config.addons_path)
    todo, seen, found = [module], set(), []
    while todo:
        name = todo.pop()
        if name in seen or name not in folders:
            continue  # modules of the image are installed with their needs
        seen.add(name)
        todo.extend(manifests[name].depends)
        external = read_manifest(folders[name]).get("external_dependencies") or {}
        packages = external.get("python", []) if isinstance(external, dict) else []
        found += [Requirement(str(p), f"{folders[name] / '__manifest__.py'} external_dependencies") for p in packages]
    return found


def for_module(config: Config, module: str) -> list[Requirement]:
    """Every requirement of a run of `module`: the files' lines, then the manifests'."""
    lines = [r for path in requirement_files(config) for r in read_file(path)]
    return lines + manifest_requirements(config, module)


def _name(line: str) -> str:
    """The normalised project name of a requirement line (`Odoo_Test.Helper>=2` -> `odoo-test-helper`)."""
    match = re.match(r"^\s*([A-Za-z0-9][A-Za-z0-9._-]*)", line)
    return re.sub(r"[-_.]+", "-", match.group(1)).lower() if match else line.strip().lower()


# --- the image


def image_key(base_image_id: str, requirements: Iterable[Requirement], owner: str | None = None) -> str:
    """24 hex digits over the base image's ID, the requirement lines (order and duplicates do not count), the user.

    The user is part of the key (as in the database cache's): each user's images are their own,
    so a user's reap never removes an image another user's run picked.
    """
    lines = sorted({r.line.strip() for r in requirements})
    who = owner if owner is not None else getpass.getuser()
    text = "\n".join([f"format={FORMAT_VERSION}", f"base={base_image_id}", f"owner={who}", *lines])
    return hashlib.sha256(text.encode()).hexdigest()[:24]


def installed_distributions(base_image: str, base_image_id: str, config: Config) -> set[str]:
    """Normalised names of the Python distributions the image has already, read once per image ID.

    Memoised beside the image's manifests, in the user's private state folder (harness/paths.py).
    """
    folder = manifests_dir(config)
    memo = folder / f"{base_image_id.replace(':', '_').replace('/', '_')}.installed.json"
    remembered = read_json(memo)
    if isinstance(remembered, list) and all(isinstance(n, str) for n in remembered):
        return set(remembered)
    result = _docker_python(base_image, _INSTALLED_SCRIPT, config)
    names = sorted({_name(n) for n in json.loads(result.stdout) if n})
    with contextlib.suppress(OSError, EnvironmentProblem):  # the memo only saves the next run a container
        private_state_dir(folder, config)
        tmp = memo.with_suffix(f".{os.getpid()}.tmp")
        tmp.write_text(json.dumps(names), encoding="utf-8")
        tmp.replace(memo)
    return set(names)


def target_of(base_image: str, config: Config) -> Target:
    """The base image's Python version, libc and machine."""
    return Target(**json.loads(_docker_python(base_image, _TARGET_SCRIPT, config).stdout))


def build_image(
    config: Config,
    base_image: str,
    requirements: Sequence[Requirement],
    log: Log,
    *,
    skip_installed: Iterable[Requirement] = (),
) -> str:
    """The image to run: `base_image` itself when nothing is required, else the derived image (built once).

    `skip_installed` are requirements dropped when the base image has a distribution of that name
    already (a manifest's `requests`, say); `requirements` are always installed.
    Raises EnvironmentProblem (exit 3) naming a requirement pip cannot resolve and its source.
    """
    base_id = _image_id(base_image, config)
    if base_id is None:
        return base_image  # not on the engine yet: `up` pulls it, or says how to get it
    # A manifest's `odoo_test_helper` that a requirement file pins already is that file's line.
    named = {_name(r.line) for r in requirements}
    optional = [r for r in skip_installed if _name(r.line) not in named]
    if optional:
        have = installed_distributions(base_image, base_id, config)
        optional = [r for r in optional if _name(r.line) not in have]
    wanted = [*requirements, *optional]
    if not wanted:
        return base_image
    key = image_key(base_id, wanted)
    tag = f"{REPOSITORY}:{key}"
    # Taken before the image is looked up, held until this process ends: a reap meanwhile skips it.
    mark_in_use(config, key)
    if _image_id(tag, config) is not None:
        log(f"requirements image {tag} reused ({len(wanted)} requirement(s) on {base_image})")
        return tag
    with _build_lock(config, key):
        # Another run of this user may have built it while this one waited: two builds of one key
        # would give the tag two image IDs in turn, and the database cache's key follows the ID.
        if _image_id(tag, config) is not None:
            log(f"requirements image {tag} reused (built by another run meanwhile)")
            return tag
        log(f"requirements image {tag}: building from {base_image} with {len(wanted)} requirement(s)")
        context = Path(tempfile.mkdtemp(prefix=f"hub-harness-req-{key}-"))
        try:
            _prepare_context(context, config, base_image, wanted, log)
            _docker_build(context, tag, config, log)
        finally:
            shutil.rmtree(context, ignore_errors=True)
    log(f"requirements image {tag} built")
    # A new image is when the user's set grows: keep it bounded (never an image in use).
    with contextlib.suppress(EnvironmentProblem, DockerCommandFailed, OSError):
        reap(config, log)
    return tag


@contextlib.contextmanager
def _build_lock(config: Config, key: str) -> Iterator[None]:
    """One build of a key at a time among this user's runs (the kernel drops the lock if a run dies)."""
    folder = private_state_dir(manifests_dir(config), config)
    with open(folder / f"requirements-{key}.lock", "w", encoding="utf-8") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


# --- which images are in use, and the bounded reap

# key -> the use file, shared-locked until this process ends (the kernel drops it if the run dies).
_IN_USE: dict[str, IO[str]] = {}


def _use_file(config: Config, key: str) -> Path:
    """The key's use file, in the user's private requirements_state_dir (not under lock_dir: a run
    with a lock_dir of its own, as the test suites have, must still be seen by the user's reap)."""
    folder = config.requirements_state_dir
    folder.parent.mkdir(parents=True, exist_ok=True)
    return private_dir(folder) / f"{key}.use"


def mark_in_use(config: Config, key: str) -> None:
    """Record that this process uses the image of `key`: a shared lock until it ends, and the use's time.

    A reap holds the exclusive lock while it removes an image, so this waits for it and the caller
    then finds the image gone (and builds it); a reap that finds the shared lock held skips the image.
    """
    if key in _IN_USE:
        return
    path = _use_file(config, key)
    while True:
        handle = open(path, "a", encoding="utf-8")  # noqa: SIM115 - held until the process ends
        fcntl.flock(handle, fcntl.LOCK_SH)
        # A reap may have unlinked the file while this waited: lock the one that is there now.
        try:
            same = os.fstat(handle.fileno()).st_ino == os.stat(path).st_ino
        except FileNotFoundError:
            same = False
        if same:
            break
        handle.close()
    os.utime(path)  # the last use, which the reap orders by
    _IN_USE[key] = handle


@dataclasses.dataclass(frozen=True)
class OwnImage:
    """One of the user's requirements images and when a run last used it (epoch seconds)."""

    key: str
    last_used: float


def stale_images(images: Iterable[OwnImage], keep: int, unused_days: float, now: float) -> list[tuple[OwnImage, str]]:
    """The images to remove and why: beyond the `keep` most recently used, or unused for `unused_days`."""
    ordered = sorted(images, key=lambda image: image.last_used, reverse=True)
    stale = []
    for rank, image in enumerate(ordered):
        days = (now - image.last_used) / 86400
        if rank >= keep:
            stale.append((image, f"not among the {keep} most recently used"))
        elif days > unused_days:
            stale.append((image, f"unused for {days:.0f} days"))
    return stale


def own_images(config: Config) -> list[OwnImage]:
    """The user's requirements images on the engine (by label), each with its last use.

    The last use is the use file's time; an image without one (built before uses were recorded)
    counts from its creation.
    """
    timeout = config.command_timeout
    filters = [f"label={LABEL}=1", f"label={LABEL}.owner={getpass.getuser()}"]
    found = []
    for reference in engine.list_images(filters, timeout, fmt="{{.Repository}}:{{.Tag}}"):
        repository, _, key = reference.partition(":")
        if repository != REPOSITORY or not re.fullmatch(r"[0-9a-f]{24}", key):
            continue  # <none>: replaced under its tag, removed by ID below
        try:
            last = _use_file(config, key).stat().st_mtime
        except FileNotFoundError:
            last = _created(reference, config)
        found.append(OwnImage(key, last))
    return found


def _created(reference: str, config: Config) -> float:
    """When the engine created an image (epoch seconds; 0 when it cannot tell)."""
    text = engine.inspect_image(reference, "{{.Created}}", config.command_timeout) or ""
    match = re.match(r"(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d)", text)
    if not match:
        return 0.0
    moment = datetime.datetime.fromisoformat(match.group(1)).replace(tzinfo=datetime.timezone.utc)
    return moment.timestamp()


def reap(config: Config, log: Log, *, dry_run: bool = False) -> list[str]:
    """Remove the user's requirements images that `stale_images` picks, except those in use; return their tags.

    In use: a live run of this user holds the image's shared lock (`mark_in_use`), or a container
    still runs on it (`docker rmi` without --force refuses, and it is said so). Other users'
    images are never listed (the owner label). Also removes the user's labelled images that a
    rebuild left untagged.
    """
    timeout = config.command_timeout
    removed: list[str] = []
    chosen = stale_images(own_images(config), config.requirements_keep, config.db_cache_unused_days, time.time())
    for image, why in chosen:
        tag = f"{REPOSITORY}:{image.key}"
        path = _use_file(config, image.key)
        recorded = path.exists()
        with open(path, "a", encoding="utf-8") as handle:
            try:
                fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                continue  # a live run uses it (this process too, when it holds the key)
            result = None if dry_run else engine.remove_images([tag], timeout)
            if result is None or not result.ok:
                if not recorded:
                    path.unlink(missing_ok=True)  # opening it made it: it must not read as a use now
                if result is None:
                    log(f"would remove requirements image {tag}: {why}")
                    removed.append(tag)
                else:
                    log(f"kept requirements image {tag} ({why}): {result.output.strip()[-200:]}")
                continue
            path.unlink(missing_ok=True)
            log(f"removed requirements image {tag}: {why}")
            removed.append(tag)
    mine = [f"label={LABEL}=1", f"label={LABEL}.owner={getpass.getuser()}", "dangling=true"]
    replaced = sorted(set(engine.list_images(mine, timeout)))
    if replaced and not dry_run and engine.remove_images(replaced, timeout).ok:
        log(f"removed {len(replaced)} replaced requirements image(s)")
    return removed


def override_file(config: Config, image: str, target: Path) -> Path:
    """A compose override: the odoo service on the requirements image."""
    text = (
        "# Written by the harness for one run: the requirements image (harness/requirements.py).\n"
        f"services:\n  {config.odoo_service}:\n    image: {json.dumps(image)}\n"
    )
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_text(text, encoding="utf-8")
    return target


def for_run(
    config: Config, module: str, images: Mapping[str, str], folder: Path, log: Log, extra: Sequence[Requirement] = ()
) -> tuple[Path, ...]:
    """The compose override a run of `module` needs for its requirements (none when it needs none)."""
    base = images.get(config.odoo_service)
    if not base:
        return ()
    files = [r for path in requirement_files(config) for r in read_file(path)]
    image = build_image(config, base, [*files, *extra], log, skip_installed=manifest_requirements(config, module))
    if image == base:
        return ()
    return (override_file(config, image, folder / "requirements.override.yml"),)


# --- steps


def _prepare_context(context: Path, config: Config, base_image: str, wanted: Sequence[Requirement], log: Log) -> None:
    """Wheels for the image (and a pip wheel to install them with) and the Dockerfile, in `context`."""
    target = target_of(base_image, config)
    wheels, tools, stub = context / "wheels", context / "tools", context / "stub"
    for folder in (wheels, tools, stub):
        folder.mkdir(parents=True)
    _odoo_stub(stub)
    combined = context / "requirements.txt"
    combined.write_text("".join(f"{r.line}\n" for r in wanted), encoding="utf-8")
    log(f"pip download for Python {target.python} ({target.machine}, glibc {target.libc}), on this machine")
    argv = [*_host_pip(), "download", "--disable-pip-version-check", "--progress-bar", "off", *target.pip_arguments()]
    _pip(argv + ["--find-links", str(stub), "-d", str(wheels), "-r", str(combined)], wanted, config, log)
    _pip(
        argv + ["--no-deps", "-d", str(tools), "pip"],
        [Requirement("pip", "the harness (installs the others)")],
        config,
        log,
    )
    for stale in wheels.glob("odoo-*.whl"):
        stale.unlink()  # the stub: Odoo is in the image already
    pip_wheel = next(tools.glob("pip-*.whl")).name
    text = dockerfile(base_image, pip_wheel, _image_user(base_image, config), getpass.getuser())
    (context / "Dockerfile").write_text(text, encoding="utf-8")


def dockerfile(base_image: str, pip_wheel: str, user: str, owner: str) -> str:
    """The requirements image's Dockerfile: the context's wheels installed by the context's pip, as root.

    The pip that installs is the wheel from the context (`python3 pip-X.whl/pip`), never the
    image's: the project's image (Debian bookworm, Odoo in /usr/lib/python3/dist-packages) has
    no pip, the official odoo:18.0 (Ubuntu noble, Odoo as a deb in the same place) has Ubuntu's
    python3-pip 24. `--break-system-packages`: both Pythons are PEP 668 "externally managed".
    Root's pip puts the wheels in /usr/local/lib/python3.X/dist-packages, where `odoo.addons`
    (a pkgutil namespace over sys.path) finds odoo-addon-* wheels. The image's user (`odoo`
    in both) is restored afterwards.
    """
    return "\n".join(
        [
            f"FROM {base_image}",
            "USER root",
            f"COPY wheels {_CONTAINER_CONTEXT}/wheels",
            f"COPY tools {_CONTAINER_CONTEXT}/tools",
            # Resolved on the host already: install exactly these files, no index, no resolver.
            f"RUN python3 {_CONTAINER_CONTEXT}/tools/{pip_wheel}/pip install --no-index --no-deps "
            f"--no-cache-dir --disable-pip-version-check --break-system-packages --root-user-action=ignore "
            f"{_CONTAINER_CONTEXT}/wheels/*.whl && rm -rf {_CONTAINER_CONTEXT}",
            *([f"USER {user}"] if user else []),
            f"LABEL {LABEL}=1 {LABEL}.base={json.dumps(base_image)} {LABEL}.owner={owner}",
            "",
        ]
    )


def _odoo_stub(folder: Path) -> None:
    """A wheel named `odoo` (no files): the resolver's stand-in for the Odoo the image has."""
    name = f"odoo-{ODOO_STUB_VERSION}"
    with zipfile.ZipFile(folder / f"{name}-py3-none-any.whl", "w") as wheel:
        wheel.writestr(
            f"{name}.dist-info/METADATA", f"Metadata-Version: 2.1\nName: odoo\nVersion: {ODOO_STUB_VERSION}\n"
        )
        wheel.writestr(
            f"{name}.dist-info/WHEEL",
            "Wheel-Version: 1.0\nGenerator: hub-harness\nRoot-Is-Purelib: true\nTag: py3-none-any\n",
        )
        wheel.writestr(f"{name}.dist-info/RECORD", "")


def _pip(argv: list[str], wanted: Sequence[Requirement], config: Config, log: Log) -> None:
    lines: list[str] = []

    def show(line: str) -> None:
        lines.append(line)
        if line.strip() and not line.startswith(("WARNING: Location", "  ")):
            log(f"pip: {line.strip()}")

    outcome = proc.stream(argv, show, timeout=config.up_timeout)
    if outcome.returncode == 0:
        return
    output = "\n".join(lines)
    raise EnvironmentProblem(_unresolved_message(output, wanted, outcome.returncode))


def _unresolved_message(output: str, wanted: Sequence[Requirement], returncode: int | None) -> str:
    """Name the requirement pip could not resolve, and where it came from."""
    match = re.search(r"(?:No matching distribution found for|satisfies the requirement) ([^\s(]+)", output)
    culprit = match.group(1) if match else ""
    sources = [r for r in wanted if culprit and _name(r.line) == _name(culprit)]
    if sources:
        where = "; ".join(f"{r.line!r} from {r.source}" for r in sources)
        return (
            f"pip cannot resolve requirement {culprit} ({where}): no such package, or no wheel of it "
            "for the image's Python and platform (only wheels are installed)"
        )
    tail = output.strip().splitlines()[-3:]
    named = f"requirement {culprit} (needed by a requirement) " if culprit else ""
    return f"pip download failed (exit {returncode}) for {named}: " + " | ".join(tail)


def _docker_build(context: Path, tag: str, config: Config, log: Log) -> None:
    # --network none: the build installs from its context alone, and needs no bridge (a host whose
    # default bridge is missing fails every RUN step otherwise).
    def show(line: str) -> None:
        if line.strip() and not _BUILDER_BANNER.search(line):
            log(f"build: {line}")

    outcome = engine.build_image(context, tag, show, config.up_timeout, network="none")
    if outcome.returncode != 0:
        raise EnvironmentProblem(f"docker build of the requirements image {tag} failed (exit {outcome.returncode})")


def _host_pip() -> list[str]:
    """The host's pip: this Python's, else the one on the PATH (the user's pip configuration applies to both)."""
    if proc.run([sys.executable, "-m", "pip", "--version"], timeout=60).ok:
        return [sys.executable, "-m", "pip"]
    for name in ("pip3", "pip"):
        found = shutil.which(name)
        if found:
            return [found]
    raise EnvironmentProblem(
        "the requirements need pip on this machine to download them: install it "
        "(Debian/Ubuntu: apt-get install python3-pip, or run from the project's .venv)"
    )


def _image_id(reference: str, config: Config) -> str | None:
    return engine.image_id(reference, config.command_timeout)


def _image_user(reference: str, config: Config) -> str:
    return engine.inspect_image(reference, "{{.Config.User}}", config.command_timeout) or ""


def _docker_python(image: str, script: str, config: Config) -> proc.Result:
    result = engine.run_image(image, ["-c", script], config.command_timeout, entrypoint="python3")
    if not result.ok:
        raise DockerCommandFailed.of(result, f"running python3 in {image}")
    return result
