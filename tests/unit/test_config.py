"""Configuration: `[tool.harness]` defaults, `HARNESS_*` overrides, validation."""

from __future__ import annotations

import dataclasses
import os
from pathlib import Path

import pytest

from harness.config import PATH_LISTS, Config, find_root, load_config, parse_port_range
from harness.errors import ExitCode, UsageError

TABLE = """
[tool.harness]
prefix = "evv"
addons_path = "my_addons"
compose_files = ["one.yml", "two.yml"]
port_range = "9100-9105"
ready_timeout = 42
test_timeout = 99
"""


def write_pyproject(root: Path, table: str) -> Path:
    (root / "pyproject.toml").write_text('[project]\nname = "x"\n' + table, encoding="utf-8")
    return root


# --- the table


def test_values_come_from_the_table_and_paths_are_absolute(tmp_path):
    write_pyproject(tmp_path, TABLE)
    config = load_config(tmp_path, env={})
    assert config.root == tmp_path.resolve()
    assert config.prefix == "evv"
    assert config.project_prefix == "evv-agent-test-"
    assert config.addons_path == (tmp_path.resolve() / "my_addons",)
    assert config.compose_files == (tmp_path.resolve() / "one.yml", tmp_path.resolve() / "two.yml")
    assert config.port_range == (9100, 9105)
    assert list(config.ports) == [9100, 9101, 9102, 9103, 9104, 9105]
    assert config.port_range_text == "9100-9105"
    assert config.ready_timeout == 42.0 and isinstance(config.ready_timeout, float)
    assert config.test_timeout == 99.0


def test_an_empty_table_gives_the_documented_defaults(harness_root):
    config = load_config(harness_root, env={})
    root = harness_root.resolve()
    assert config.prefix == "hub"
    assert config.addons_path == (root / "addons",)
    assert config.compose_files == (root / "docker-compose.agent.yml",)
    assert config.port_range == (8090, 8100)
    assert config.ready_timeout == 300.0
    assert config.test_timeout == 1800.0
    assert config.log_file == root / "proof_of_execution_tests.log"
    assert config.artefacts_dir == root / "artefacts"


def test_repository_pyproject_matches_the_dataclass_defaults():
    """The shipped `[tool.harness]` table and the code agree (no silent drift)."""
    repo = Path(__file__).resolve().parents[2]
    config = load_config(repo, env={})
    assert config.prefix == Config.prefix
    assert config.port_range == Config.port_range
    assert config.ready_timeout == Config.ready_timeout
    assert config.test_timeout == Config.test_timeout
    assert config.compose_files == tuple(repo / p for p in Config.compose_files)
    assert config.addons_path == tuple(repo / p for p in Config.addons_path)


def test_unknown_key_in_the_table_is_refused_by_name(tmp_path):
    write_pyproject(tmp_path, '[tool.harness]\nprefix = "hub"\nready_timeot = 5\n')
    with pytest.raises(UsageError) as caught:
        load_config(tmp_path, env={})
    assert "ready_timeot" in caught.value.message
    assert caught.value.exit_code == ExitCode.USAGE


def test_bad_value_in_the_table_names_the_key(tmp_path):
    write_pyproject(tmp_path, '[tool.harness]\nready_timeout = "soon"\n')
    with pytest.raises(UsageError, match="ready_timeout"):
        load_config(tmp_path, env={})


def test_port_range_as_a_toml_list(tmp_path):
    write_pyproject(tmp_path, "[tool.harness]\nport_range = [9000, 9002]\n")
    assert load_config(tmp_path, env={}).port_range == (9000, 9002)


@pytest.mark.parametrize("value", ["[9002, 9000]", "[0, 70000]", "[9000]", "[9000, 9001, 9002]"])
def test_port_range_list_is_validated_like_the_string_form(tmp_path, value):
    write_pyproject(tmp_path, f"[tool.harness]\nport_range = {value}\n")
    with pytest.raises(UsageError):
        load_config(tmp_path, env={})


# --- finding the root


def test_find_root_walks_up_to_the_harness_table(harness_root):
    deep = harness_root / "a" / "b"
    deep.mkdir(parents=True)
    assert find_root(deep) == harness_root.resolve()
    assert load_config(deep, env={}).root == harness_root.resolve()


