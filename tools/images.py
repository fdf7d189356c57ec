"""Build (or reuse) the project's own images: real Odoo 18, PostgreSQL, the stand-in.

No image can be pulled here, so the base is a Debian bookworm root filesystem made by
`debootstrap`, with Odoo 18's Debian dependencies and PostgreSQL 15 installed into it, turned
into an image with `docker import`. The images are built FROM it with Dockerfiles that only copy
local files:

- `hub-harness/odoo:18.0`: real Odoo 18 from a source archive or tree (`--odoo-source`,
  `HARNESS_ODOO_SOURCE`), laid out as the official `odoo:18.0` image;
- `hub-harness/postgres:15`: PostgreSQL with an entrypoint that behaves as the official one's;
- `hub-harness/standin-odoo:current`: the harness's fast test double (tests/fixtures/standin).

Every image is tagged by a hash of its build inputs, so a second call with nothing changed
only inspects images and re-points tags. This is test and set-up tooling: it is not part of
the `harness` package (the wheel does not ship it).
"""

from __future__ import annotations

import contextlib
import dataclasses
import fcntl
import os
import re
import shutil
import subprocess
import sys
import tarfile
import tempfile
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from pathlib import Path
from typing import IO

from harness import hashing, ports, proc
from harness.errors import EnvironmentProblem

REPO_ROOT = Path(__file__).resolve().parent.parent
IMAGES_DIR = REPO_ROOT / "images"
STANDIN_DIR = REPO_ROOT / "tests" / "fixtures" / "standin"
ODOO_SOURCE_ENV = "HARNESS_ODOO_SOURCE"

# Bump when the way the base image is made changes in a way the inputs below do not show.
BUILDER_VERSION = "2"
REPOSITORY = "hub-harness"
# The tags users and compose files name (ODOO_IMAGE, POSTGRES_IMAGE); each points at a content tag.
ODOO_ALIAS = f"{REPOSITORY}/odoo:18.0"
POSTGRES_ALIAS = f"{REPOSITORY}/postgres:15"
STANDIN_ALIAS = f"{REPOSITORY}/standin-odoo:current"
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

QUICK_TIMEOUT = 60.0
DEBOOTSTRAP_TIMEOUT = 1200.0
APT_TIMEOUT = 1800.0
IMPORT_TIMEOUT = 900.0
BUILD_TIMEOUT = 1200.0
LOCK_TIMEOUT = 3600.0
_OUTPUT_TAIL_LINES = 40

Log = Callable[[str], None]


@dataclasses.dataclass(frozen=True)
class ImageSpec:
    """One image built FROM the base: its Dockerfile, its build context and the tag users name.

    `files` maps a name in the build context to a file or folder of this machine, so a context
    can draw on several folders (the stand-in reuses the real image's entrypoint).
    """

    name: str
    alias: str
    dockerfile: Path
    files: tuple[tuple[str, Path], ...]

    def reference(self, base_ref: str) -> str:
        """repository/name:<hash of the base reference, the Dockerfile and every context file>."""
        entries = [("Dockerfile", self.dockerfile), *self.files]
        tag = content_hash(entries, extra=[f"base={base_ref}", f"image={self.name}"])
        return f"{REPOSITORY}/{self.name}:{tag}"


def content_hash(entries: Iterable[tuple[str, Path]], extra: Iterable[str] = ()) -> str:
    """12 hex digits of the project's one tree hash (harness.hashing): short enough for a tag."""
    return hashing.content_hash(entries, extra)[:12]


def base_reference() -> str:
    """The base image's reference: a hash of everything that goes into its root filesystem."""
    extra = [
        f"builder={BUILDER_VERSION}",
        f"suite={SUITE}",
        f"variant={VARIANT}",
        "packages=" + ",".join(sorted(PACKAGES)),
        "excludes=" + ",".join(ROOTFS_EXCLUDES),
        "changes=" + "\n".join(IMPORT_CHANGES),
    ]
    return f"{REPOSITORY}/base:{content_hash([], extra=extra)}"


