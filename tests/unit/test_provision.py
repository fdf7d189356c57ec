"""scripts/provision-engine.sh decides from probes; `--plan` prints the decision and changes nothing.

Every probe is given through PROVISION_* variables, so these run anywhere (no Docker, no apt,
no root) and show what the script would do on each kind of machine.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
SCRIPT = ROOT / "scripts" / "provision-engine.sh"
BASH = shutil.which("bash")

pytestmark = pytest.mark.skipif(BASH is None, reason="needs bash")

# A Debian bookworm machine as root with nothing installed: every probe answered.
BOOKWORM_BARE = {
    "PROVISION_ENGINE": "no",
    "PROVISION_COMPOSE": "no",
    "PROVISION_KERNEL": "Linux",
    "PROVISION_UID": "0",
    "PROVISION_OS_ID": "debian",
    "PROVISION_OS_LIKE": "",
    "PROVISION_OS_CODENAME": "bookworm",
    "PROVISION_APT": "yes",
    "PROVISION_DOCKERD": "no",
    "PROVISION_DOCKER_CE": "no",
    "PROVISION_SYSTEMD": "no",
    "PROVISION_DEBOOTSTRAP": "no",
}
UBUNTU = {**BOOKWORM_BARE, "PROVISION_OS_ID": "ubuntu", "PROVISION_OS_LIKE": "debian", "PROVISION_OS_CODENAME": "noble"}


def plan(*args: str, tmp_path: Path, **probes: str) -> subprocess.CompletedProcess[str]:
    """Run the script with only the given probes and a PATH of plain text tools: no docker, apt-get or sudo."""
    tools = tmp_path / "bin"
    tools.mkdir(exist_ok=True)
    for tool in ("sed", "grep", "awk", "id", "cat", "head"):
        found = shutil.which(tool)
        if found and not (tools / tool).exists():
            (tools / tool).symlink_to(found)
    env = {"PATH": str(tools), "HOME": str(tmp_path), **probes}
    return subprocess.run([BASH, str(SCRIPT), *args], env=env, cwd=tmp_path, capture_output=True, text=True, timeout=30)


def plan_lines(result: subprocess.CompletedProcess[str]) -> list[str]:
    return [line.removeprefix("[provision] plan: ") for line in result.stdout.splitlines() if "plan: " in line]


def test_engine_and_compose_present_means_nothing_to_do_and_nothing_needed(tmp_path):
    """Not root, no apt, no debootstrap, not even Linux: when both answer, nothing else is asked."""
    probes = {"PROVISION_ENGINE": "yes", "PROVISION_COMPOSE": "yes", "PROVISION_UID": "1000"}
    for args in (("--plan",), ()):
        result = plan(*args, tmp_path=tmp_path, **probes)
        assert result.returncode == 0, result.stderr
        assert "nothing to do" in result.stdout
        assert "root" not in result.stdout + result.stderr
        assert "debootstrap" not in result.stdout + result.stderr


def test_debootstrap_only_when_asked_for(tmp_path):
    probes = {**BOOKWORM_BARE, "PROVISION_ENGINE": "yes", "PROVISION_COMPOSE": "yes"}
    assert "nothing to do" in plan("--plan", tmp_path=tmp_path, **probes).stdout
    result = plan("--plan", "--with-debootstrap", tmp_path=tmp_path, **probes)
    assert result.returncode == 0
    assert plan_lines(result) == ["apt-get install debootstrap"]


@pytest.mark.skipif(
    not any(Path(d, "debootstrap").exists() for d in ("/usr/local/sbin", "/usr/sbin", "/sbin")),
    reason="debootstrap is not installed in an sbin folder here",
)
def test_debootstrap_in_sbin_is_found_when_the_users_path_lacks_sbin(tmp_path):
    """Debian's PATH for a normal user has no /usr/sbin, where debootstrap is: it is installed all the same."""
    probes = {"PROVISION_ENGINE": "yes", "PROVISION_COMPOSE": "yes", "PROVISION_UID": "1000"}
    result = plan("--plan", "--with-debootstrap", tmp_path=tmp_path, **probes)  # PATH: no sbin
    assert result.returncode == 0, result.stderr
    assert "nothing to do" in result.stdout


def test_non_root_needing_an_install_gets_a_clear_error(tmp_path):
    result = plan("--plan", tmp_path=tmp_path, **{**UBUNTU, "PROVISION_UID": "1000"})
    assert result.returncode == 1
    assert plan_lines(result) == [
        "apt-get install docker.io docker-compose-v2",
        "start dockerd in the background (log: /var/log/harness-dockerd.log) and wait until docker info answers",
    ]
    assert "these steps need root: apt-get install docker.io docker-compose-v2;" in result.stderr
    assert "sudo bash scripts/provision-engine.sh" in result.stderr
    # A real run as that user stops at the same point, before touching anything.
    real = plan(tmp_path=tmp_path, **{**UBUNTU, "PROVISION_UID": "1000"})
    assert real.returncode == 1 and "need root" in real.stderr
    assert "apt-get update" not in real.stdout


