"""Build (or reuse) the stand-in Odoo 18 and PostgreSQL images, with no registry.

No image can be pulled here, so the base is a Debian root filesystem made by
`debootstrap` and turned into an image with `docker import`; the `odoo` and
`db` images are built FROM it with Dockerfiles that only copy local files.
Every image is tagged by a hash of its build inputs, so a second call with
nothing changed only inspects three images and re-points two tags.
"""

from __future__ import annotations

import contextlib
import dataclasses
import fcntl
import hashlib
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from pathlib import Path
from typing import IO

from harness import proc
from harness.errors import EnvironmentProblem

REPO_ROOT = Path(__file__).resolve().parent.parent
_STANDIN_RELATIVE = Path("tests") / "fixtures" / "standin"
STANDIN_DIR: Path = REPO_ROOT / _STANDIN_RELATIVE

# Bump when the way the base image is made changes in a way the inputs below do not show.
BUILDER_VERSION = "1"
REPOSITORY = "hub-harness"
CURRENT_TAG = "current"
SUITE = "bookworm"
VARIANT = "minbase"
# postgresql-15 is in the shared base so `db` needs no second root filesystem; python3-psycopg2
# because the stand-in Odoo talks to PostgreSQL like the real one; curl for the healthcheck.
PACKAGES: tuple[str, ...] = ("python3", "python3-psycopg2", "curl", "postgresql-15")
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
    "LABEL hub-harness.standin=base",
    'CMD ["bash"]',
)
MIRROR_ENV = "STANDIN_DEBIAN_MIRROR"

QUICK_TIMEOUT = 60.0
DEBOOTSTRAP_TIMEOUT = 1200.0
IMPORT_TIMEOUT = 900.0
BUILD_TIMEOUT = 900.0
LOCK_TIMEOUT = 3600.0
_OUTPUT_TAIL_LINES = 40

Log = Callable[[str], None]


@dataclasses.dataclass(frozen=True)
class StandinImages:
    """Full references (name:tag) of the three stand-in images."""

    base: str
    odoo: str
    db: str


@dataclasses.dataclass(frozen=True)
class _ImageSpec:
    """One image built FROM the base: its Dockerfile and build context."""

    name: str
    dockerfile: Path
    context: Path

    def reference(self, base_ref: str) -> str:
        """name:<hash of the base reference, the Dockerfile and every context file>."""
        tag = content_hash([self.dockerfile, self.context], extra=[f"base={base_ref}", f"image={self.name}"])
        return f"{REPOSITORY}/standin-{self.name}:{tag}"


def content_hash(paths: Iterable[Path], extra: Iterable[str] = ()) -> str:
    """12 hex digits of SHA-256 over the given files' names, modes and bytes, then `extra`.

    A directory stands for every file below it (sorted, named relative to it, caches
    skipped); a file is named by its base name, so the hash does not depend on where
    the repository is checked out.
    """
    digest = hashlib.sha256()
    for path in paths:
        for name, file in _files_of(Path(path)):
            executable = "x" if os.stat(file).st_mode & 0o111 else "-"
            _update_framed(digest.update, b"file", f"{name}\0{executable}".encode(), file.read_bytes())
    for item in extra:
        _update_framed(digest.update, b"extra", item.encode())
    return digest.hexdigest()[:12]


def _update_framed(update: Callable[[bytes], None], *parts: bytes) -> None:
    """Feed length-prefixed parts so different inputs can never run together."""
    for part in parts:
        update(len(part).to_bytes(8, "big"))
        update(part)


def _files_of(path: Path) -> list[tuple[str, Path]]:
    """(name, file) pairs a path contributes to a content hash."""
    if path.is_file():
        return [(path.name, path)]
    if not path.is_dir():
        raise FileNotFoundError(f"cannot hash {path}: no such file or directory")
    files = [
        p for p in path.rglob("*") if p.is_file() and "__pycache__" not in p.parts and p.suffix not in {".pyc", ".pyo"}
    ]
    return sorted((p.relative_to(path).as_posix(), p) for p in files)


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
    return f"{REPOSITORY}/standin-base:{content_hash([], extra=extra)}"


def image_specs(root: Path) -> tuple[_ImageSpec, _ImageSpec]:
    """The odoo and db images of the repository at `root`."""
    standin = root / _STANDIN_RELATIVE
    return (
        _ImageSpec("odoo", standin / "Dockerfile.odoo", standin / "odoo"),
        _ImageSpec("db", standin / "Dockerfile.db", standin / "db"),
    )


def standin_references(root: Path) -> StandinImages:
    """The references the current build inputs map to (pure: no Docker involved)."""
    odoo_spec, db_spec = image_specs(Path(root).resolve())
    base_ref = base_reference()
    return StandinImages(base=base_ref, odoo=odoo_spec.reference(base_ref), db=db_spec.reference(base_ref))


def ensure_standin_images(root: Path, *, force: bool = False, log: Log = print) -> StandinImages:
    """Build what is missing (or everything with `force`), then tag odoo and db `:current`."""
    root = Path(root).resolve()
    images = standin_references(root)
    _require_docker()
    with _build_lock():
        # A forced rebuild re-uses the tags: remember what they named, to remove it afterwards.
        replaced = _ids_of(images) if force else []
        built = _build_missing(root, images, force=force, log=log)
        for name, ref in (("odoo", images.odoo), ("db", images.db)):
            current = f"{REPOSITORY}/standin-{name}:{CURRENT_TAG}"
            _run(["docker", "tag", ref, current], timeout=QUICK_TIMEOUT, what=f"tagging {current}")
        if built:
            _remove_stale_tags(images)
            kept = set(_ids_of(images))
            _remove_images(image_id for image_id in replaced if image_id not in kept)
    return images