def odoo_spec(source: Path, root: Path = REPO_ROOT) -> ImageSpec:
    """Real Odoo 18 from `source`: an archive (.tar, .tar.gz, .tar.xz, ...) or a source tree."""
    source = Path(source).expanduser().resolve()
    if not source.exists():
        raise EnvironmentProblem(f"Odoo source {source} does not exist: name an Odoo 18 archive or source tree")
    if source.is_dir() and not (source / "odoo" / "release.py").is_file():
        raise EnvironmentProblem(f"{source} is not an Odoo source tree: it has no odoo/release.py")
    context = root / "images" / "odoo"
    return ImageSpec(
        name="odoo",
        alias=ODOO_ALIAS,
        dockerfile=context / "Dockerfile",
        files=(
            *((f.name, f) for f in sorted(context.iterdir()) if f.name != "Dockerfile"),
            ("odoo-src.tar", source),
        ),
    )


def postgres_spec(root: Path = REPO_ROOT) -> ImageSpec:
    """PostgreSQL 15 with an official-like entrypoint."""
    context = root / "images" / "postgres"
    return ImageSpec(
        name="postgres",
        alias=POSTGRES_ALIAS,
        dockerfile=context / "Dockerfile",
        files=(("docker-entrypoint.sh", context / "docker-entrypoint.sh"),),
    )


def standin_spec(root: Path = REPO_ROOT) -> ImageSpec:
    """The stand-in Odoo: the real image's entrypoint, config and launcher, a fake `odoo` package."""
    real = root / "images" / "odoo"
    standin = root / "tests" / "fixtures" / "standin"
    return ImageSpec(
        name="standin-odoo",
        alias=STANDIN_ALIAS,
        dockerfile=standin / "Dockerfile.odoo",
        files=(
            ("entrypoint.sh", real / "entrypoint.sh"),
            ("odoo-launcher", real / "odoo-launcher"),
            ("odoo.conf", real / "odoo.conf"),
            ("odoo", standin / "odoo" / "lib" / "odoo"),
        ),
    )


def odoo_source_from_env() -> Path:
    """The Odoo source named by $HARNESS_ODOO_SOURCE, or a clear error."""
    value = os.environ.get(ODOO_SOURCE_ENV, "").strip()
    if not value:
        raise EnvironmentProblem(
            f"no Odoo 18 source: pass --odoo-source PATH or set {ODOO_SOURCE_ENV} to an Odoo 18 source "
            "archive (.tar.gz/.tar.xz of the 18.0 branch) or a checkout of it"
        )
    return Path(value)


def ensure_images(specs: Sequence[ImageSpec], *, force: bool = False, log: Log = print) -> dict[str, str]:
    """Build what is missing (everything with `force`), point each alias at it; {alias: reference}."""
    base_ref = base_reference()
    wanted = {spec.alias: (spec, spec.reference(base_ref)) for spec in specs}
    _require_docker()
    with _build_lock():
        missing = [(spec, ref) for spec, ref in wanted.values() if force or not _image_exists(ref)]
        if missing and (force or not _image_exists(base_ref)):
            _build_base(base_ref, log)
        for spec, ref in missing:
            _build_from_base(spec, ref, base_ref, no_cache=force, log=log)
        for alias, (_spec, ref) in wanted.items():
            _run(["docker", "tag", ref, alias], timeout=QUICK_TIMEOUT, what=f"tagging {alias}")
        if missing:
            _remove_stale_tags([base_ref, *(ref for _spec, ref in wanted.values())])
    return {alias: ref for alias, (_spec, ref) in wanted.items()}


def _require_docker() -> None:
    """Fail clearly when the docker CLI is missing or cannot reach the engine."""
    if shutil.which("docker") is None:
        raise EnvironmentProblem("docker is not installed (no `docker` on PATH): cannot build the stand-in images")
    _run(
        ["docker", "version", "--format", "{{.Server.Version}}"],
        timeout=QUICK_TIMEOUT,
        what="reaching the Docker engine",
    )


def _image_exists(ref: str) -> bool:
    """True when the engine holds an image under this reference."""
    return _image_id(ref) is not None


def _image_id(ref: str) -> str | None:
    """The image ID a reference names, or None."""
    result = proc.run(["docker", "image", "inspect", "--format", "{{.Id}}", ref], timeout=QUICK_TIMEOUT)
    return (result.stdout.strip() or None) if result.ok else None


