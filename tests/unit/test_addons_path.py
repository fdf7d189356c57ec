"""Several addons folders in the container: mounts, Odoo's --addons-path, container paths mapped back."""

from __future__ import annotations

from pathlib import Path

import yaml

from harness.addons_path import container_folders, host_path, odoo_addons_path, override_file, repository_path
from harness.config import Config
from harness.odoo_command import build_test_command


def config_of(tmp_path: Path, *folders: str) -> Config:
    return Config(root=tmp_path).with_overrides(addons_path=tuple(Path(f) for f in folders))


def test_one_folder_needs_no_override_and_keeps_the_image_path(tmp_path):
    config = config_of(tmp_path, "addons")
    assert container_folders(config) == ["/mnt/extra-addons"]
    assert override_file(config, tmp_path / "o.yml") is None
    assert not (tmp_path / "o.yml").exists()


def test_further_folders_are_mounted_read_only_in_order(tmp_path):
    config = config_of(tmp_path, ".", "third_party/server-tools", "/abs/vendor")
    written = override_file(config, tmp_path / "run" / "addons.override.yml")
    assert written is not None
    volumes = yaml.safe_load(written.read_text())["services"]["odoo"]["volumes"]
    assert volumes == [
        {
            "type": "bind",
            "source": str(tmp_path / "third_party/server-tools"),
            "target": "/mnt/extra-addons-1",
            "read_only": True,
        },
        {"type": "bind", "source": "/abs/vendor", "target": "/mnt/extra-addons-2", "read_only": True},
    ]
    assert odoo_addons_path(config) == "/mnt/extra-addons,/mnt/extra-addons-1,/mnt/extra-addons-2"
    argv = build_test_command(config, "traction")
    assert argv[argv.index("--addons-path") + 1] == odoo_addons_path(config)


def test_container_paths_map_back_to_the_folder_they_came_from(tmp_path):
    config = config_of(tmp_path, "addons", "third_party")
    assert host_path("/mnt/extra-addons/m/tests/t.py", config) == tmp_path / "addons/m/tests/t.py"
    assert host_path("/mnt/extra-addons-1/d/models.py", config) == tmp_path / "third_party/d/models.py"
    assert repository_path("/mnt/extra-addons-1/d/models.py", config, tmp_path) == "third_party/d/models.py"
    assert repository_path("/usr/lib/python3/dist-packages/odoo/models.py", config, tmp_path) is None
    assert repository_path("/mnt/extra-addons-7/x.py", config, tmp_path) is None
