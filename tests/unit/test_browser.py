"""Browser tours: apt's plan read, the image key, the Dockerfile, the release check, the no-browser skips counted."""

from __future__ import annotations

import io
import tarfile
from pathlib import Path

import pytest

from harness import browser
from harness.browser import Package
from harness.errors import EnvironmentProblem, ExitCode
from harness.odoo_cases import CaseOutcome, CaseRef

# `apt-get -s install chromium python3-websocket` against the project's image's dpkg status (bookworm).
SIMULATION = """\
NOTE: This is only a simulation!
Reading package lists...
Building dependency tree...
The following NEW packages will be installed:
  chromium chromium-common libasound2 python3-websocket
Inst libasound2-data (1.2.8-1 Debian:12.12/stable [all])
Inst libasound2 (1.2.8-1+b1 Debian:12.12/stable [amd64])
Inst libc6 [2.36-9+deb12u9] (2.36-9+deb12u13 Debian:12.12/stable [amd64])
Inst chromium-common (156.0.8078.114-1~deb12u1 Debian-Security:12/stable-security [amd64])
Inst chromium (156.0.8078.114-1~deb12u1 Debian-Security:12/stable-security [amd64])
Inst python3-websocket (1.2.3-1 Debian:12.12/stable [all])
Conf libasound2-data (1.2.8-1 Debian:12.12/stable [all])
Conf chromium (156.0.8078.114-1~deb12u1 Debian-Security:12/stable-security [amd64])
"""


def test_the_simulation_gives_every_package_to_unpack_with_its_version():
    packages = browser.parse_simulation(SIMULATION)
    assert [p.name for p in packages] == [
        "chromium", "chromium-common", "libasound2", "libasound2-data", "libc6", "python3-websocket",
    ]  # fmt: skip
    assert Package("libc6", "2.36-9+deb12u13") in packages  # an upgrade: the new version counts
    assert Package("chromium", "156.0.8078.114-1~deb12u1") in packages
    assert browser.parse_simulation("Reading package lists...\n0 upgraded, 0 newly installed\n") == []


def test_the_key_follows_the_base_image_and_the_versions_not_their_order():
    a = [Package("chromium", "1"), Package("python3-websocket", "2")]
    key = browser.image_key("sha256:base", a)
    assert len(key) == 24 and key == browser.image_key("sha256:base", list(reversed(a)))
    assert key != browser.image_key("sha256:other", a)
    assert key != browser.image_key("sha256:base", [Package("chromium", "1.1"), Package("python3-websocket", "2")])


def test_apt_resolves_against_the_image_status_and_downloads_into_the_context(tmp_path):
    options = browser.apt_options(tmp_path / "status", tmp_path / "debs")
    assert all(flag == "-o" for flag in options[::2])
    assert f"Dir::State::status={tmp_path / 'status'}" in options
    assert f"Dir::Cache::archives={tmp_path / 'debs'}" in options
    assert "APT::Install-Recommends=false" in options
    # Nothing of the host's apt configuration (sources, proxies, keys) is overridden.
    assert not [o for o in options if o.startswith(("Acquire::", "Dir::Etc", "Dir::State::Lists"))]


def test_the_dockerfile_installs_the_debs_offline_as_root_and_restores_the_user():
    text = browser.dockerfile("hub-harness/odoo:18.0", "odoo", [Package("chromium", "156")])
    lines = text.splitlines()
    assert lines[0] == "FROM hub-harness/odoo:18.0" and lines[1] == "USER root"
    run = next(line for line in lines if line.startswith("RUN"))
    assert "apt-get install" in run and "/tmp/harness-browser/debs/*.deb" in run
    assert "Dir::Cache::archives=/tmp/harness-browser/debs" in run
    assert "chromium --version" in text  # the build fails if the browser cannot start at all
    assert lines.index("USER odoo") > lines.index(next(line for line in lines if line.startswith("RUN")))
    assert f"{browser.LABEL}=1" in text and "chromium=156" in text
    assert "USER" not in browser.dockerfile("x", "", []).replace("USER root", "")


def test_the_image_output_splits_into_release_and_status():
    text = 'PRETTY_NAME="Debian GNU/Linux 12 (bookworm)"\nID=debian\nVERSION_CODENAME=bookworm\n'
    text += "@@hub-harness-dpkg-status@@\nPackage: libc6\nStatus: install ok installed\n"
    release = browser.parse_image_output(text)
    assert (release.distribution, release.codename) == ("debian", "bookworm")
    assert release.status.startswith("Package: libc6")
    with pytest.raises(EnvironmentProblem):
        browser.parse_image_output("ID=debian\n")


def test_an_image_of_another_release_is_refused_and_pointed_to_the_docs(monkeypatch):
    monkeypatch.setattr(browser, "host_release", lambda: {"ID": "debian", "VERSION_CODENAME": "bookworm"})
    browser._check_release("x", browser.ImageRelease("debian", "bookworm", ""))  # same: fine
    official = browser.ImageRelease("ubuntu", "noble", "")
    with pytest.raises(EnvironmentProblem, match=r"odoo:18.0 is ubuntu noble.*debian bookworm.*docs/reference.md") as e:
        browser._check_release("odoo:18.0", official)
    assert e.value.exit_code == ExitCode.ENVIRONMENT


def skip(method: str, reason: str, module: str = "fixture_tour") -> CaseOutcome:
    ref = CaseRef(f"odoo.addons.{module}.tests.test_tour", "TestTour", method)
    return CaseOutcome("skipped", ref, f"TestTour.{method}", reason, "", 1)


def test_only_the_module_s_skips_for_want_of_a_browser_count():
    skips = [
        skip("test_pass", "Chrome executable not found"),
        skip("test_fail", "websocket-client module is not installed"),
        skip("test_other", "not today"),
        skip("test_theirs", "Chrome executable not found", module="web"),
        skip("test_gone", "/usr/bin/chromium not found"),
    ]
    found = browser.skipped_for_browser(skips, "fixture_tour")
    assert [s.test.method for s in found] == ["test_pass", "test_fail", "test_gone"]
    assert browser.skip_note(3, browser=False) == ("browser", "3 tests skipped: no browser; run with --browser")
    assert browser.skip_note(1, browser=False) == ("browser", "1 test skipped: no browser; run with --browser")
    assert "although --browser" in browser.skip_note(1, browser=True)[1]
    assert browser.skip_note(0, browser=False) is None


def test_screenshots_are_unpacked_and_nothing_escapes_the_folder(tmp_path):
    archive = tmp_path / "files.tar"
    with tarfile.open(archive, "w") as tar:
        for name, data in (("odoo_tests/harness_test/screenshots/sc_1_test_fail.png", b"png"), ("../evil", b"x")):
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    with pytest.raises(tarfile.OutsideDestinationError):
        browser.extract_files(archive, tmp_path / "out")
    archive.unlink()
    with tarfile.open(archive, "w") as tar:
        info = tarfile.TarInfo("odoo_tests/harness_test/screenshots/sc_1_test_fail.png")
        info.size = 3
        tar.addfile(info, io.BytesIO(b"png"))
    files = browser.extract_files(archive, tmp_path / "out")
    assert [p.relative_to(tmp_path / "out") for p in files] == [
        Path("odoo_tests/harness_test/screenshots/sc_1_test_fail.png")
    ]
