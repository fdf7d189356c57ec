"""The base image's root filesystem: Debian bookworm by debootstrap, Odoo 18's dependencies, docker import.

Needs root (debootstrap, chroot, mount) and a Debian mirror: the one this machine's apt uses, or
$HARNESS_DEBIAN_MIRROR, or else debootstrap's own default.
"""

from __future__ import annotations

import contextlib
import dataclasses
import os
import re
import shutil
import subprocess
import tempfile
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import IO

from harness import proc
from harness.errors import EnvironmentProblem

SUITE = "bookworm"
VARIANT = "minbase"
# What Odoo 18's own debian/control asks for, all in bookworm (python3-lxml stands in for
# python3-lxml-html-clean, which bookworm folds into it), plus postgresql-15 so the db image
# needs no second root filesystem, and curl for the work order's healthcheck.
PACKAGES: tuple[str, ...] = (
    "adduser", "ca-certificates", "curl", "postgresql-15", "postgresql-client",
    "python3", "python3-asn1crypto", "python3-babel", "python3-cbor2", "python3-chardet",
    "python3-cryptography", "python3-dateutil", "python3-decorator", "python3-docutils",
    "python3-freezegun", "python3-geoip2", "python3-gevent", "python3-greenlet", "python3-idna",
    "python3-jinja2", "python3-libsass", "python3-lxml", "python3-markupsafe", "python3-num2words",
    "python3-ofxparse", "python3-openpyxl", "python3-openssl", "python3-passlib", "python3-pil",
    "python3-polib", "python3-psutil", "python3-psycopg2", "python3-pypdf2", "python3-qrcode",
    "python3-renderpm", "python3-reportlab", "python3-requests", "python3-rjsmin", "python3-stdnum",
    "python3-tz", "python3-urllib3", "python3-vobject", "python3-werkzeug", "python3-xlrd",
    "python3-xlsxwriter", "python3-zeep",
)  # fmt: skip
# Left out of the image (tar --exclude): caches, docs, the cluster Debian's postinst creates
# (the db entrypoint runs its own initdb), and LLVM, which only serves PostgreSQL's JIT
# (switched off in the db image) yet weighs some 130 MB.
ROOTFS_EXCLUDES: tuple[str, ...] = (
    "./dev/*",
    "./proc/*",
    "./sys/*",
    "./tmp/*",
    "./var/cache/apt/archives/*.deb",
    "./var/cache/apt/*.bin",
    "./var/lib/apt/lists/*",
    "./usr/share/doc/*",
    "./usr/share/man/*",
    "./usr/share/info/*",
    "./usr/share/locale/*",
    "./var/lib/postgresql/15/main",
    "./etc/postgresql/15/main",
    "./usr/lib/*/libLLVM-*",
    "./usr/lib/*/libz3.so*",
    "./usr/lib/postgresql/15/lib/llvmjit*",
    "./usr/lib/postgresql/15/lib/bitcode",
)
IMPORT_CHANGES: tuple[str, ...] = (
    "ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
    "ENV LANG=C.UTF-8",
    "LABEL hub-harness.image=base",
    'CMD ["bash"]',
)
MIRROR_ENV = "HARNESS_DEBIAN_MIRROR"


@dataclasses.dataclass(frozen=True)
class BaseSpec:
    """One debootstrapped base: the Debian suite, what is installed into it, what the image leaves out."""

    suite: str
    packages: tuple[str, ...]
    excludes: tuple[str, ...]
    variant: str = VARIANT
    changes: tuple[str, ...] = IMPORT_CHANGES
    name: str = "base"  # the repository: hub-harness/<name>:<hash of the above>


BOOKWORM = BaseSpec(SUITE, PACKAGES, ROOTFS_EXCLUDES)


def _postgres_excludes(major: int) -> tuple[str, ...]:
    """What a PostgreSQL-only base leaves out: caches and docs, Debian's own cluster, LLVM (JIT is off)."""
    common = tuple(e for e in ROOTFS_EXCLUDES if "postgresql" not in e)
    return (
        *common,
        f"./var/lib/postgresql/{major}/main",
        f"./etc/postgresql/{major}/main",
        f"./usr/lib/postgresql/{major}/lib/llvmjit*",
        f"./usr/lib/postgresql/{major}/lib/bitcode",
    )


# PostgreSQL 17 (the newest Odoo 18 supports) from Debian trixie, for the db image only.
TRIXIE_POSTGRES_17 = BaseSpec(
    "trixie", ("ca-certificates", "postgresql-17"), _postgres_excludes(17), name="base-trixie-postgres17"
)

QUICK_TIMEOUT = 60.0
DEBOOTSTRAP_TIMEOUT = 1200.0
APT_TIMEOUT = 1800.0
IMPORT_TIMEOUT = 900.0
_OUTPUT_TAIL_LINES = 40

