"""A cache of initialised test databases: the module's dependencies installed once, reused by every run.

Creating the test database is most of a run on real Odoo 18 (`base` and the modules it
auto-installs take some 19 s of a 33 s run), and it is the same work for every run whose module
has the same dependencies. An entry is:

- a Docker image `hub-harness-dbcache:<key>`: the PostgreSQL image with a cluster baked in at
  CACHED_PGDATA (outside the image's volume, so `docker commit` keeps it) that holds the test
  database with the module's dependencies installed, and no test run;
- a folder `<db_cache_dir>/<key>/` with the database's filestore (`filestore/`) and
  `entry.json`, written last: an entry without it is half-built and never used.

A run that finds its entry starts its `db` service from that image: PostgreSQL starts on the
baked cluster with no initdb, and the container's own writable layer keeps the run's writes
private (copy-on-write: no two runs ever write to one database). The module under test is never
in an entry. The key covers what decides an entry's content (see `cache_key`).
"""

from __future__ import annotations

import contextlib
import dataclasses
import datetime
import fcntl
import hashlib
import json
import os
import shutil
import socket
import time
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path
from typing import IO, Literal

from harness import engine
from harness.addons_path import container_folders
from harness.config import Config
from harness.dependencies import Addon, Unresolvable, dependency_closure, image_manifests, user_manifests
from harness.engine import image_id
from harness.hashing import content_hash
from harness.modules import module_dirs
from harness.paths import private_dir

# Bump when what an entry holds, or how it is made, changes.
# 2: built with test mode on; records its installed modules; checked after the build and at a hit.
FORMAT_VERSION = "2"
REPOSITORY = "hub-harness-dbcache"
LABEL = "hub-harness.dbcache"
# Not the image's VOLUME (/var/lib/postgresql/data): data written there stays in the container's
# layer, which `docker commit` captures.
CACHED_PGDATA = "/var/lib/postgresql/harness-cache"
ENTRY_FILE = "entry.json"
FILESTORE_ROOT = "/var/lib/odoo/filestore"

Log = Callable[[str], None]
# A hit starts from the entry; a build makes it; off runs without the cache.
CacheMode = Literal["hit", "build", "off"]


@dataclasses.dataclass(frozen=True)
class ComposeInputs:
    """What the compose files decide about the database, as `docker compose config` resolves them.

    The Odoo configuration the test process reads from the image is covered by the image's ID;
    what the compose files put over it (a mounted odoo.conf, a mounted Odoo source, a config
    with `content:`) is here, by content.
    """

    files: tuple[tuple[str, str], ...] = ()  # (compose file, sha256 of its text), in order
    environment: tuple[tuple[str, str], ...] = ()  # ("service.VAR", value): what the containers get
    mounts: tuple[tuple[str, str], ...] = ()  # ("service:target", content hash of the host source)


def compose_inputs(config: Config, resolved: Mapping[str, object]) -> ComposeInputs:
    """The key's compose inputs: each file's text, and the odoo and db services' environment and mounts.

    `resolved` is `docker compose config --format json` of the project's files (variables
    interpolated). The addons mount is left out: its modules enter the key one by one.
    """
    files = tuple((path.name, hashlib.sha256(path.read_bytes()).hexdigest()) for path in config.compose_files)
    services = resolved.get("services", {})
    assert isinstance(services, dict)
    top_configs = resolved.get("configs", {}) or {}
    environment: list[tuple[str, str]] = []
    mounts: list[tuple[str, str]] = []
    addons_targets = set(container_folders(config))
    for name in (config.odoo_service, config.db_service):
        spec = services.get(name, {}) or {}
        env = spec.get("environment", {}) or {}
        environment += sorted((f"{name}.{var}", str(value)) for var, value in env.items())
        for volume in spec.get("volumes", []) or []:
            if volume.get("type") == "bind" and volume.get("target") not in addons_targets:
                mounts.append((f"{name}:{volume['target']}", _host_content(Path(volume["source"]))))
        for used in spec.get("configs", []) or []:
            source = top_configs.get(used.get("source"), {}) or {}
            if used.get("target") == config.odoo_config:  # the file the test process reads (-c)
                text = source.get("content")
                digest = hashlib.sha256(text.encode()).hexdigest() if text is not None else ""
                mounts.append((f"{name}:{used['target']}", digest or _host_content(Path(source.get("file", "")))))
    return ComposeInputs(files, tuple(environment), tuple(mounts))


