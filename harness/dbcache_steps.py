"""The database cache during one run: choose before `up`, then restore or build before the tests.

harness/dbcache.py defines entries, keys and their housekeeping; this module is what a run does
with them, through its Compose handle. Every step either completes or leaves no entry behind:
an entry counts only once its entry.json is written, after its image and filestore.
"""

from __future__ import annotations

import dataclasses
import json
import os
import shutil
import time
from collections.abc import Callable
from pathlib import Path

from harness import proc
from harness.compose import Compose
from harness.config import Config
from harness.dbcache import (
    CACHED_PGDATA,
    FILESTORE_ROOT,
    LABEL,
    BuildLock,
    Plan,
    cache_owner,
    override_file,
    plan,
    write_entry,
)
from harness.errors import EnvironmentProblem
from harness.odoo_command import build_install_command

Log = Callable[[str], None]


@dataclasses.dataclass
class CacheUse:
    """What this run does about the cache, and the build lock it holds (a build only)."""

    plan: Plan
    lock: BuildLock | None = None
    files: tuple[Path, ...] = ()  # compose files the project gets on top of its own

    def release(self) -> None:
        """Let other runs build the key (also dropped by the kernel if the run dies)."""
        if self.lock is not None:
            self.lock.release()
            self.lock = None


def prepare(config: Config, module: str, compose: Compose, folder: Path, log: Log) -> CacheUse:
    """Before `up`: decide hit / build / off; a used cache adds a db override to the project's files."""
    images = service_images(compose, config)
    chosen = plan(config, module, images)
    use = CacheUse(chosen)
    if chosen.mode == "build":
        lock = BuildLock(config, chosen.key)
        if lock.acquire():
            use.lock = lock
        else:
            use.plan = Plan("off", "another run is building this entry right now; this run goes uncached")
    describe = {
        "hit": f"hit: {use.plan.image} ({', '.join(use.plan.dependencies)} installed)",
        "build": f"miss: this run builds {use.plan.image} (installs {', '.join(use.plan.dependencies)} first)",
        "off": f"not used: {use.plan.reason}",
    }
    log(f"database cache {describe[use.plan.mode]}")
    if use.plan.uses_cache:
        use.files = (override_file(use.plan, config, images[config.db_service], folder / "dbcache.override.yml"),)
    return use


def service_images(compose: Compose, config: Config) -> dict[str, str]:
    """{service: image} as the compose files resolve them (variables included)."""
    result = compose.run("config", "--format", "json", timeout=config.command_timeout)
    if not result.ok:
        return {}
    services = json.loads(result.stdout).get("services", {})
    return {name: str(spec.get("image", "")) for name, spec in services.items() if spec.get("image")}


def before_tests(compose: Compose, use: CacheUse, config: Config, on_line: Log) -> None:
    """After readiness: a hit restores the entry's filestore; a build installs and keeps the entry.

    A failed build is not an error of the run: its database is dropped and the tests run uncached.
    """
    try:
        if use.plan.mode == "hit":
            restore_filestore(compose, use.plan, config)
        elif use.plan.mode == "build":
            build_entry(compose, use.plan, config, on_line)
    finally:
        use.release()


def restore_filestore(compose: Compose, plan_: Plan, config: Config) -> None:
    """Put the entry's filestore where Odoo looks for the test database's files, owned by Odoo's user."""
    assert plan_.folder is not None
    source = plan_.folder / "filestore"
    timeout = config.command_timeout
    if not source.is_dir() or not any(source.iterdir()):
        return  # the dependencies stored no file
    _checked(compose.run("cp", f"{source}/.", f"{config.odoo_service}:{FILESTORE_ROOT}", timeout=timeout), "cp")
    # `docker cp` creates files as root; Odoo (its own user) must be able to add files beside them.
    chown = ["chown", "-R", "--reference=/var/lib/odoo", FILESTORE_ROOT]
    _checked(compose.run("exec", "-T", "-u", "root", config.odoo_service, *chown, timeout=timeout), "chown")