def test_ubuntu_with_docker_ce_and_its_compose_plugin_needs_nothing(tmp_path):
    probes = {**UBUNTU, "PROVISION_ENGINE": "yes", "PROVISION_COMPOSE": "yes", "PROVISION_DOCKER_CE": "yes"}
    result = plan("--plan", tmp_path=tmp_path, **probes)
    assert result.returncode == 0
    assert "nothing to do" in result.stdout
    assert "mirror" not in result.stdout + result.stderr


def test_ubuntu_with_docker_ce_not_running_is_started_without_any_debian_mirror(tmp_path):
    probes = {
        **UBUNTU,
        "PROVISION_ENGINE": "no",
        "PROVISION_COMPOSE": "yes",
        "PROVISION_DOCKER_CE": "yes",
        "PROVISION_DOCKERD": "yes",
        "PROVISION_SYSTEMD": "yes",
    }
    result = plan("--plan", tmp_path=tmp_path, **probes)
    assert result.returncode == 0, result.stderr
    assert plan_lines(result) == ["systemctl start docker and wait until docker info answers"]
    assert "Debian" not in result.stdout + result.stderr


def test_ubuntu_with_docker_ce_missing_its_plugin_installs_docker_compose_plugin(tmp_path):
    probes = {**UBUNTU, "PROVISION_ENGINE": "yes", "PROVISION_DOCKER_CE": "yes", "PROVISION_DOCKERD": "yes"}
    assert plan_lines(plan("--plan", tmp_path=tmp_path, **probes)) == ["apt-get install docker-compose-plugin"]


def test_debian_bookworm_without_compose_fetches_it_from_trixie_via_its_own_mirror(tmp_path):
    probes = {**BOOKWORM_BARE, "PROVISION_ENGINE": "yes", "PROVISION_DOCKERD": "yes"}
    result = plan("--plan", tmp_path=tmp_path, **probes)
    assert result.returncode == 0, result.stderr
    assert plan_lines(result) == [
        "fetch docker-compose from Debian trixie through this machine's Debian mirror into "
        "/usr/local/lib/docker/cli-plugins"
    ]


def test_bare_debian_bookworm_gets_engine_compose_and_a_started_engine(tmp_path):
    result = plan("--plan", "--with-debootstrap", tmp_path=tmp_path, **BOOKWORM_BARE)
    assert result.returncode == 0, result.stderr
    assert plan_lines(result) == [
        "apt-get install docker.io debootstrap",
        "fetch docker-compose from Debian trixie through this machine's Debian mirror into "
        "/usr/local/lib/docker/cli-plugins",
        "start dockerd in the background (log: /var/log/harness-dockerd.log) and wait until docker info answers",
    ]


def test_debian_trixie_installs_its_own_compose_v2(tmp_path):
    probes = {**BOOKWORM_BARE, "PROVISION_OS_CODENAME": "trixie", "PROVISION_ENGINE": "yes"}
    assert plan_lines(plan("--plan", tmp_path=tmp_path, **probes)) == ["apt-get install docker-compose"]


def test_macos_without_an_engine_is_sent_to_docker_desktop(tmp_path):
    result = plan("--plan", tmp_path=tmp_path, PROVISION_ENGINE="no", PROVISION_COMPOSE="no", PROVISION_KERNEL="Darwin")
    assert result.returncode == 1
    assert "Docker Desktop" in result.stderr
    assert "apt" not in result.stdout


def test_a_user_outside_the_docker_group_is_told_so(tmp_path):
    probes = {**UBUNTU, "PROVISION_ENGINE": "denied", "PROVISION_COMPOSE": "yes", "PROVISION_UID": "1000"}
    result = plan("--plan", tmp_path=tmp_path, **probes)
    assert result.returncode == 1
    assert "docker group" in result.stderr and "usermod -aG docker" in result.stderr


def test_other_systems_are_told_to_install_it_themselves(tmp_path):
    result = plan("--plan", tmp_path=tmp_path, **{**BOOKWORM_BARE, "PROVISION_APT": "no"})
    assert result.returncode == 1
    assert "no apt-get" in result.stderr


def test_unknown_options_are_refused(tmp_path):
    result = plan("--frobnicate", tmp_path=tmp_path)
    assert result.returncode == 2
    assert "unknown option" in result.stderr


def test_plan_on_this_machine_runs_without_changing_anything(tmp_path):
    """The real probes: whatever this machine is, --plan exits 0 or 1 with a reason, and installs nothing."""
    result = subprocess.run(
        [BASH, str(SCRIPT), "--plan"], capture_output=True, text=True, timeout=120, env=dict(os.environ)
    )
    assert result.returncode in (0, 1), result.stderr
    assert "[provision]" in result.stdout + result.stderr
    assert "installing" not in result.stdout
