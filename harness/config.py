"""Configuration: `[tool.harness]` in pyproject.toml, each key overridable by `HARNESS_<KEY>`."""

from __future__ import annotations

import dataclasses
import os
import sys
import tempfile
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from harness.errors import UsageError
from harness.naming import project_prefix

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - Python 3.10
    import tomli as tomllib

ENV_PREFIX = "HARNESS_"
# Keys that hold a list of paths: a TOML list or a string, `:`-separated in the environment.
PATH_LISTS = ("compose_files", "addons_path", "dependency_addons", "requirements")


@dataclasses.dataclass(frozen=True)
class Config:
    """Everything the harness can be told; defaults are the documented ones."""

    root: Path
    prefix: str = "hub"
    # Every addons folder, in Odoo's order (env: `:`-separated). The repository's own modules are
    # those of the folders not named in dependency_addons (the CI matrix, `nox -s tests`, --all).
    addons_path: tuple[Path, ...] = (Path("addons"),)
    # The folders of addons_path that hold modules the repository depends on (submodules, a
    # third_party/ tree): searched, mounted and resolved like the others, but never listed as its own.
    dependency_addons: tuple[Path, ...] = ()
    # Pip requirement files (env `:`-separated; None: requirements.txt and test-requirements.txt
    # at the root, those that exist). Their packages are built into an image (harness/requirements.py).
    requirements: tuple[Path, ...] | None = None
    # How many of the user's requirements images stay when a new one is built (the most recently
    # used; older ones also go once unused for db_cache_unused_days). Images in use always stay.
    requirements_keep: int = 4
    # Where runs record which requirements images they use (one use file each, harness/requirements.py):
    # the user's cache, shared by all their checkouts and runs whatever their lock_dir.
    requirements_state_dir: Path = (
        Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "hub-harness" / "requirements"
    )
    compose_files: tuple[Path, ...] = (Path("docker-compose.agent.yml"),)
    port_range: tuple[int, int] = (8090, 8100)
    publish_host: str = "127.0.0.1"
    ready_timeout: float = 300.0
    ready_poll_interval: float = 0.25
    progress_interval: float = 2.0
    test_timeout: float = 1800.0
    up_timeout: float = 600.0
    up_attempts: int = 3
    # Seconds a run waits for a free port when the range is exhausted (0: fail at once, exit 3);
    # the runs of one `run a b c` wait, so several modules queue for the range.
    port_wait: float = 0.0
    down_timeout: float = 120.0
    # Seconds the teardown keeps asking an engine that does not answer (restarting: it stops every
    # container first, which takes seconds) before it names the project as possibly left.
    engine_wait: float = 30.0
    stop_timeout: int = 0  # the environment is thrown away: nothing in it needs a graceful stop
    command_timeout: float = 60.0
    odoo_service: str = "odoo"
    db_service: str = "db"
    odoo_executable: str = "odoo"
    odoo_config: str = "/etc/odoo/odoo.conf"
    db_name: str = "harness_test"
    db_host: str = "db"
    db_port: int = 5432
    db_user: str = "odoo"
    db_password: str = "odoo"
    test_http_port: int = 8071
    log_file: Path = Path("proof_of_execution_tests.log")
    artefacts_dir: Path = Path("artefacts")
    lock_dir: Path = Path(tempfile.gettempdir()) / "hub-harness"
    reap_max_age: float = 6 * 3600.0
    # The cache of initialised test databases (harness/dbcache.py): on/off, where entries'
    # filestores live (their images are on the engine), and when reap drops an unused entry.
    db_cache: bool = True
    db_cache_dir: Path = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "hub-harness" / "dbcache"
    db_cache_unused_days: float = 7.0
    # How many entries stay after every run's start (harness/dbcache_tidy.py): the most recently
    # used; each is an image of 80 MB or more on the engine.
    db_cache_max_entries: int = 10
    # What a module developer asks of one run (harness/selection.py, keepdb.py, browser.py,
    # coverage_report.py): a test selection, the failing database kept, browser tours, coverage.
    tests: str = ""
    keep_db_on_failure: bool = False
    browser: bool = False
    coverage: bool = False
    fail_under: float = 0.0
    coverage_changed: str = ""  # with coverage: also the coverage of the lines changed since this git ref
    validation_dir: Path = Path("validation")
    validation_module: str = "traction"
    # The interrupt demonstration's module when it stops a run during its tests: one
    # whose tests last long enough to be interrupted (empty: validation_module).
    validation_interrupt_module: str = ""

    def __post_init__(self) -> None:
        # One folder may be given as a path (Config(addons_path=Path("addons")), with_overrides).
        for name in ("addons_path", "dependency_addons"):
            value = getattr(self, name)
            if isinstance(value, (str, Path)):
                object.__setattr__(self, name, (Path(value),))

    @property
    def ports(self) -> range:
        """The host ports the harness may publish Odoo on, inclusive."""
        return range(self.port_range[0], self.port_range[1] + 1)

    @property
    def own_addons(self) -> tuple[Path, ...]:
        """The folders of addons_path that hold the repository's own modules."""
        return tuple(p for p in self.addons_path if p not in self.dependency_addons)

    @property
    def port_range_text(self) -> str:
        """The range as the user wrote it, e.g. `8090-8100`."""
        return f"{self.port_range[0]}-{self.port_range[1]}"

    @property
    def project_prefix(self) -> str:
        """What every compose project of this configuration starts with (`hub-agent-test-`)."""
        return project_prefix(self.prefix)

    def with_overrides(self, **changes: Any) -> Config:
        """A copy with some fields replaced (paths made absolute as in load)."""
        return _absolutise(dataclasses.replace(self, **changes))