Log = Callable[[str], None]


def build_base(ref: str, log: Log, spec: BaseSpec = BOOKWORM) -> None:
    """debootstrap the spec's suite (bookworm), apt-get install its packages inside it, import it as `ref`."""
    # Root first: a user's PATH on Debian lacks /usr/sbin, where debootstrap lives.
    if os.geteuid() != 0:
        raise EnvironmentProblem(
            "building the base image runs debootstrap and chroot, which need root: run this once as root "
            "(sudo bash scripts/run-tests.sh MODULE, or sudo nox -s images); later builds need no root"
        )
    if shutil.which("debootstrap") is None:
        raise EnvironmentProblem("debootstrap is not installed: it is needed once to build the base image")
    # One mirror serves every suite: the one apt uses for bookworm also has trixie.
    mirror = debian_mirror(spec.suite) or debian_mirror(SUITE)
    started = time.monotonic()
    log(f"building {ref}: debootstrap {spec.suite}, then {len(spec.packages)} packages; takes a few minutes")
    workdir = Path(tempfile.mkdtemp(prefix="harness-rootfs-"))
    rootfs = workdir / "rootfs"
    try:
        # No mirror known (an Ubuntu machine, say): debootstrap's own default serves bookworm.
        run_checked(
            ["debootstrap", f"--variant={spec.variant}", spec.suite, str(rootfs), *([mirror] if mirror else [])],
            timeout=DEBOOTSTRAP_TIMEOUT,
            what="debootstrap",
        )
        log(f"debootstrap done in {time.monotonic() - started:.0f} s; installing packages")
        # Passing the whole list to debootstrap --include fails while configuring packages;
        # apt-get inside the chroot, with /proc mounted, does not.
        _install_packages(rootfs, spec.packages)
        _import_rootfs(rootfs, ref, spec)
    finally:
        _remove_rootfs(workdir, log)
    log(f"built {ref} in {time.monotonic() - started:.0f} s")


def _install_packages(rootfs: Path, packages: Sequence[str] = PACKAGES) -> None:
    """apt-get install `packages` in the chroot; no service starts (policy-rc.d says no)."""
    policy = rootfs / "usr" / "sbin" / "policy-rc.d"
    policy.write_text("#!/bin/sh\nexit 101\n", encoding="utf-8")
    policy.chmod(0o755)
    env = {
        "PATH": "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
        "DEBIAN_FRONTEND": "noninteractive",
        "LANG": "C.UTF-8",
    }
    run_checked(["mount", "-t", "proc", "proc", str(rootfs / "proc")], timeout=QUICK_TIMEOUT, what="mounting /proc")
    try:
        chroot = ["chroot", str(rootfs)]
        update = [*chroot, "apt-get", "update", "-qq"]
        run_checked(update, timeout=APT_TIMEOUT, what="apt-get update in the chroot", env=env)
        install = [*chroot, "apt-get", "install", "-y", "-qq", "--no-install-recommends", *packages]
        run_checked(install, timeout=APT_TIMEOUT, what="apt-get install in the chroot", env=env)
        run_checked([*chroot, "apt-get", "clean"], timeout=QUICK_TIMEOUT, what="apt-get clean", env=env)
    finally:
        subprocess.run(["umount", "-l", str(rootfs / "proc")], capture_output=True, timeout=QUICK_TIMEOUT, check=False)
        policy.unlink(missing_ok=True)


def debian_mirror(suite: str = SUITE) -> str | None:
    """The Debian mirror: $HARNESS_DEBIAN_MIRROR, else the one this machine's apt uses for `suite`, else None."""
    if os.environ.get(MIRROR_ENV):
        return os.environ[MIRROR_ENV]
    apt = Path("/etc/apt")
    for source in sorted((apt / "sources.list.d").glob("*.sources")):
        mirror = _mirror_from_deb822(source.read_text(encoding="utf-8", errors="replace"), suite)
        if mirror:
            return mirror
    for source in [apt / "sources.list", *sorted((apt / "sources.list.d").glob("*.list"))]:
        if source.is_file():
            mirror = _mirror_from_one_line(source.read_text(encoding="utf-8", errors="replace"), suite)
            if mirror:
                return mirror
    return None


def _mirror_from_deb822(text: str, suite: str) -> str | None:
    """First URI of a `Types: deb` stanza whose Suites include `suite` exactly."""
    for stanza in re.split(r"\n\s*\n", text):
        fields: dict[str, str] = {}
        for line in stanza.splitlines():
            if line.startswith("#") or ":" not in line or line[:1].isspace():
                continue
            key, _, value = line.partition(":")
            fields[key.strip().lower()] = value.strip()
        if fields.get("enabled", "yes").lower() == "no":
            continue
        if "deb" in fields.get("types", "").split() and suite in fields.get("suites", "").split():
            uris = fields.get("uris", "").split()
            if uris:
                return uris[0]
    return None


