"""The database cache during one run: choose before `up`, then check and restore, or build, before the tests.

harness/dbcache.py defines entries, keys and their housekeeping; this module is what a run does
with them, through its Compose handle. Every step either completes or leaves no entry behind:
an entry counts only once its entry.json is written, after its image and filestore, and only
after the committed image was seen to hold the cluster. A hit proves itself before the tests:
the test database must be there with exactly the modules the entry recorded, or the entry is
dropped and the run goes uncached. `CacheUse.state` says which it was, and why.
"""

from __future__ import annotations

import dataclasses
import json
import os
import shutil
import time
from collections.abc import Callable
from pathlib import Path

from harness import engine, proc
from harness.compose import Compose
from harness.config import Config
from harness.dbcache import (
    CACHED_PGDATA,
    FILESTORE_ROOT,
    LABEL,
    BuildLock,
    Plan,
    cache_dir_label,
    cache_owner,
    drop_entry,
    mark_unusable,
    override_file,
    plan,
    recorded_modules,
    service_images,
    write_entry,
)
from harness.docker_cli import DockerCommandFailed
from harness.odoo_command import build_install_command

Log = Callable[[str], None]

# `recovery_init_sync_method` (see _commit) exists from PostgreSQL 14 on.
MIN_SERVER_VERSION = 140000
# The modules a database holds installed, as Odoo records them.
INSTALLED_QUERY = "SELECT name FROM ir_module_module WHERE state = 'installed' ORDER BY name"
CacheState = str  # "hit", "built" or "uncached"


@dataclasses.dataclass
class CacheUse:
    """What this run does about the cache, and the build lock it holds (a build only).

    `state` and `why` are what the run reports (final block, result.json): `hit` (the entry
    passed its check), `built` (this run made the entry) or `uncached`, each with its reason.
    """

    plan: Plan
    lock: BuildLock | None = None
    files: tuple[Path, ...] = ()  # compose files the project gets on top of its own
    state: CacheState = "uncached"
    why: str = ""

    def settle(self, state: CacheState, why: str) -> None:
        """Record what the cache did for this run."""
        self.state, self.why = state, why

    def release(self) -> None:
        """Let other runs build the key (also dropped by the kernel if the run dies)."""
        if self.lock is not None:
            self.lock.release()
            self.lock = None


def prepare(config: Config, module: str, compose: Compose, folder: Path, log: Log) -> CacheUse:
    """Before `up`: decide hit / build / off; a used cache adds a db override to the project's files."""
    resolved = resolved_config(compose, config)
    chosen = plan(config, module, resolved)
    use = CacheUse(chosen, why=chosen.reason)
    if chosen.mode == "build":
        lock = BuildLock(config, chosen.key)
        if lock.acquire():
            use.lock = lock
        else:
            use.plan = Plan("off", "another run is building this entry right now; this run goes uncached")
            use.why = use.plan.reason
    describe = {
        # Not "hit" yet: that is said once its database passed the check (before_tests).
        "hit": f"entry found: {use.plan.image} ({', '.join(use.plan.dependencies)} installed), checked first",
        "build": f"miss: this run builds {use.plan.image} (installs {', '.join(use.plan.dependencies)} first)",
        "off": f"not used: {use.plan.reason}",
    }
    log(f"database cache {describe[use.plan.mode]}")
    if use.plan.uses_cache:
        use.why = f"the run ended before its database phase ({use.plan.mode} of {use.plan.image} planned)"
    if use.plan.uses_cache:
        db_image = service_images(resolved)[config.db_service]
        use.files = (override_file(use.plan, config, db_image, folder / "dbcache.override.yml"),)
    return use


def resolved_config(compose: Compose, config: Config) -> dict[str, object]:
    """`docker compose config --format json` of the project's files (variables included); {} if it fails."""
    result = compose.run("config", "--format", "json", timeout=config.command_timeout)
    if not result.ok:
        return {}
    loaded = json.loads(result.stdout)
    return loaded if isinstance(loaded, dict) else {}


