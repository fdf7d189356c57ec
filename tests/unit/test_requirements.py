"""Python requirements: files and manifests read, the image key, pip's target options, unresolvable lines named."""

from __future__ import annotations

from pathlib import Path

import pytest

from harness import requirements
from harness.config import Config
from harness.errors import ExitCode, UsageError
from harness.requirements import Requirement, Target, for_module, image_key, read_file, requirement_files


def module(folder: Path, name: str, depends: list[str], python: list[str] | None = None) -> None:
    (folder / name).mkdir(parents=True)
    manifest = {"name": name, "depends": depends}
    if python is not None:
        manifest["external_dependencies"] = {"python": python}
    (folder / name / "__manifest__.py").write_text(repr(manifest), encoding="utf-8")


def test_defaults_are_the_root_files_that_exist(tmp_path):
    config = Config(root=tmp_path).with_overrides()
    assert requirement_files(config) == []
    (tmp_path / "test-requirements.txt").write_text("odoo-test-helper\n")
    assert requirement_files(config) == [tmp_path / "test-requirements.txt"]


def test_a_configured_file_that_is_missing_is_a_usage_error(tmp_path):
    config = Config(root=tmp_path).with_overrides(requirements=(Path("nope.txt"),))
    with pytest.raises(UsageError, match="nope.txt") as caught:
        requirement_files(config)
    assert caught.value.exit_code == ExitCode.USAGE


def test_files_are_read_with_includes_and_each_line_knows_its_source(tmp_path):
    (tmp_path / "base.txt").write_text("requests>=2  # comment\n")
    (tmp_path / "test-requirements.txt").write_text(
        "# OCA\n\nodoo-test-helper\n-r base.txt\nodoo-addon-date-range==18.0.5.0.2.2\n"
    )
    found = read_file(tmp_path / "test-requirements.txt")
    assert [(r.line, r.source) for r in found] == [
        ("odoo-test-helper", f"{tmp_path / 'test-requirements.txt'}:3"),
        ("requests>=2", f"{(tmp_path / 'base.txt').resolve()}:1"),
        ("odoo-addon-date-range==18.0.5.0.2.2", f"{tmp_path / 'test-requirements.txt'}:5"),
    ]


def test_a_pip_option_in_a_file_is_refused_with_its_place(tmp_path):
    (tmp_path / "r.txt").write_text("--index-url http://example.invalid/simple\n")
    with pytest.raises(UsageError, match=r"r.txt:1"):
        read_file(tmp_path / "r.txt")


def test_manifests_of_the_module_and_its_local_dependencies_count(tmp_path):
    own, deps = tmp_path / "own", tmp_path / "deps"
    module(own, "mine", ["theirs", "mail"], ["odoo_test_helper"])
    module(deps, "theirs", ["base"], ["phonenumbers"])
    module(own, "unrelated", ["base"], ["never"])
    config = Config(root=tmp_path).with_overrides(addons_path=(own, deps))
    lines = sorted(r.line for r in for_module(config, "mine"))
    assert lines == ["odoo_test_helper", "phonenumbers"]
    assert any("theirs" in r.source and "external_dependencies" in r.source for r in for_module(config, "mine"))


def test_the_key_follows_the_base_image_and_the_lines_not_their_order():
    a, b = Requirement("x==1", "f:1"), Requirement("y", "f:2")
    assert image_key("sha256:1", [a, b]) == image_key("sha256:1", [b, a, a])
    assert image_key("sha256:1", [a, b]) != image_key("sha256:2", [a, b])
    assert image_key("sha256:1", [a]) != image_key("sha256:1", [a, b])


def test_pip_downloads_wheels_for_the_image_python_and_platform():
    args = Target("3.11", "2.36", "x86_64").pip_arguments()
    assert "--only-binary=:all:" in args
    assert args[args.index("--python-version") + 1] == "3.11"
    platforms = [args[i + 1] for i, a in enumerate(args) if a == "--platform"]
    assert platforms[0] == "manylinux_2_36_x86_64" and "manylinux2014_x86_64" in platforms
    assert "manylinux_2_17_x86_64" in platforms and "cp311" in args


def test_an_unresolvable_requirement_is_named_with_its_file():
    wanted = [Requirement("odoo-test-helper", "req.txt:1"), Requirement("no_such_pkg>=1", "test-requirements.txt:4")]
    output = "ERROR: Could not find a version that satisfies the requirement no-such-pkg>=1 (from versions: none)\n"
    output += "ERROR: No matching distribution found for no-such-pkg>=1"
    message = requirements._unresolved_message(output, wanted, 1)
    assert "no-such-pkg" in message and "test-requirements.txt:4" in message and "req.txt" not in message


def test_the_override_puts_the_odoo_service_on_the_image(tmp_path):
    import yaml

    config = Config(root=tmp_path)
    written = requirements.override_file(config, "hub-harness-req:abc", tmp_path / "o.yml")
    assert yaml.safe_load(written.read_text()) == {"services": {"odoo": {"image": "hub-harness-req:abc"}}}


