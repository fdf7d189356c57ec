"""Names: Odoo technical module names and Compose project names."""

from __future__ import annotations

import re

import pytest

from harness.config import Config
from harness.errors import ExitCode, UsageError
from harness.naming import (
    COMPOSE_PROJECT,
    MAX_MODULE_NAME,
    project_name,
    sanitise,
    validate_module_name,
)

# What `docker compose -p` accepts, written out independently of the module under test.
COMPOSE_RULE = re.compile(r"[a-z0-9][a-z0-9_-]*")


def test_project_name_format():
    name = project_name("hub", "traction", now=1_700_000_000.9, token="a1b2c3")
    assert name == "hub-agent-test-traction-1700000000-a1b2c3"


def test_project_name_uses_the_clock_and_a_random_token():
    name = project_name("evv", "hub_core2")
    match = re.fullmatch(r"evv-agent-test-hub_core2-(\d+)-([0-9a-f]{5,})", name)
    assert match, name
    assert COMPOSE_RULE.fullmatch(name)


def test_names_in_the_same_second_differ():
    names = {project_name("hub", "traction", now=1_700_000_000) for _ in range(1000)}
    assert len(names) == 1000
    assert all(COMPOSE_RULE.fullmatch(n) for n in names)


@pytest.mark.parametrize(
    ("prefix", "expected_start"),
    [
        ("EVV.x", "evv-x-agent-test-"),
        ("Hub", "hub-agent-test-"),
        ("my prefix!", "my-prefix-agent-test-"),
        ("--odd__", "odd-agent-test-"),
        ("...", "x-agent-test-"),
        ("", "x-agent-test-"),
    ],
)
def test_odd_prefixes_are_sanitised_into_a_valid_compose_name(prefix, expected_start):
    name = project_name(prefix, "traction", now=1, token="abc")
    assert name.startswith(expected_start), name
    assert COMPOSE_RULE.fullmatch(name), name
    assert COMPOSE_PROJECT.fullmatch(name)


def test_odd_token_and_module_are_sanitised():
    name = project_name("hub", "Mod.Name", now=5, token="ZZ/..")
    assert name == "hub-agent-test-mod-name-5-zz"


@pytest.mark.parametrize(
    ("text", "expected"),
    [("EVV.x", "evv-x"), ("a--b", "a--b"), ("a..b", "a-b"), ("-a_", "a"), ("ÄÖ", "x"), ("a b c", "a-b-c")],
)
def test_sanitise(text, expected):
    assert sanitise(text) == expected


@pytest.mark.parametrize("name", ["traction", "hub_core2", "a", "a" * MAX_MODULE_NAME, "sale_stock_2"])
def test_valid_module_names(name):
    assert validate_module_name(name) == name


@pytest.mark.parametrize(
    "name",
    [
        "../etc",
        "Traction",
        "a;rm -rf",
        "a b",
        "",
        "1abc",
        "_private",
        "a" * (MAX_MODULE_NAME + 1),
        "traction\n",
        "trac-tion",
        "trac.tion",
        "tráction",
        "$(id)",
        "a/b",
    ],
)
def test_invalid_module_names_are_a_usage_error(name):
    with pytest.raises(UsageError) as caught:
        validate_module_name(name)
    assert repr(name) in caught.value.message
    assert caught.value.exit_code == ExitCode.USAGE == 2


@pytest.mark.parametrize("prefix", ["EVV.x", "Hub"])
def test_config_project_prefix_matches_the_generated_names(tmp_path, prefix):
    config = Config(root=tmp_path, prefix=prefix)
    assert project_name(config.prefix, "traction").startswith(config.project_prefix)


def test_tokens_carry_the_pid_so_concurrent_processes_cannot_collide():
    import os
    import subprocess
    import sys

    from harness.naming import unique_token

    mine = unique_token()
    assert mine.startswith(f"{os.getpid():x}") and len(mine) == len(f"{os.getpid():x}") + 4
    child = subprocess.run(
        [
            sys.executable,
            "-c",
            "import os; from harness.naming import unique_token; print(os.getpid(), unique_token())",
        ],
        capture_output=True,
        text=True,
        check=True,
        timeout=30,
    ).stdout.split()
    assert child[1] == f"{int(child[0]):x}" + child[1][-4:]
    assert child[1][:-4] != mine[:-4]


def test_a_refused_module_name_still_gives_a_valid_bounded_project_name():
    name = project_name("hub", "../../" + "x" * 500, now=5, token="ab")
    assert name == f"hub-agent-test-{'x' * MAX_MODULE_NAME}-5-ab"
    assert COMPOSE_PROJECT.fullmatch(name)