def _host_content(path: Path) -> str:
    """A bind mount's host file or folder by content ("missing" when it is not there)."""
    try:
        return content_hash([("source", path)])
    except (FileNotFoundError, OSError):
        return "missing"


@dataclasses.dataclass(frozen=True)
class Plan:
    """What a run does about the cache: `hit`, `build`, or `off` (with the reason)."""

    mode: CacheMode
    reason: str = ""
    key: str = ""
    image: str = ""
    dependencies: tuple[str, ...] = ()
    folder: Path | None = None
    odoo_image_id: str = ""
    postgres_image_id: str = ""
    module: str = ""  # the module under test: never in an entry
    day: str = ""  # the UTC day in the key (ISO date)

    @property
    def uses_cache(self) -> bool:
        """True when the db service must run with the baked PGDATA (a hit, or a build to commit)."""
        return self.mode in ("hit", "build")


def key_inputs(
    *,
    odoo_image_id: str,
    postgres_image_id: str,
    closure: Iterable[str],
    addons_path: Path | Iterable[Path],
    user: Mapping[str, Addon],
    config: Config,
    today: datetime.date,
    compose: ComposeInputs,
) -> list[str]:
    """Everything that decides an entry's content, one `name=value` line each (a new input: one line).

    The two image IDs (the odoo one is the requirements image when there is one, so what pip
    installed, `odoo-addon-*` wheels included, is covered; the image's own odoo.conf with it);
    the dependency closure; the full content of every dependency that lives in one of the
    user's addons folders, and of every auto-install module there (Odoo may install it with
    the dependencies); the database name and credentials baked into the cluster; the Odoo
    options of the test process (its config file); the compose files' text, the environment
    they give the odoo and db containers and what they mount; the format version; and the UTC
    day, because Odoo's demo data holds dates relative to its install day.
    """
    closure = sorted(closure)
    local = sorted(
        {name for name in closure if name in user} | {name for name, addon in user.items() if addon.auto_install}
    )
    parts = [
        f"format={FORMAT_VERSION}",
        f"odoo={odoo_image_id}",
        f"postgres={postgres_image_id}",
        "closure=" + ",".join(closure),
        f"db={config.db_name}",
        f"user={config.db_user}",
        "password=" + hashlib.sha256(config.db_password.encode()).hexdigest(),
        f"odoo_config={config.odoo_config}",
        f"day={today.isoformat()}",
        # Entries are per user: the folder is in the user's cache, so the image is the user's too.
        f"owner={cache_owner()}",
    ]
    parts += [f"compose_file:{name}={digest}" for name, digest in compose.files]
    parts += [f"env:{name}={value}" for name, value in compose.environment]
    parts += [f"mount:{target}={digest}" for target, digest in compose.mounts]
    folders = module_dirs(addons_path)
    parts += [f"local:{name}={content_hash([(name, folders[name])])}" for name in local]
    return parts


def cache_key(**inputs: object) -> str:
    """24 hex digits over `key_inputs` (same arguments)."""
    parts = key_inputs(**inputs)  # type: ignore[arg-type]
    return hashlib.sha256("\n".join(parts).encode()).hexdigest()[:24]


def cache_owner() -> str:
    """Who the entries are for: `<uid>@<host>`. Another owner's entries are never used or reaped.

    Not the user's name: `root` on two hosts that share one engine is two owners, each with a
    cache folder of its own, and neither may take the other's images for its own (or reap them).
    """
    return f"{os.getuid()}@{socket.gethostname()}"