def _mirror_from_one_line(text: str, suite: str) -> str | None:
    """URI of the first `deb [options] URI suite main` line."""
    for line in text.splitlines():
        words = re.sub(r"\[[^]]*\]", " ", line.split("#", 1)[0]).split()
        if len(words) >= 4 and words[0] == "deb" and words[2] == suite and "main" in words[3:]:
            return words[1]
    return None


def _import_rootfs(rootfs: Path, ref: str, spec: BaseSpec = BOOKWORM) -> None:
    """Stream `tar` of the root filesystem into `docker import - ref`."""
    tar_cmd = ["tar", "--numeric-owner", "-C", str(rootfs)]
    tar_cmd += [f"--exclude={pattern}" for pattern in spec.excludes]
    tar_cmd += ["-cf", "-", "."]
    import_cmd = ["docker", "import"]
    for change in spec.changes:
        import_cmd += ["--change", change]
    import_cmd += ["-", ref]
    deadline = time.monotonic() + IMPORT_TIMEOUT
    with tempfile.TemporaryFile() as tar_err, tempfile.TemporaryFile() as import_out:
        tar = subprocess.Popen(tar_cmd, stdout=subprocess.PIPE, stderr=tar_err)
        importer: subprocess.Popen[bytes] | None = None
        try:
            importer = subprocess.Popen(import_cmd, stdin=tar.stdout, stdout=import_out, stderr=subprocess.STDOUT)
            assert tar.stdout is not None
            tar.stdout.close()  # docker import owns the pipe now; tar gets SIGPIPE if it dies
            import_rc = importer.wait(timeout=max(1.0, deadline - time.monotonic()))
            tar_rc = tar.wait(timeout=max(1.0, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            raise EnvironmentProblem(
                f"docker import of the stand-in base timed out after {IMPORT_TIMEOUT:.0f} s"
            ) from None
        finally:
            for child in (tar, importer):
                if child is not None and child.poll() is None:
                    child.kill()
                    child.wait(timeout=QUICK_TIMEOUT)
        if tar_rc != 0:
            raise EnvironmentProblem(
                f"tar of the stand-in root filesystem failed (exit {tar_rc}):\n{_tail_of(tar_err)}"
            )
        if import_rc != 0:
            raise EnvironmentProblem(f"docker import {ref} failed (exit {import_rc}):\n{_tail_of(import_out)}")


def _tail_of(handle: IO[bytes]) -> str:
    """The last lines a temporary output file received."""
    handle.seek(0)
    return _tail(handle.read().decode("utf-8", errors="replace"))


def _remove_rootfs(workdir: Path, log: Log) -> None:
    """Delete the temporary root filesystem, but never through a mount left inside it."""
    mounts = _mounts_under(workdir)
    for mount in sorted(mounts, key=len, reverse=True):
        with contextlib.suppress(subprocess.TimeoutExpired, FileNotFoundError):
            subprocess.run(["umount", "-l", mount], capture_output=True, timeout=QUICK_TIMEOUT, check=False)
    if _mounts_under(workdir):
        log(f"warning: {workdir} still has mounts inside; left in place, remove it by hand")
        return
    # rmtree never follows symlinks, so the rootfs's absolute links cannot lead it outside.
    shutil.rmtree(workdir, ignore_errors=True)
    if workdir.exists():
        log(f"warning: could not remove all of {workdir}")


def _mounts_under(directory: Path) -> list[str]:
    """Mount points at or below `directory` (from /proc/self/mountinfo)."""
    prefix = str(directory.resolve())
    try:
        lines = Path("/proc/self/mountinfo").read_text(encoding="utf-8").splitlines()
    except OSError:
        return []
    points = [line.split()[4].replace("\\040", " ") for line in lines if len(line.split()) > 4]
    return [p for p in points if p == prefix or p.startswith(prefix + "/")]


# --- odoo and db: docker build FROM the base ------------------------------------------------


def run_checked(cmd: Sequence[str], *, timeout: float, what: str, env: dict[str, str] | None = None) -> str:
    """Run a command with the project's runner; a non-zero exit becomes an EnvironmentProblem with its output tail."""
    try:
        result = proc.run(cmd, timeout=timeout, env=env)
    except EnvironmentProblem as exc:
        raise EnvironmentProblem(f"{what}: {exc.message}") from None
    if not result.ok:
        raise EnvironmentProblem(f"{what} failed (exit {result.returncode}): {' '.join(cmd)}\n{_tail(result.output)}")
    return result.stdout


def _tail(output: str) -> str:
    """The last lines of a command's output, enough to see why it failed."""
    return "\n".join(output.rstrip().splitlines()[-_OUTPUT_TAIL_LINES:])