def test_find_root_skips_a_pyproject_without_the_table(harness_root):
    inner = harness_root / "sub"
    inner.mkdir()
    (inner / "pyproject.toml").write_text('[project]\nname = "other"\n', encoding="utf-8")
    assert find_root(inner) == harness_root.resolve()


def test_no_harness_table_anywhere_is_a_usage_error(tmp_path):
    (tmp_path / "pyproject.toml").write_text('[project]\nname = "other"\n', encoding="utf-8")
    with pytest.raises(UsageError, match=r"\[tool.harness\]"):
        find_root(tmp_path)


def test_harness_root_environment_variable_picks_the_root(harness_root, tmp_path_factory, monkeypatch):
    monkeypatch.chdir(tmp_path_factory.mktemp("elsewhere"))  # not the cwd: the variable decides
    config = load_config(env={"HARNESS_ROOT": str(harness_root)})
    assert config.root == harness_root.resolve()


# --- environment overrides


def test_env_port_range(harness_root):
    config = load_config(harness_root, env={"HARNESS_PORT_RANGE": "9000-9002"})
    assert config.port_range == (9000, 9002)
    assert list(config.ports) == [9000, 9001, 9002]


def test_env_compose_files_keep_their_order_and_become_absolute(harness_root):
    root = harness_root.resolve()
    absolute = root / "abs" / "c.yml"
    value = os.pathsep.join(["b.yml", "a.yml", "", str(absolute)])
    config = load_config(harness_root, env={"HARNESS_COMPOSE_FILES": value})
    assert config.compose_files == (root / "b.yml", root / "a.yml", absolute)


def test_env_ready_timeout(harness_root):
    assert load_config(harness_root, env={"HARNESS_READY_TIMEOUT": "5"}).ready_timeout == 5.0


def test_env_prefix(harness_root):
    config = load_config(harness_root, env={"HARNESS_PREFIX": "evv"})
    assert config.prefix == "evv"
    assert config.project_prefix == "evv-agent-test-"


def test_env_addons_path_relative_and_absolute(harness_root, tmp_path_factory):
    root = harness_root.resolve()
    assert load_config(harness_root, env={"HARNESS_ADDONS_PATH": "extra/addons"}).addons_path == (
        root / "extra/addons",
    )
    outside = tmp_path_factory.mktemp("addons")
    assert load_config(harness_root, env={"HARNESS_ADDONS_PATH": str(outside)}).addons_path == (outside,)


def test_env_wins_over_the_table(tmp_path):
    write_pyproject(tmp_path, TABLE)
    config = load_config(tmp_path, env={"HARNESS_PREFIX": "ci", "HARNESS_PORT_RANGE": "9200"})
    assert config.prefix == "ci"
    assert config.port_range == (9200, 9200)
    assert config.test_timeout == 99.0  # untouched keys still come from the table


@pytest.mark.parametrize(
    ("variable", "value", "key"),
    [
        ("HARNESS_READY_TIMEOUT", "soon", "ready_timeout"),
        ("HARNESS_TEST_TIMEOUT", "1h", "test_timeout"),
        ("HARNESS_UP_ATTEMPTS", "1.5", "up_attempts"),
        ("HARNESS_STOP_TIMEOUT", "three", "stop_timeout"),
        ("HARNESS_DB_PORT", "", "db_port"),
    ],
)
def test_bad_env_value_is_a_usage_error_naming_the_key(harness_root, variable, value, key):
    with pytest.raises(UsageError) as caught:
        load_config(harness_root, env={variable: value})
    assert key in caught.value.message
    assert repr(value) in caught.value.message


@pytest.mark.parametrize("value", ["abc", "9002-9000", "0-10", "9000-70000", "9000-"])
def test_bad_env_port_range_is_a_usage_error(harness_root, value):
    with pytest.raises(UsageError) as caught:
        load_config(harness_root, env={"HARNESS_PORT_RANGE": value})
    assert "port range" in caught.value.message
    assert repr(value) in caught.value.message