def _build_missing(root: Path, images: StandinImages, *, force: bool, log: Log) -> bool:
    """Build the images that do not exist (all with `force`); True when anything was built."""
    odoo_spec, db_spec = image_specs(root)
    if not force and _image_exists(images.odoo) and _image_exists(images.db):
        return False
    if force or not _image_exists(images.base):
        _build_base(images.base, log)
    for spec, ref in ((odoo_spec, images.odoo), (db_spec, images.db)):
        if force or not _image_exists(ref):
            _build_from_base(spec, ref, images.base, no_cache=force, log=log)
    return True


def _ids_of(images: StandinImages) -> list[str]:
    """IDs of the images, children before the base (which cannot go while they exist)."""
    ids = (_image_id(ref) for ref in (images.odoo, images.db, images.base))
    return [image_id for image_id in ids if image_id]


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
    lock_dir = Path(tempfile.gettempdir()) / "hub-harness"
    lock_dir.mkdir(parents=True, exist_ok=True)
    with open(lock_dir / "standin-images.lock", "w", encoding="utf-8") as handle:
        deadline = time.monotonic() + LOCK_TIMEOUT
        while True:
            try:
                fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() > deadline:
                    raise EnvironmentProblem(f"another stand-in image build held {handle.name} too long") from None
                time.sleep(0.5)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


# --- the base image: debootstrap + docker import ---------------------------------------------


def _build_base(ref: str, log: Log) -> None:
    """debootstrap a bookworm root filesystem and import it as `ref`."""
    if shutil.which("debootstrap") is None:
        raise EnvironmentProblem("debootstrap is not installed: it is needed once to build the stand-in base image")
    if os.geteuid() != 0:
        raise EnvironmentProblem("building the stand-in base image runs debootstrap, which needs root")
    mirror = debian_mirror(SUITE)
    started = time.monotonic()
    log(f"building {ref}: debootstrap {SUITE} ({', '.join(PACKAGES)}); takes a minute or three")
    workdir = Path(tempfile.mkdtemp(prefix="standin-rootfs-"))
    rootfs = workdir / "rootfs"
    try:
        cmd = [
            "debootstrap",
            f"--variant={VARIANT}",
            "--include=" + ",".join(PACKAGES),
            SUITE,
            str(rootfs),
            mirror,
        ]
        _run(cmd, timeout=DEBOOTSTRAP_TIMEOUT, what="debootstrap")
        _import_rootfs(rootfs, ref)
    finally:
        _remove_rootfs(workdir, log)
    log(f"built {ref} in {time.monotonic() - started:.0f} s")


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


def _build_from_base(spec: _ImageSpec, ref: str, base_ref: str, *, no_cache: bool, log: Log) -> None:
    """docker build one image FROM the base; its Dockerfile only copies and sets up users."""
    started = time.monotonic()
    log(f"building {ref}")
    cmd = ["docker", "build", "-f", str(spec.dockerfile), "--build-arg", f"BASE={base_ref}", "-t", ref]
    if no_cache:
        cmd.append("--no-cache")
    cmd.append(str(spec.context))
    # The classic builder resolves FROM in the local image store, never in a registry.
    env = {**os.environ, "DOCKER_BUILDKIT": "0"}
    _run(cmd, timeout=BUILD_TIMEOUT, what=f"docker build of {ref}", env=env)
    log(f"built {ref} in {time.monotonic() - started:.1f} s")


def _remove_images(ids: Iterable[str]) -> None:
    """Remove images a forced rebuild left untagged; in-use ones stay (no --force)."""
    for image_id in ids:
        _remove_image(image_id)


def _remove_image(ref: str) -> None:
    """Best effort `docker rmi` (no --force: an image a container uses stays)."""
    with contextlib.suppress(subprocess.TimeoutExpired):
        subprocess.run(["docker", "rmi", ref], capture_output=True, timeout=QUICK_TIMEOUT, check=False)


def _remove_stale_tags(images: StandinImages) -> None:
    """Untag older builds so they do not pile up; `docker rmi` leaves images in use alone."""
    keep = {images.base, images.odoo, images.db}
    for name in ("odoo", "db", "base"):
        repository = f"{REPOSITORY}/standin-{name}"
        listed = _run(
            ["docker", "image", "ls", "--format", "{{.Repository}}:{{.Tag}}", repository],
            timeout=QUICK_TIMEOUT,
            what=f"listing {repository}",
        )
        for ref in listed.split():
            if ref not in keep and not ref.endswith(f":{CURRENT_TAG}"):
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
    """`python -m harness.images [--force]`: ensure the images and print their references."""
    import argparse

    parser = argparse.ArgumentParser(prog="python -m harness.images", description=main.__doc__)
    parser.add_argument("--force", action="store_true", help="rebuild every image, the base included")
    parser.add_argument("--root", type=Path, default=REPO_ROOT, help="repository root (default: this checkout)")
    args = parser.parse_args(argv)
    try:
        images = ensure_standin_images(args.root, force=args.force, log=lambda line: print(line, file=sys.stderr))
    except EnvironmentProblem as exc:
        print(f"error: {exc.message}", file=sys.stderr)
        return int(exc.exit_code)
    for field in dataclasses.fields(images):
        print(f"{field.name}: {getattr(images, field.name)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