@contextlib.contextmanager
def _build_lock() -> Iterator[None]:
    """Serialise builds between concurrent harness runs on this machine."""
    # The harness's shared lock folder: every user's builds on this machine wait for each other.
    path = ports.shared_dir(Path(tempfile.gettempdir()) / "hub-harness") / "standin-images.lock"
    fd, _ = ports.open_lock_file(path)
    with os.fdopen(fd, "rb") as handle:
        deadline = time.monotonic() + LOCK_TIMEOUT
        while True:
            try:
                fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() > deadline:
                    raise EnvironmentProblem(f"another stand-in image build held {path} too long") from None
                time.sleep(0.5)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


# --- the base image: debootstrap + docker import ---------------------------------------------


def _build_base(ref: str, log: Log) -> None:
    """debootstrap bookworm, apt-get install PACKAGES inside it, and import it as `ref`."""
    if shutil.which("debootstrap") is None:
        raise EnvironmentProblem("debootstrap is not installed: it is needed once to build the base image")
    if os.geteuid() != 0:
        raise EnvironmentProblem("building the base image runs debootstrap and chroot, which need root")
    mirror = debian_mirror(SUITE)
    started = time.monotonic()
    log(f"building {ref}: debootstrap {SUITE}, then {len(PACKAGES)} packages; takes a few minutes")
    workdir = Path(tempfile.mkdtemp(prefix="harness-rootfs-"))
    rootfs = workdir / "rootfs"
    try:
        _run(
            ["debootstrap", f"--variant={VARIANT}", SUITE, str(rootfs), mirror],
            timeout=DEBOOTSTRAP_TIMEOUT,
            what="debootstrap",
        )
        log(f"debootstrap done in {time.monotonic() - started:.0f} s; installing packages")
        # Passing the whole list to debootstrap --include fails while configuring packages;
        # apt-get inside the chroot, with /proc mounted, does not.
        _install_packages(rootfs)
        _import_rootfs(rootfs, ref)
    finally:
        _remove_rootfs(workdir, log)
    log(f"built {ref} in {time.monotonic() - started:.0f} s")


def _install_packages(rootfs: Path) -> None:
    """apt-get install PACKAGES in the chroot; no service starts (policy-rc.d says no)."""
    policy = rootfs / "usr" / "sbin" / "policy-rc.d"
    policy.write_text("#!/bin/sh\nexit 101\n", encoding="utf-8")
    policy.chmod(0o755)
    env = {
        "PATH": "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
        "DEBIAN_FRONTEND": "noninteractive",
        "LANG": "C.UTF-8",
    }
    _run(["mount", "-t", "proc", "proc", str(rootfs / "proc")], timeout=QUICK_TIMEOUT, what="mounting /proc")
    try:
        chroot = ["chroot", str(rootfs)]
        _run([*chroot, "apt-get", "update", "-qq"], timeout=APT_TIMEOUT, what="apt-get update in the chroot", env=env)
        install = [*chroot, "apt-get", "install", "-y", "-qq", "--no-install-recommends", *PACKAGES]
        _run(install, timeout=APT_TIMEOUT, what="apt-get install in the chroot", env=env)
        _run([*chroot, "apt-get", "clean"], timeout=QUICK_TIMEOUT, what="apt-get clean", env=env)
    finally:
        subprocess.run(["umount", "-l", str(rootfs / "proc")], capture_output=True, timeout=QUICK_TIMEOUT, check=False)
        policy.unlink(missing_ok=True)


def debian_mirror(suite: str = SUITE) -> str:
    """The Debian mirror this machine's apt uses for `suite` (or $STANDIN_DEBIAN_MIRROR)."""
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
    raise EnvironmentProblem(f"no apt source for Debian {suite} in /etc/apt: set {MIRROR_ENV} to a Debian mirror URL")


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


def _import_rootfs(rootfs: Path, ref: str) -> None:
    """Stream `tar` of the root filesystem into `docker import - ref`."""
    tar_cmd = ["tar", "--numeric-owner", "-C", str(rootfs)]
    tar_cmd += [f"--exclude={pattern}" for pattern in ROOTFS_EXCLUDES]
    tar_cmd += ["-cf", "-", "."]
    import_cmd = ["docker", "import"]
    for change in IMPORT_CHANGES:
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


