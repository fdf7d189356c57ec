"""A hit proves itself, a build checks what it keeps (harness.dbcache_steps, with a scripted db; no Docker)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from harness import dbcache, dbcache_steps, proc
from harness.config import Config
from tests.unit.pinned import DOCKER

KEY = "k" * 24


class FakeCompose:
    """Answers the psql calls of dbcache_steps as a db container would; records what was run."""

    def __init__(self, *, version: int = 150004, data_directory: str = dbcache.CACHED_PGDATA,
                 installed: list[str] | None = None, database: bool = True) -> None:  # fmt: skip
        self.version, self.data_directory = version, data_directory
        self.installed = ["base", "web"] if installed is None else installed
        self.database = database
        self.sql: list[str] = []

    def run(self, *args: str, timeout: float) -> proc.Result:
        if "psql" in args:
            sql, database = args[-1], args[args.index("-d") + 1]
            self.sql.append(sql)
            if database != "postgres" and not self.database:
                return proc.Result(args, 2, "", f'FATAL:  database "{database}" does not exist', 0.0)
            if sql.startswith("SELECT current_setting"):
                major = self.version // 10000
                return proc.Result(args, 0, f"{self.version}|{major}.4|{self.data_directory}\n", "", 0.0)
            if sql == dbcache_steps.INSTALLED_QUERY:
                return proc.Result(args, 0, "\n".join(self.installed) + "\n", "", 0.0)
            if sql.startswith("SELECT oid"):
                return proc.Result(args, 0, "16384\n", "", 0.0)
        return proc.Result(args, 0, "", "", 0.0)

    def exec_argv(self, service: str, command: list[str]) -> list[str]:
        return ["true"]

    def environment(self) -> dict[str, str]:
        return {}

    on_spawn = None


def _plan(config: Config, mode: str, module: str = "mod") -> dbcache.Plan:
    folder = config.db_cache_dir / KEY
    return dbcache.Plan(mode, "", KEY, f"{dbcache.REPOSITORY}:{KEY}", ("base",), folder, "sha256:o", "sha256:p", module)


def _complete_entry(config: Config, installed: list[str]) -> dbcache.Plan:
    plan = _plan(config, "hit")
    assert plan.folder is not None
    plan.folder.mkdir(parents=True)
    dbcache.write_entry(plan, 1.0, installed)
    return plan


def _before_tests(compose: FakeCompose, plan: dbcache.Plan, config: Config) -> tuple[dbcache_steps.CacheUse, list[str]]:
    use = dbcache_steps.CacheUse(plan)
    lines: list[str] = []
    dbcache_steps.before_tests(compose, use, config, on_line=lambda _line: None, log=lines.append)  # type: ignore[arg-type]
    return use, lines


@pytest.fixture
def config(tmp_path: Path) -> Config:
    return Config(root=tmp_path, db_cache_dir=tmp_path / "cache")


def test_a_hit_whose_database_holds_the_recorded_modules_is_a_hit(config: Config) -> None:
    plan = _complete_entry(config, ["base", "web"])
    use, lines = _before_tests(FakeCompose(installed=["base", "web"]), plan, config)
    assert use.state == "hit" and "holds the 2 recorded modules" in use.why
    assert lines == [f"database cache hit: {use.why}"]


@pytest.mark.parametrize(
    ("compose", "words"),
    [
        (FakeCompose(database=False), "database harness_test is not in the cluster the db service started on"),
        (FakeCompose(installed=["base"]), "does not hold the recorded modules (missing: ['web']; extra: -)"),
        (FakeCompose(installed=["base", "mail", "web"]), "extra: ['mail']"),
    ],
)
def test_a_hit_that_fails_its_check_says_why_drops_the_entry_and_goes_uncached(
    config: Config, compose: FakeCompose, words: str
) -> None:
    plan = _complete_entry(config, ["base", "web"])
    use, lines = _before_tests(compose, plan, config)
    assert use.state == "uncached"
    (line,) = lines
    assert line.startswith(f"database cache entry {KEY} is unusable: ") and words in line, line
    assert line.endswith("dropped, this run goes uncached")
    assert not dbcache.is_complete(config, KEY, 1) and not (config.db_cache_dir / KEY).exists()
    assert any(sql.startswith("DROP DATABASE IF EXISTS") for sql in compose.sql)  # the test command starts afresh


@pytest.mark.parametrize(
    ("compose", "words"),
    [
        (FakeCompose(data_directory="/var/lib/postgresql/data"), "the db image ignores PGDATA: its cluster is in "
         "/var/lib/postgresql/data, not /var/lib/postgresql/harness-cache; there it stays in the volume, which "
         "`docker commit` does not keep"),
        (FakeCompose(version=130012), "PostgreSQL 13.4 has no recovery_init_sync_method (it needs 14 or later)"),
        (FakeCompose(installed=["base", "mod"]), "installing its dependencies installed mod too"),
    ],
)  # fmt: skip
def test_a_build_that_cannot_make_a_usable_entry_marks_it_and_goes_uncached(
    config: Config, compose: FakeCompose, words: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(dbcache_steps.proc, "stream", lambda *a, **k: proc.StreamResult(0, 1.0, False))
    use, lines = _before_tests(compose, _plan(config, "build"), config)
    assert use.state == "uncached"
    (line,) = lines
    assert words in line, line
    assert dbcache.unusable_reason(config, KEY) is not None and words in (dbcache.unusable_reason(config, KEY) or "")
    # Later runs of the key say so and go uncached, without building again.
    assert not (config.db_cache_dir / KEY / dbcache.ENTRY_FILE).exists()


def test_a_committed_image_without_the_cluster_is_not_an_entry(config: Config, monkeypatch: pytest.MonkeyPatch) -> None:
    # PGDATA honoured, but the cached folder lies in a VOLUME of the image (as postgres:18's
    # /var/lib/postgresql): the commit keeps nothing, and the check of the image says so.
    monkeypatch.setattr(dbcache_steps.proc, "stream", lambda *a, **k: proc.StreamResult(0, 1.0, False))
    ran: list[list[str]] = []

    def fake_run(argv: list[str], timeout: float, **kwargs: object) -> proc.Result:
        ran.append(argv)
        return proc.Result(tuple(argv), 1 if argv[:4] == [*DOCKER, "run"] else 0, "", "", 0.0)

    monkeypatch.setattr(dbcache_steps.proc, "run", fake_run)
    use, lines = _before_tests(FakeCompose(), _plan(config, "build"), config)
    assert use.state == "uncached" and "does not hold the cluster at /var/lib/postgresql/harness-cache" in lines[0]
    assert [*DOCKER, "rmi", f"{dbcache.REPOSITORY}:{KEY}"] in ran
    assert not (config.db_cache_dir / KEY / dbcache.ENTRY_FILE).exists()


def test_a_good_build_records_the_installed_modules(config: Config, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(dbcache_steps.proc, "stream", lambda *a, **k: proc.StreamResult(0, 1.0, False))
    monkeypatch.setattr(dbcache_steps.proc, "run", lambda argv, timeout, **kw: proc.Result(tuple(argv), 0, "", "", 0.0))
    use, lines = _before_tests(FakeCompose(installed=["base", "web"]), _plan(config, "build"), config)
    assert use.state == "built", lines
    data = json.loads((config.db_cache_dir / KEY / dbcache.ENTRY_FILE).read_text())
    assert data["installed"] == ["base", "web"] and data["format"] == dbcache.FORMAT_VERSION