def cache_dir_label(config: Config) -> str:
    """Which db_cache_dir an entry's image belongs to (a label value): 16 hex digits of its path.

    One user may have several (the test suites use folders of their own): a reap of one must not
    take an image whose entry lives in another as half-built.
    """
    return hashlib.sha256(str(config.db_cache_dir).encode()).hexdigest()[:16]


def entry_folder(config: Config, key: str) -> Path:
    """The host folder of an entry."""
    return config.db_cache_dir / key


def is_complete(config: Config, key: str, timeout: float) -> bool:
    """An entry counts only when its image exists and its entry.json was written (last)."""
    folder = entry_folder(config, key)
    return (folder / ENTRY_FILE).is_file() and image_id(f"{REPOSITORY}:{key}", timeout) is not None


def service_images(resolved: Mapping[str, object]) -> dict[str, str]:
    """{service: image} of a resolved compose configuration."""
    services = resolved.get("services", {}) or {}
    assert isinstance(services, dict)
    return {name: str(spec.get("image", "")) for name, spec in services.items() if spec.get("image")}


def plan(config: Config, module: str, resolved: Mapping[str, object]) -> Plan:
    """Decide, before `up`, whether this run uses, builds or bypasses the cache.

    `resolved` is the project's `docker compose config --format json` ({} when it failed).
    """
    if not config.db_cache:
        return Plan("off", "the database cache is turned off (db_cache / HARNESS_DB_CACHE)")
    images = service_images(resolved)
    odoo_ref, db_ref = images.get(config.odoo_service), images.get(config.db_service)
    if not odoo_ref or not db_ref:
        return Plan("off", "the compose files name no image for the odoo or db service")
    timeout = config.command_timeout
    odoo_id, db_id = image_id(odoo_ref, timeout), image_id(db_ref, timeout)
    if odoo_id is None or db_id is None:
        return Plan("off", "an image is not on the engine yet (first pull)")
    user = user_manifests(config.addons_path)
    try:
        manifests = {**image_manifests(odoo_ref, odoo_id, config), **user}
        closure = dependency_closure(module, manifests)
    except Unresolvable as exc:
        return Plan("off", f"dependencies not cacheable: {exc}")
    if manifests[module].auto_install:
        # Installing its dependencies would install it too: the entry would hold the module under
        # test, and its at-install tests would never run.
        return Plan("off", f"{module} is auto_install: Odoo would install it with its dependencies")
    today = datetime.datetime.now(datetime.timezone.utc).date()
    key = cache_key(
        odoo_image_id=odoo_id,
        postgres_image_id=db_id,
        closure=closure,
        addons_path=config.addons_path,
        user=user,
        config=config,
        today=today,
        compose=compose_inputs(config, resolved),
    )
    direct = tuple(sorted(set(manifests[module].depends) or {"base"}))
    folder = entry_folder(config, key)
    unusable = unusable_reason(config, key)
    if unusable is not None:
        # Building it again would fail the same way: this key goes uncached until reaped.
        return Plan("off", f"entry {key} is unusable: {unusable}", key)
    mode: CacheMode = "hit" if is_complete(config, key, timeout) else "build"
    if mode == "hit":
        _touch(folder / ENTRY_FILE)
    return Plan(mode, "", key, f"{REPOSITORY}:{key}", direct, folder, odoo_id, db_id, module, today.isoformat())


def override_file(plan_: Plan, config: Config, db_image: str, target: Path) -> Path:
    """A compose override: the db service on the baked PGDATA (a hit: the entry's image)."""
    image = plan_.image if plan_.mode == "hit" else db_image
    text = (
        "# Written by the harness for one run: the database cache (harness/dbcache.py).\n"
        "services:\n"
        f"  {config.db_service}:\n"
        f"    image: {json.dumps(image)}\n"
        "    environment:\n"
        f"      PGDATA: {json.dumps(CACHED_PGDATA)}\n"
    )
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_text(text, encoding="utf-8")
    return target