def _build_from_base(spec: ImageSpec, ref: str, base_ref: str, *, no_cache: bool, log: Log) -> None:
    """docker build one image FROM the base, in a context assembled from the spec's files."""
    started = time.monotonic()
    log(f"building {ref} ({spec.alias})")
    with tempfile.TemporaryDirectory(prefix=f"harness-{spec.name}-") as tmp:
        context = Path(tmp)
        for name, source in spec.files:
            _place(source, context / name)
        cmd = ["docker", "build", "-f", str(spec.dockerfile), "--build-arg", f"BASE={base_ref}", "-t", ref]
        if no_cache:
            cmd.append("--no-cache")
        cmd.append(str(context))
        # The classic builder resolves FROM in the local image store, never in a registry.
        env = {**os.environ, "DOCKER_BUILDKIT": "0"}
        _run(cmd, timeout=BUILD_TIMEOUT, what=f"docker build of {ref}", env=env)
    log(f"built {ref} in {time.monotonic() - started:.1f} s")


def _place(source: Path, target: Path) -> None:
    """Put one spec file into the build context: folders copied, a source tree as a tar file."""
    if target.name.endswith(".tar") and source.is_dir():
        # An Odoo source tree: ADD unpacks a tar; caches and git history stay out.
        with tarfile.open(target, "w") as archive:
            archive.add(source, arcname="src", filter=_without_caches)
    elif source.is_dir():
        shutil.copytree(source, target, ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
    else:
        # An archive is handed over as it is: ADD detects its compression by content.
        try:
            os.link(source, target)
        except OSError:
            shutil.copy2(source, target)


def _without_caches(info: tarfile.TarInfo) -> tarfile.TarInfo | None:
    parts = Path(info.name).parts
    if "__pycache__" in parts or ".git" in parts or info.name.endswith(".pyc"):
        return None
    return info


def _remove_image(ref: str) -> None:
    """Best effort `docker rmi` (no --force: an image a container uses stays)."""
    with contextlib.suppress(subprocess.TimeoutExpired):
        subprocess.run(["docker", "rmi", ref], capture_output=True, timeout=QUICK_TIMEOUT, check=False)


def _remove_stale_tags(keep: Sequence[str]) -> None:
    """Untag older builds of the same images so they do not pile up; aliases stay."""
    for repository in sorted({ref.rpartition(":")[0] for ref in keep}):
        listed = _run(
            ["docker", "image", "ls", "--format", "{{.Repository}}:{{.Tag}}", repository],
            timeout=QUICK_TIMEOUT,
            what=f"listing {repository}",
        )
        for ref in listed.split():
            tag = ref.rpartition(":")[2]
            # Content tags are 12 hex digits; aliases (18.0, 15, current) are not touched.
            if ref not in keep and re.fullmatch(r"[0-9a-f]{12}", tag):
                _remove_image(ref)


# --- commands --------------------------------------------------------------------------------


def _run(cmd: Sequence[str], *, timeout: float, what: str, env: dict[str, str] | None = None) -> str:
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


def main(argv: Sequence[str] | None = None) -> int:
    """`python -m tools.images [--real] [--standin] [--odoo-source PATH] [--force]`."""
    import argparse

    parser = argparse.ArgumentParser(prog="python -m tools.images", description=__doc__.splitlines()[0])
    parser.add_argument("--real", action="store_true", help="real Odoo 18 and PostgreSQL (the default)")
    parser.add_argument("--standin", action="store_true", help="the stand-in Odoo and PostgreSQL")
    parser.add_argument(
        "--odoo-source", type=Path, help=f"Odoo 18 archive or source tree (default: ${ODOO_SOURCE_ENV})"
    )
    parser.add_argument("--force", action="store_true", help="rebuild every image, the base included")
    args = parser.parse_args(argv)
    try:
        specs = [postgres_spec()]
        if args.real or not args.standin:
            specs.append(odoo_spec(args.odoo_source or odoo_source_from_env()))
        if args.standin:
            specs.append(standin_spec())
        built = ensure_images(specs, force=args.force, log=lambda line: print(line, file=sys.stderr))
    except EnvironmentProblem as exc:
        print(f"error: {exc.message}", file=sys.stderr)
        return int(exc.exit_code)
    for alias, ref in built.items():
        print(f"{alias} = {ref}")
    if args.real or not args.standin:
        print(f"use them: export ODOO_IMAGE={ODOO_ALIAS} POSTGRES_IMAGE={POSTGRES_ALIAS}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
