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

from harness import hashing, paths, proc
from harness.errors import EnvironmentProblem
from tools import rootfs

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
POSTGRES17_ALIAS = f"{REPOSITORY}/postgres:17"
STANDIN_ALIAS = f"{REPOSITORY}/standin-odoo:current"
QUICK_TIMEOUT = 60.0
BUILD_TIMEOUT = 1200.0
LOCK_TIMEOUT = 3600.0

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
    base: rootfs.BaseSpec = rootfs.BOOKWORM

    def reference(self, base_ref: str) -> str:
        """repository/name:<hash of the base reference, the Dockerfile and every context file>."""
        entries = [("Dockerfile", self.dockerfile), *self.files]
        tag = content_hash(entries, extra=[f"base={base_ref}", f"image={self.name}"])
        return f"{REPOSITORY}/{self.name}:{tag}"


def content_hash(entries: Iterable[tuple[str, Path]], extra: Iterable[str] = ()) -> str:
    """12 hex digits of the project's one tree hash (harness.hashing): short enough for a tag."""
    return hashing.content_hash(entries, extra)[:12]


def base_reference(spec: rootfs.BaseSpec = rootfs.BOOKWORM) -> str:
    """A base image's reference: a hash of everything that goes into its root filesystem."""
    extra = [
        f"builder={BUILDER_VERSION}",
        f"suite={spec.suite}",
        f"variant={spec.variant}",
        "packages=" + ",".join(sorted(spec.packages)),
        "excludes=" + ",".join(spec.excludes),
        "changes=" + "\n".join(spec.changes),
    ]
    return f"{REPOSITORY}/{spec.name}:{content_hash([], extra=extra)}"


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
    """PostgreSQL 15 (Debian bookworm's) with an official-like entrypoint."""
    context = root / "images" / "postgres"
    return ImageSpec(
        name="postgres",
        alias=POSTGRES_ALIAS,
        dockerfile=context / "Dockerfile",
        files=(("docker-entrypoint.sh", context / "docker-entrypoint.sh"),),
    )


def postgres17_spec(root: Path = REPO_ROOT) -> ImageSpec:
    """PostgreSQL 17 (Debian trixie's): the same Dockerfile and entrypoint, on a base of its own."""
    return dataclasses.replace(
        postgres_spec(root), name="postgres17", alias=POSTGRES17_ALIAS, base=rootfs.TRIXIE_POSTGRES_17
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
    wanted = {spec.alias: (spec, spec.reference(base_reference(spec.base))) for spec in specs}
    _require_docker()
    with _build_lock():
        missing = [(spec, ref) for spec, ref in wanted.values() if force or not _image_exists(ref)]
        built_bases: set[str] = set()
        for spec, ref in missing:
            base_ref = base_reference(spec.base)
            if base_ref not in built_bases and (force or not _image_exists(base_ref)):
                rootfs.build_base(base_ref, log, spec.base)
            built_bases.add(base_ref)
            _build_from_base(spec, ref, base_ref, no_cache=force, log=log)
        for alias, (_spec, ref) in wanted.items():
            rootfs.run_checked(["docker", "tag", ref, alias], timeout=QUICK_TIMEOUT, what=f"tagging {alias}")
        if missing:
            bases = {base_reference(spec.base) for spec, _ref in wanted.values()}
            _remove_stale_tags([*sorted(bases), *(ref for _spec, ref in wanted.values())])
    return {alias: ref for alias, (_spec, ref) in wanted.items()}


def _require_docker() -> None:
    """Fail clearly when the docker CLI is missing or cannot reach the engine."""
    if shutil.which("docker") is None:
        raise EnvironmentProblem("docker is not installed (no `docker` on PATH): cannot build the stand-in images")
    rootfs.run_checked(
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
    path = paths.shared_dir(Path(tempfile.gettempdir()) / "hub-harness") / "standin-images.lock"
    fd, _ = paths.open_lock_file(path)
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


def _build_from_base(spec: ImageSpec, ref: str, base_ref: str, *, no_cache: bool, log: Log) -> None:
    """docker build one image FROM the base, in a context assembled from the spec's files."""
    started = time.monotonic()
    log(f"building {ref} ({spec.alias})")
    with tempfile.TemporaryDirectory(prefix=f"harness-{spec.name}-") as tmp:
        context = Path(tmp)
        for name, source in spec.files:
            _place(source, context / name)
        # --network none: the builds copy local files only, and need no bridge network.
        cmd = ["docker", "build", "--network", "none", "-f", str(spec.dockerfile), "--build-arg", f"BASE={base_ref}"]
        cmd += ["-t", ref]
        if no_cache:
            cmd.append("--no-cache")
        cmd.append(str(context))
        # The classic builder resolves FROM in the local image store, never in a registry.
        env = {**os.environ, "DOCKER_BUILDKIT": "0"}
        rootfs.run_checked(cmd, timeout=BUILD_TIMEOUT, what=f"docker build of {ref}", env=env)
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
        listed = rootfs.run_checked(
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


def main(argv: Sequence[str] | None = None) -> int:
    """`python -m tools.images [--real] [--standin] [--odoo-source PATH] [--force]`."""
    import argparse

    parser = argparse.ArgumentParser(prog="python -m tools.images", description=__doc__.splitlines()[0])
    parser.add_argument("--real", action="store_true", help="real Odoo 18 and PostgreSQL (the default)")
    parser.add_argument("--standin", action="store_true", help="the stand-in Odoo and PostgreSQL")
    parser.add_argument(
        "--odoo-source", type=Path, help=f"Odoo 18 archive or source tree (default: ${ODOO_SOURCE_ENV})"
    )
    parser.add_argument(
        "--postgres17", action="store_true", help=f"also {POSTGRES17_ALIAS} (Debian trixie's PostgreSQL 17)"
    )
    parser.add_argument("--force", action="store_true", help="rebuild every image, the base included")
    args = parser.parse_args(argv)
    try:
        specs = [postgres_spec()]
        if args.real or not args.standin:
            specs.append(odoo_spec(args.odoo_source or odoo_source_from_env()))
        if args.standin:
            specs.append(standin_spec())
        if args.postgres17:
            specs.append(postgres17_spec())
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