def before_tests(compose: Compose, use: CacheUse, config: Config, on_line: Log, log: Log) -> None:
    """Before the tests: a hit checks its database and restores the filestore; a build makes the entry.

    A hit runs while Odoo's server boots (RunPhases.ready_with_database), a build after readiness.

    A hit whose database is not what the entry recorded, and a build that fails or whose entry
    would not hold the cluster, are no error of the run: `log` says so in one line, the entry is
    dropped, the test database too, and the tests run uncached (the test command creates it).
    """
    plan_ = use.plan
    try:
        if plan_.mode == "hit":
            problem = check_hit(compose, plan_, config)
            if problem is None:
                restore_filestore(compose, plan_, config)
                use.settle(
                    "hit", f"{plan_.image}: {config.db_name} holds the {_recorded_count(plan_)} recorded modules"
                )
                log(f"database cache hit: {use.why}")
                return
            drop_entry(config, plan_.key)
            _drop_database(compose, config)
            why = f"database cache entry {plan_.key} is unusable: {problem}; dropped, this run goes uncached"
        elif plan_.mode == "build":
            problem, unusable = build_entry(compose, plan_, config, on_line)
            if problem is None:
                use.settle("built", f"{plan_.image}: built by this run, its image checked to hold the cluster")
                log(f"database cache entry built: {use.why}")
                return
            if unusable:
                mark_unusable(config, plan_.key, problem)
            why = f"database cache entry {plan_.key} is unusable: {problem}; this run goes uncached"
        else:
            return
        log(why)
        use.settle("uncached", why)
    finally:
        use.release()


def _recorded_count(plan_: Plan) -> int:
    return len(recorded_modules(plan_) or ())


def check_hit(compose: Compose, plan_: Plan, config: Config) -> str | None:
    """What is wrong with a hit's database (None: the test database holds exactly the recorded modules)."""
    recorded = recorded_modules(plan_)
    if recorded is None:
        return "its entry.json records no installed modules"
    result = _query(compose, config, config.db_name, INSTALLED_QUERY)
    if not result.ok:
        if "does not exist" in result.output:
            return (
                f"database {config.db_name} is not in the cluster the db service started on "
                f"(was the entry's cluster at {CACHED_PGDATA} kept by its image? does the db image ignore PGDATA?)"
            )
        return f"could not read its database: {result.output.strip()[-300:]}"
    found = result.stdout.split()
    if found != recorded:
        missing, extra = sorted(set(recorded) - set(found)), sorted(set(found) - set(recorded))
        return f"{config.db_name} does not hold the recorded modules (missing: {missing or '-'}; extra: {extra or '-'})"
    return None


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


def build_entry(
    compose: Compose, plan_: Plan, config: Config, on_line: Callable[[str], None]
) -> tuple[str | None, bool]:
    """Install the dependencies into the test database, then keep it as the entry, checked.

    Returns (None, False) when the entry is complete, else (what went wrong, whether the entry
    can never work: an unusable db image, a PostgreSQL too old). Nothing is kept then, the
    half-installed database is dropped and the run goes on uncached (the test command creates
    the database itself, as without a cache).
    """
    assert plan_.folder is not None
    started = time.monotonic()
    unfit = _unfit_server(compose, config)
    if unfit is not None:
        return unfit, True
    command = build_install_command(config, plan_.dependencies)
    outcome = proc.stream(
        compose.exec_argv(config.odoo_service, command),
        on_line,
        timeout=config.test_timeout,
        env=compose.environment(),
        on_spawn=compose.on_spawn,
    )
    if outcome.returncode != 0:
        _drop_database(compose, config)
        return f"installing {', '.join(plan_.dependencies)} failed (exit {outcome.returncode})", False
    listed = _checked(_query(compose, config, config.db_name, INSTALLED_QUERY), "listing installed modules")
    installed = listed.stdout.split()
    if plan_.module and plan_.module in installed:
        _drop_database(compose, config)
        return f"installing its dependencies installed {plan_.module} too (an auto_install module?)", True
    folder = plan_.folder
    staging = folder.with_name(f"{folder.name}.{os.getpid()}.tmp")
    shutil.rmtree(staging, ignore_errors=True)
    try:
        (staging / "filestore").mkdir(parents=True)
        source = f"{config.odoo_service}:{FILESTORE_ROOT}/{config.db_name}"
        copied = compose.run("cp", source, str(staging / "filestore" / config.db_name), timeout=config.command_timeout)
        if not copied.ok and "could not find" not in copied.output.lower():
            raise DockerCommandFailed.of(copied, "copying the cache entry's filestore")
        oid = _checked(_query(compose, config, "postgres", _OID_QUERY.format(config.db_name)), "psql").stdout.strip()
        _commit(compose, plan_, config)
        missing = _image_lacks_cluster(plan_.image, oid, config)
        if missing is not None:
            engine.remove_images([plan_.image], config.command_timeout)  # best effort: the entry is dropped anyway
            _drop_database(compose, config)
            return missing, True
        shutil.rmtree(folder, ignore_errors=True)
        staging.replace(folder)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    write_entry(plan_, time.monotonic() - started, installed)
    return None, False