def test_a_run_resolves_its_images_then_asks_for_the_requirements_image(tmp_path, monkeypatch):
    """RunPhases.prepare_image, without Docker: the resolved odoo image goes to for_run, its override is kept."""
    from harness import dbcache_steps
    from harness.phases import RunPhases

    (tmp_path / "addons" / "m").mkdir(parents=True)
    (tmp_path / "addons" / "m" / "__manifest__.py").write_text("{'name': 'm'}")
    (tmp_path / "test-requirements.txt").write_text("odoo-test-helper\n")
    config = Config(root=tmp_path).with_overrides(artefacts_dir=Path("artefacts"))
    monkeypatch.setattr(dbcache_steps, "resolved_config", lambda compose, cfg: {"services": {"odoo": {"image": "o:1"}}})
    asked = {}

    def for_run(cfg, module, images, folder, log, extra):
        asked.update(module=module, images=dict(images), extra=list(extra))
        return (folder / "requirements.override.yml",)

    monkeypatch.setattr(requirements, "for_run", for_run)
    phases = RunPhases(config, "m")
    phases.prepare_image()
    assert asked == {"module": "m", "images": {"odoo": "o:1"}, "extra": []}
    assert phases.override_files()[-1].name == "requirements.override.yml"


def test_one_build_per_key_at_a_time_and_the_lock_is_private(tmp_path):
    import fcntl

    config = Config(root=tmp_path).with_overrides(lock_dir=tmp_path / "locks")
    with requirements._build_lock(config, "k1"):
        (lock,) = list(tmp_path.rglob("requirements-k1.lock"))
        with open(lock, "w", encoding="utf-8") as other, pytest.raises(BlockingIOError):
            fcntl.flock(other, fcntl.LOCK_EX | fcntl.LOCK_NB)
    assert (lock.parent.stat().st_mode & 0o077) == 0


def test_the_official_image_layout_gets_wheels_for_noble_and_the_contexts_own_pip(tmp_path, monkeypatch):
    """odoo:18.0 (Ubuntu noble: Python 3.12, glibc 2.39, user odoo, Odoo a deb in dist-packages), without Docker.

    The argv pip downloads with selects cp312 / manylinux_2_39 wheels; the Dockerfile installs them
    as root with the context's pip wheel (never the image's), past PEP 668, and goes back to `odoo`.
    """
    config = Config(root=tmp_path).with_overrides(lock_dir=tmp_path / "locks")
    monkeypatch.setattr(requirements, "target_of", lambda image, cfg: Target("3.12", "2.39", "x86_64"))
    monkeypatch.setattr(requirements, "_image_user", lambda image, cfg: "odoo")
    monkeypatch.setattr(requirements, "_host_pip", lambda: ["/host/python3", "-m", "pip"])
    calls: list[list[str]] = []

    def pip(argv, wanted, cfg, log):
        calls.append(argv)
        dest = Path(argv[argv.index("-d") + 1])
        if argv[-1] == "pip":
            (dest / "pip-26.0-py3-none-any.whl").write_bytes(b"")
        else:  # what pip leaves: the wheels, and the odoo stub it resolved odoo-addon-* against
            (dest / "odoo_test_helper-2.1.3-py3-none-any.whl").write_bytes(b"")
            (dest / "odoo-18.0-py3-none-any.whl").write_bytes(b"")

    monkeypatch.setattr(requirements, "_pip", pip)
    context = tmp_path / "context"
    context.mkdir()
    wanted = [Requirement("odoo-test-helper==2.1.3", "test-requirements.txt:1")]
    requirements._prepare_context(context, config, "odoo:18.0", wanted, lambda line: None)

    download = calls[0]
    assert download[:4] == ["/host/python3", "-m", "pip", "download"]  # on the host, with its pip configuration
    assert download[download.index("--python-version") + 1] == "3.12" and "cp312" in download
    platforms = [download[i + 1] for i, a in enumerate(download) if a == "--platform"]
    assert platforms[0] == "manylinux_2_39_x86_64" and "manylinux2014_x86_64" in platforms
    assert sorted(p.name for p in (context / "wheels").iterdir()) == ["odoo_test_helper-2.1.3-py3-none-any.whl"]
    lines = (context / "Dockerfile").read_text().splitlines()
    assert lines[:2] == ["FROM odoo:18.0", "USER root"]
    (run,) = [line for line in lines if line.startswith("RUN ")]
    assert run.startswith("RUN python3 /tmp/harness-requirements/tools/pip-26.0-py3-none-any.whl/pip install ")
    assert "--no-index" in run and "--break-system-packages" in run and "/wheels/*.whl" in run
    assert lines.index("USER odoo") > lines.index(run)
    assert lines[-1].startswith("LABEL hub-harness.requirements=1 ") and 'base="odoo:18.0"' in lines[-1]


def test_an_image_without_a_user_stays_root():
    text = requirements.dockerfile("example/odoo:18", "pip-26.0-py3-none-any.whl", "", "alice")
    assert "\nUSER " not in text.split("USER root", 1)[1] and "owner=alice" in text


def test_a_manifest_package_a_requirement_file_pins_already_adds_no_line(tmp_path, monkeypatch):
    """base_sequence_option names odoo_test_helper in its manifest; test-requirements.txt pins odoo-test-helper."""
    config = Config(root=tmp_path).with_overrides(lock_dir=tmp_path / "locks")
    monkeypatch.setattr(requirements, "_image_id", lambda ref, cfg: "sha256:1")  # base and tag both there
    monkeypatch.setattr(requirements, "mark_in_use", lambda cfg, key: None)
    monkeypatch.setattr(requirements, "installed_distributions", lambda image, image_id, cfg: set())
    lines: list[str] = []
    pinned = [Requirement("odoo-test-helper==2.1.3", "test-requirements.txt:1")]
    manifest = [Requirement("odoo_test_helper", "m/__manifest__.py external_dependencies")]
    tag = requirements.build_image(config, "o:1", pinned, lines.append, skip_installed=manifest)
    assert tag == f"hub-harness-req:{image_key('sha256:1', pinned)}"
    assert "(1 requirement(s) on o:1)" in lines[0]