class BuildLock:
    """A non-blocking lock on one key: one run builds an entry, the others run uncached."""

    def __init__(self, config: Config, key: str) -> None:
        self.path = config.db_cache_dir / f"{key}.lock"
        self._handle: IO[str] | None = None

    def acquire(self) -> bool:
        """True when this run may build the entry.

        The run-start tidy removes lock files no one holds (harness/dbcache_tidy.py): a lock taken
        on a file that was unlinked meanwhile is no lock, so the file is opened again until the
        locked file is the one at the path.
        """
        private_dir(self.path.parent)
        while True:
            handle = open(self.path, "a", encoding="utf-8")  # noqa: SIM115 - held until release()
            try:
                fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                handle.close()
                return False
            if _same_file(handle, self.path):
                self._handle = handle
                return True
            handle.close()  # removed between open and flock: lock the file now at the path

    def release(self) -> None:
        """Let others build (the kernel also drops the lock if this process dies)."""
        if self._handle is not None:
            fcntl.flock(self._handle, fcntl.LOCK_UN)
            self._handle.close()
            self._handle = None


def _same_file(handle: IO[str], path: Path) -> bool:
    """True when the open `handle` is the file at `path` (not one unlinked since it was opened)."""
    try:
        found = path.stat()
    except FileNotFoundError:
        return False
    held = os.fstat(handle.fileno())
    return (found.st_dev, found.st_ino) == (held.st_dev, held.st_ino)


def write_entry(plan_: Plan, seconds: float, installed: Iterable[str]) -> None:
    """Mark an entry complete (its image and filestore are in place): entry.json, atomically.

    `installed` is every module the entry's database holds installed: a hit checks it again.
    """
    assert plan_.folder is not None
    data = {
        "key": plan_.key,
        "image": plan_.image,
        "dependencies": list(plan_.dependencies),
        "installed": sorted(installed),
        "odoo_image_id": plan_.odoo_image_id,
        "postgres_image_id": plan_.postgres_image_id,
        "created": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        # The UTC day in its key: from the next day on no run computes this key again.
        "day": plan_.day,
        "build_seconds": round(seconds, 1),
        "format": FORMAT_VERSION,
    }
    tmp = plan_.folder / f"{ENTRY_FILE}.{os.getpid()}.tmp"
    tmp.write_text(json.dumps(data, indent=2) + "\n", encoding="utf-8")
    tmp.replace(plan_.folder / ENTRY_FILE)