_OID_QUERY = "SELECT oid FROM pg_database WHERE datname = '{}'"


def _unfit_server(compose: Compose, config: Config) -> str | None:
    """Why this db service cannot hold an entry (None: it can), asked before anything is installed."""
    settings = _checked(
        _query(
            compose,
            config,
            "postgres",
            "SELECT current_setting('server_version_num'), "
            "current_setting('server_version'), current_setting('data_directory')",
        ),
        "psql",
    )
    number, version, data_directory = settings.stdout.strip().split("|")
    if int(number) < MIN_SERVER_VERSION:
        return (
            f"PostgreSQL {version} has no recovery_init_sync_method (it needs 14 or later): "
            "every start of a committed cluster would sync its files one by one; the cache is off for it"
        )
    if data_directory.rstrip("/") != CACHED_PGDATA:
        return (
            f"the db image ignores PGDATA: its cluster is in {data_directory}, not {CACHED_PGDATA}; "
            "there it stays in the volume, which `docker commit` does not keep"
        )
    return None


def _image_lacks_cluster(image: str, oid: str, config: Config) -> str | None:
    """After the commit: what the image lacks of the cluster (None: PG_VERSION and the database are there)."""
    script = 'test -s "$0/PG_VERSION" && test -d "$0/base/$1"'
    result = engine.run_image(image, ["-c", script, CACHED_PGDATA, oid], config.command_timeout, entrypoint="sh")
    if result.ok:
        return None
    return (
        f"the committed image {image} does not hold the cluster at {CACHED_PGDATA} (with database "
        f"{config.db_name}): is that folder a VOLUME of the db image? `docker commit` keeps no volume"
    )


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
        f"LABEL {LABEL}.dir={cache_dir_label(config)}",
        f"LABEL {LABEL}.odoo-image={plan_.odoo_image_id}",
        f"LABEL {LABEL}.postgres-image={plan_.postgres_image_id}",
        f"ENV PGDATA={CACHED_PGDATA}",
    )
    engine.commit(container, plan_.image, changes, config.down_timeout, what="database cache: docker commit")


def _psql(compose: Compose, config: Config, sql: str) -> None:
    """One SQL statement in the db container, as the cluster's superuser."""
    _checked(_query(compose, config, "postgres", sql), "psql")


def _query(compose: Compose, config: Config, database: str, sql: str) -> proc.Result:
    """One SQL statement in `database`, as the cluster's superuser; rows unaligned, `|` between columns."""
    argv = ["psql", "-v", "ON_ERROR_STOP=1", "-At", "-U", config.db_user, "-d", database, "-c", sql]
    return compose.run("exec", "-T", config.db_service, *argv, timeout=config.command_timeout)


def _drop_database(compose: Compose, config: Config) -> None:
    """Drop a half-installed test database and its filestore, so the test command starts afresh."""
    _psql(compose, config, f'DROP DATABASE IF EXISTS "{config.db_name}" WITH (FORCE)')
    rm = ["rm", "-rf", f"{FILESTORE_ROOT}/{config.db_name}"]
    _checked(compose.run("exec", "-T", config.odoo_service, *rm, timeout=config.command_timeout), "rm")


def _checked(result: proc.Result, what: str) -> proc.Result:
    if not result.ok:
        raise DockerCommandFailed.of(result, f"database cache: {what}")
    return result