def _sample(name: str, default: object) -> tuple[str, object]:
    """An environment string for `name` and the value load_config must turn it into (root-relative)."""
    if name == "port_range":
        return "9300-9301", (9300, 9301)
    if name in PATH_LISTS:
        return "z.yml", (Path("z.yml"),)
    if isinstance(default, Path):
        return "some/where", Path("some/where")
    if isinstance(default, bool):  # pragma: no cover - no bool setting today
        return "true", True
    if isinstance(default, int):
        return str(default + 7), default + 7
    if isinstance(default, float):
        return str(default + 1.5), default + 1.5
    return f"value-of-{name}", f"value-of-{name}"


def test_every_setting_is_read_from_its_environment_variable(harness_root):
    root = harness_root.resolve()
    for field in dataclasses.fields(Config):
        if field.name == "root":
            continue
        text, expected = _sample(field.name, field.default)
        env = {"HARNESS_" + field.name.upper(): text}
        if field.name == "dependency_addons":  # must be one of addons_path's folders
            env["HARNESS_ADDONS_PATH"] = "a:z.yml"
        config = load_config(harness_root, env=env)
        if field.name in PATH_LISTS:
            expected = (root / "z.yml",)
        elif isinstance(expected, Path):
            expected = root / expected
        assert getattr(config, field.name) == expected, field.name


def test_with_overrides_makes_paths_absolute(harness_root):
    config = load_config(harness_root, env={})
    changed = config.with_overrides(lock_dir=Path("locks"), addons_path=Path("/abs/addons"))
    assert changed.lock_dir == harness_root.resolve() / "locks"
    assert changed.addons_path == (Path("/abs/addons"),)
    assert config.lock_dir != changed.lock_dir  # the original is untouched (frozen copy)


# --- parse_port_range


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("8090-8100", (8090, 8100)),
        ("8090", (8090, 8090)),
        (" 9000-9002 ", (9000, 9002)),
        ("1-65535", (1, 65535)),
        ("65535", (65535, 65535)),
        ("5-5", (5, 5)),
    ],
)
def test_parse_port_range_accepts(text, expected):
    assert parse_port_range(text) == expected


@pytest.mark.parametrize(
    "text", ["", "-", "abc", "8090-", "-8090", "8100-8090", "0-10", "0", "65535-65536", "1-2-3", "80 90", "8090:8100"]
)
def test_parse_port_range_rejects(text):
    with pytest.raises(UsageError) as caught:
        parse_port_range(text)
    assert repr(text) in caught.value.message


# --- several addons folders


def test_addons_path_is_a_list_in_order_and_colon_separated_in_the_environment(tmp_path):
    write_pyproject(tmp_path, '[tool.harness]\naddons_path = [".", "third_party/server-tools"]\n')
    root = tmp_path.resolve()
    assert load_config(tmp_path, env={}).addons_path == (root, root / "third_party/server-tools")
    env = {"HARNESS_ADDONS_PATH": "b:/abs/a:"}
    assert load_config(tmp_path, env=env).addons_path == (root / "b", Path("/abs/a"))


def test_own_addons_are_the_folders_not_named_as_dependencies(tmp_path):
    table = (
        '[tool.harness]\naddons_path = [".", "third_party/x", "deps/y"]\n'
        'dependency_addons = ["third_party/x", "deps/y"]\n'
    )
    write_pyproject(tmp_path, table)
    config = load_config(tmp_path, env={})
    root = tmp_path.resolve()
    assert config.own_addons == (root,)
    assert config.dependency_addons == (root / "third_party/x", root / "deps/y")


def test_a_dependency_folder_outside_addons_path_is_refused_by_name(tmp_path):
    write_pyproject(tmp_path, '[tool.harness]\naddons_path = ["addons"]\ndependency_addons = ["vendor"]\n')
    with pytest.raises(UsageError, match="vendor") as caught:
        load_config(tmp_path, env={})
    assert caught.value.exit_code == ExitCode.USAGE


def test_an_empty_addons_path_is_refused(tmp_path):
    write_pyproject(tmp_path, "[tool.harness]\naddons_path = []\n")
    with pytest.raises(UsageError, match="addons_path"):
        load_config(tmp_path, env={})