def build_entry(compose: Compose, plan_: Plan, config: Config, on_line: Callable[[str], None]) -> None:
    """Install the dependencies into the test database, then keep it as the entry.

    If the install fails nothing is kept, the half-installed database is dropped and the run goes
    on uncached (the test command then creates the database itself, as without a cache).
    """
    assert plan_.folder is not None
    started = time.monotonic()
    command = build_install_command(config, plan_.dependencies)
    outcome = proc.stream(
        compose.exec_argv(config.odoo_service, command),
        on_line,
        timeout=config.test_timeout,
        env=compose.environment(),
        on_spawn=compose.on_spawn,
    )
    if outcome.returncode != 0:
        on_line(f"cache build failed (exit {outcome.returncode}); the run goes on uncached")
        _drop_database(compose, config)
        return
    folder = plan_.folder
    staging = folder.with_name(f"{folder.name}.{os.getpid()}.tmp")
    shutil.rmtree(staging, ignore_errors=True)
    try:
        (staging / "filestore").mkdir(parents=True)
        source = f"{config.odoo_service}:{FILESTORE_ROOT}/{config.db_name}"
        copied = compose.run("cp", source, str(staging / "filestore" / config.db_name), timeout=config.command_timeout)
        if not copied.ok and "could not find" not in copied.output.lower():
            raise EnvironmentProblem(f"could not copy the cache entry's filestore: {copied.output.strip()[-300:]}")
        _commit(compose, plan_, config)
        shutil.rmtree(folder, ignore_errors=True)
        staging.replace(folder)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    write_entry(plan_, time.monotonic() - started)


def _commit(compose: Compose, plan_: Plan, config: Config) -> None:
    """`docker commit` the running db container, paused after a checkpoint, as the entry's image.

    A cluster committed while it runs is started by later runs as after a crash: PostgreSQL
    replays the WAL since the checkpoint (nothing, here) but first syncs the data directory,
    file by file by default: 9.8 s at every start, measured. `recovery_init_sync_method =
    syncfs` (PostgreSQL 14+) makes that one syncfs() call, and stopping and restarting the
    container (some 3 s of the one run that builds the entry) is not needed.
    """
    timeout = config.command_timeout
    _psql(compose, config, "ALTER SYSTEM SET recovery_init_sync_method = 'syncfs'")
    _psql(compose, config, "CHECKPOINT")
    container = _checked(compose.run("ps", "-q", config.db_service, timeout=timeout), "ps").stdout.strip()
    changes = (
        f"LABEL {LABEL}=1",
        f"LABEL {LABEL}.key={plan_.key}",
        f"LABEL {LABEL}.owner={cache_owner()}",
        f"LABEL {LABEL}.odoo-image={plan_.odoo_image_id}",
        f"LABEL {LABEL}.postgres-image={plan_.postgres_image_id}",
        f"ENV PGDATA={CACHED_PGDATA}",
    )
    argv = ["docker", "commit", "--pause=true", *(part for c in changes for part in ("--change", c))]
    _checked(proc.run([*argv, container, plan_.image], timeout=config.down_timeout), "docker commit")


def _psql(compose: Compose, config: Config, sql: str) -> None:
    """One SQL statement in the db container, as the cluster's superuser."""
    argv = ["psql", "-v", "ON_ERROR_STOP=1", "-U", config.db_user, "-d", "postgres", "-c", sql]
    _checked(compose.run("exec", "-T", config.db_service, *argv, timeout=config.command_timeout), "psql")


def _drop_database(compose: Compose, config: Config) -> None:
    """Drop a half-installed test database and its filestore, so the test command starts afresh."""
    _psql(compose, config, f'DROP DATABASE IF EXISTS "{config.db_name}" WITH (FORCE)')
    rm = ["rm", "-rf", f"{FILESTORE_ROOT}/{config.db_name}"]
    _checked(compose.run("exec", "-T", config.odoo_service, *rm, timeout=config.command_timeout), "rm")


def _checked(result: proc.Result, what: str) -> proc.Result:
    if not result.ok:
        raise EnvironmentProblem(f"database cache: {what} failed: {result.output.strip()[-400:]}")
    return result