def parse_port_range(text: str) -> tuple[int, int]:
    """Parse `8090-8100` (or a single port) into an inclusive pair."""
    first, sep, last = text.strip().partition("-")
    try:
        low = int(first)
        high = int(last) if sep else low
    except ValueError:
        raise UsageError(f"port range {text!r} is not of the form LOW-HIGH, e.g. 8090-8100") from None
    if not (1 <= low <= high <= 65535):
        raise UsageError(f"port range {text!r} must satisfy 1 <= LOW <= HIGH <= 65535")
    return low, high


def _convert(name: str, raw: Any, default: Any) -> Any:
    """Turn a TOML value or an environment string into the type of `default`."""
    try:
        if name == "port_range":
            if not isinstance(raw, str):
                low, high = (int(p) for p in raw)  # exactly two items, else ValueError
                raw = f"{low}-{high}"
            return parse_port_range(raw)
        if name in PATH_LISTS:
            items = raw.split(os.pathsep) if isinstance(raw, str) else list(raw)
            paths = tuple(Path(item) for item in items if item)
            if not paths and name in ("compose_files", "addons_path"):
                raise ValueError(f"no {name}")
            return paths
        if isinstance(default, bool):
            return raw if isinstance(raw, bool) else str(raw).lower() in {"1", "true", "yes", "on"}
        if isinstance(default, Path):
            return Path(raw)
        if isinstance(default, int):
            return int(raw)
        if isinstance(default, float):
            return float(raw)
        return str(raw)
    except (TypeError, ValueError):
        raise UsageError(f"configuration key {name!r}: cannot read {raw!r} as {type(default).__name__}") from None


def _absolutise(config: Config) -> Config:
    """Resolve every relative path against the configuration's root."""

    def resolve(path: Path) -> Path:
        return Path(os.path.normpath(path if path.is_absolute() else config.root / path))

    def resolve_all(paths: tuple[Path, ...]) -> tuple[Path, ...]:
        return tuple(resolve(Path(p)) for p in paths)

    addons = resolve_all(config.addons_path)
    dependencies = resolve_all(config.dependency_addons)
    stray = [str(p) for p in dependencies if p not in addons]
    if stray:
        raise UsageError(
            f"dependency_addons names folders that are not in addons_path: {', '.join(stray)}; "
            f"addons_path is {', '.join(map(str, addons))}"
        )
    return dataclasses.replace(
        config,
        addons_path=addons,
        dependency_addons=dependencies,
        requirements=None if config.requirements is None else resolve_all(config.requirements),
        compose_files=tuple(resolve(p) for p in config.compose_files),
        log_file=resolve(config.log_file),
        artefacts_dir=resolve(config.artefacts_dir),
        lock_dir=resolve(config.lock_dir),
        db_cache_dir=resolve(config.db_cache_dir),
        requirements_state_dir=resolve(config.requirements_state_dir),
        validation_dir=resolve(config.validation_dir),
    )


def find_root(start: Path | None = None) -> Path:
    """The nearest folder at or above `start` whose pyproject.toml has `[tool.harness]`."""
    here = (start or Path.cwd()).resolve()
    for folder in (here, *here.parents):
        candidate = folder / "pyproject.toml"
        if candidate.is_file() and "[tool.harness]" in candidate.read_text(encoding="utf-8"):
            return folder
    raise UsageError(f"no pyproject.toml with a [tool.harness] table at or above {here}")


def load_config(root: Path | None = None, env: Mapping[str, str] | None = None) -> Config:
    """Read `[tool.harness]` under `root`, then apply `HARNESS_*` environment overrides."""
    env = os.environ if env is None else env
    root = Path(env["HARNESS_ROOT"]) if root is None and "HARNESS_ROOT" in env else root
    root = find_root(root)
    table = tomllib.loads((root / "pyproject.toml").read_text(encoding="utf-8")).get("tool", {}).get("harness", {})
    fields = {f.name: f for f in dataclasses.fields(Config) if f.name != "root"}
    unknown = sorted(set(table) - set(fields))
    if unknown:
        raise UsageError(f"unknown key(s) in [tool.harness]: {', '.join(unknown)}; known: {', '.join(sorted(fields))}")
    values: dict[str, Any] = {}
    for name, field in fields.items():
        default = field.default
        raw = env.get(ENV_PREFIX + name.upper(), table.get(name))
        if raw is not None:
            values[name] = _convert(name, raw, default)
    return _absolutise(Config(root=root, **values))