def recorded_modules(plan_: Plan) -> list[str] | None:
    """The modules the entry recorded as installed (None when entry.json has no such record)."""
    assert plan_.folder is not None
    try:
        data = json.loads((plan_.folder / ENTRY_FILE).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    installed = data.get("installed")
    return sorted(installed) if isinstance(installed, list) else None


UNUSABLE_FILE = "unusable.json"


def mark_unusable(config: Config, key: str, reason: str) -> None:
    """Drop the entry and remember why: later runs of the key go uncached, saying so."""
    folder = entry_folder(config, key)
    with contextlib.suppress(FileNotFoundError):
        (folder / ENTRY_FILE).unlink()  # first: from here on no run takes it for a hit
    shutil.rmtree(folder / "filestore", ignore_errors=True)
    folder.mkdir(parents=True, exist_ok=True)
    data = {"key": key, "reason": reason, "when": datetime.datetime.now(datetime.timezone.utc).isoformat()}
    (folder / UNUSABLE_FILE).write_text(json.dumps(data, indent=2) + "\n", encoding="utf-8")


def drop_entry(config: Config, key: str) -> None:
    """Forget a complete entry that failed its check at a hit: the next run of the key builds it again."""
    shutil.rmtree(entry_folder(config, key), ignore_errors=True)


def unusable_reason(config: Config, key: str) -> str | None:
    """Why the key's entry was found unusable, or None."""
    try:
        data = json.loads((entry_folder(config, key) / UNUSABLE_FILE).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return str(data.get("reason") or "no reason recorded")


def _touch(path: Path) -> None:
    """Record a use (reap removes entries unused for db_cache_unused_days)."""
    now = time.time()
    with contextlib.suppress(OSError):
        os.utime(path, (now, now))


# --- housekeeping: `nox -s reap` ------------------------------------------------------------


def reap(config: Config, log: Log, *, dry_run: bool = False) -> list[str]:
    """Remove entries whose images are gone, unused for db_cache_unused_days, or half-built.

    Returns the keys removed (or that would be, with `dry_run`). An entry being built (its lock
    held) is never touched.
    """
    timeout = config.command_timeout
    mine = [f"label={LABEL}=1", f"label={LABEL}.owner={cache_owner()}"]
    # Images of this db_cache_dir's entries (its label), and the entries' folders here; an image
    # of another folder of this user's (or of a version without the label) is not this reap's.
    here = [*mine, f"label={LABEL}.dir={cache_dir_label(config)}"]
    listed = engine.list_images(here, timeout, fmt="{{.Repository}}:{{.Tag}}")
    keys = {ref.rpartition(":")[2] for ref in listed if ref.startswith(f"{REPOSITORY}:")}
    if config.db_cache_dir.is_dir():
        keys |= {p.name for p in config.db_cache_dir.iterdir() if p.is_dir() and "." not in p.name}
    removed = []
    for key in sorted(keys):
        why = _stale(config, key, timeout)
        if why is None:
            continue
        lock = BuildLock(config, key)
        if not lock.acquire():
            continue  # being built right now
        try:
            log(f"{'would remove' if dry_run else 'removing'} database cache entry {key}: {why}")
            if not dry_run:
                _remove_images([f"{REPOSITORY}:{key}"], log, timeout=timeout)
                shutil.rmtree(entry_folder(config, key), ignore_errors=True)
            removed.append(key)
        finally:
            lock.release()
    _remove_replaced_images(here, log, dry_run=dry_run, timeout=timeout)
    return removed


def _remove_replaced_images(mine: list[str], log: Log, *, dry_run: bool, timeout: float) -> None:
    """Images of entries built again under the same tag: untagged, still labelled, no longer used."""
    replaced = sorted(set(engine.list_images([*mine, "dangling=true"], timeout)))
    if not replaced:
        return
    log(f"{'would remove' if dry_run else 'removing'} {len(replaced)} replaced database cache image(s)")
    if not dry_run:
        # No --force: an image a container still runs on stays (and is said so).
        _remove_images(replaced, log, timeout=timeout)


def _remove_images(references: list[str], log: Log, *, timeout: float) -> None:
    """`docker rmi`; one that stays (a container still runs on it) is reported, not an error of reap."""
    result = engine.remove_images(references, timeout)
    if not result.ok:
        log(f"could not remove {', '.join(references)} (exit {result.returncode}): {result.output.strip()[-300:]}")


def _stale(config: Config, key: str, timeout: float) -> str | None:
    """Why an entry should go, or None when it is in use."""
    entry = entry_folder(config, key) / ENTRY_FILE
    if not entry.is_file():
        return "half-built (no entry.json)"
    data = json.loads(entry.read_text(encoding="utf-8"))
    if image_id(f"{REPOSITORY}:{key}", timeout) is None:
        return "its image is gone"
    for name in ("odoo_image_id", "postgres_image_id"):
        if not data.get(name) or image_id(data[name], timeout) is None:
            return f"the image it was built from ({name.split('_')[0]}) no longer exists"
    unused_days = (time.time() - entry.stat().st_mtime) / 86400
    if unused_days > config.db_cache_unused_days:
        return f"unused for {unused_days:.0f} days"
    # The key holds the UTC day (demo data's dates): an entry of a past day is never hit again.
    day = str(data.get("created") or "")[:10]
    today = datetime.datetime.now(datetime.timezone.utc).date().isoformat()
    if len(day) == 10 and day < today:
        return f"built on {day}: the key holds the UTC day, so no run hits it after that day"
    return None
