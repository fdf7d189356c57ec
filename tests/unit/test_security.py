"""Security rules that hold for the whole code base, checked on the source itself."""

from __future__ import annotations

import ast
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[2]
HARNESS = sorted((ROOT / "harness").rglob("*.py"))  # subpackages too


def calls(tree: ast.AST) -> list[ast.Call]:
    return [node for node in ast.walk(tree) if isinstance(node, ast.Call)]


def test_no_shell_anywhere_in_the_harness() -> None:
    offenders = []
    for path in HARNESS:
        tree = ast.parse(path.read_text(), filename=str(path))
        for call in calls(tree):
            name = ast.unparse(call.func)
            if name in {"os.system", "os.popen", "subprocess.getoutput", "subprocess.getstatusoutput"}:
                offenders.append(f"{path.name}:{call.lineno} {name}")
            for keyword in call.keywords:
                if keyword.arg == "shell" and not (isinstance(keyword.value, ast.Constant) and not keyword.value.value):
                    offenders.append(f"{path.name}:{call.lineno} shell=")
    assert not offenders


def test_every_subprocess_call_goes_through_the_runner_or_has_a_list() -> None:
    # Popen/run with a string command would need a shell; only argument lists are allowed.
    for path in HARNESS:
        tree = ast.parse(path.read_text(), filename=str(path))
        for call in calls(tree):
            if ast.unparse(call.func) in {"subprocess.Popen", "subprocess.run", "subprocess.check_output"}:
                first = call.args[0] if call.args else None
                assert not isinstance(first, (ast.Constant, ast.JoinedStr)), f"{path.name}:{call.lineno}"


def test_no_prune_and_no_broad_filters() -> None:
    for path in HARNESS:
        text = path.read_text()
        assert "prune" not in text.replace("never `prune`", "").replace("(never `prune`)", ""), path.name


def compose() -> dict:
    return yaml.safe_load((ROOT / "docker-compose.agent.yml").read_text())


def test_compose_publishes_on_loopback_only_and_fixes_no_names() -> None:
    data = compose()
    for name, service in data["services"].items():
        assert "container_name" not in service, name
        for port in service.get("ports", []):
            # The bind address is publish_host, loopback unless the user says otherwise.
            assert str(port).startswith("${HARNESS_PUBLISH_HOST:-127.0.0.1}:"), port
    for volume in (data.get("volumes") or {}).values():
        assert not (volume or {}).get("name")
    for network in (data.get("networks") or {}).values():
        assert not (network or {}).get("name")


def test_compose_matches_the_work_order_and_the_odoo_18_facts() -> None:
    services = compose()["services"]
    odoo, db = services["odoo"], services["db"]
    assert odoo["depends_on"]["db"]["condition"] == "service_healthy"
    assert "pg_isready" in " ".join(db["healthcheck"]["test"])
    health = odoo["healthcheck"]
    assert "curl -f http://localhost:8069/web/health" in " ".join(health["test"])
    assert (health["interval"], health["timeout"], health["retries"], health["start_period"]) == (
        "10s",
        "5s",
        30,
        "60s",
    )
    # The server must never see the test database (the race in docs/odoo18-facts.md).
    assert odoo["command"] == ["--config=/etc/odoo/harness-server.conf", "--db-filter=^$$", "--no-database-list"]
    assert {"HOST", "USER", "PASSWORD"} <= set(odoo["environment"])
    assert any(str(v).endswith(":/mnt/extra-addons:ro") for v in odoo["volumes"])


def test_standin_override_swaps_only_images() -> None:
    override = yaml.safe_load((ROOT / "tests/fixtures/standin/compose.override.yml").read_text())
    for service in override["services"].values():
        assert set(service) == {"image"}
