"""Build a large, realistic image offline and save it three ways, for the reader benchmarks.

    .venv/bin/python benchmarks/large_image.py [--out DIR]

The image is made of real files: Debian packages (a Go toolchain's sources,
a JDK, LLVM, GCC, Python's and Perl's libraries, Boost's headers) downloaded with
``apt-get download`` and unpacked with ``dpkg-deb -x`` into the build context,
then copied onto ``alpine:3.20.3`` in several layers.  Two RUN steps add the
kind of waste the course is about: one deletes a copied tree (its bytes still
ship), one changes permissions on another (which stores those files again).
The build runs with networking disabled.

It writes, in ``DIR`` (default ``~/.cache/layerlab-bench``):

* ``large-docker.tar``: ``docker save`` (uncompressed layers, ``manifest.json``);
* ``large-oci-gzip.tar``: an OCI archive with gzip layers (``skopeo copy``);
* ``large-oci-zstd.tar``: an OCI archive with zstd layers.

Everything is cached: a second run reuses the downloads, the image and the files.
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tarfile
from pathlib import Path

BASE = "alpine:3.20.3"
TAG = "layerlab-bench/large:latest"
#: Each group of packages becomes one COPY layer, in this order.
LAYERS: dict[str, list[str]] = {
    "go-src": ["golang-1.19-src"],
    "jdk": ["openjdk-17-jre-headless", "openjdk-17-jdk-headless"],
    "llvm": ["libllvm14"],
    "gcc": ["gcc-12", "cpp-12", "libgcc-12-dev"],
    "python-doc": ["python3.11-doc"],
    "perl": ["perl-modules-5.36", "libperl5.36"],
    "icu": ["libicu72"],
    "boost": ["libboost1.74-dev"],
}
DOCKERFILE = """\
FROM {base}
COPY go-src/ /
COPY jdk/ /
COPY llvm/ /
COPY gcc/ /
COPY python-doc/ /
COPY perl/ /
COPY icu/ /
COPY boost/ /
# waste: the docs are deleted in a later step, so their bytes still ship
RUN rm -rf /usr/share/doc/python3.11
# waste: a permission change stores every Perl module again
RUN chmod -R o-w /usr/share/perl
"""
FORMATS = {
    "large-docker.tar": None,
    "large-oci-gzip.tar": "gzip",
    "large-oci-zstd.tar": "zstd",
}


def default_out() -> Path:
    return Path(os.environ.get("LAYERLAB_BENCH_DIR", Path.home() / ".cache" / "layerlab-bench"))


def download(packages: list[str], debs: Path) -> list[Path]:
    """The ``.deb`` files of ``packages``, downloaded once into ``debs``."""
    debs.mkdir(parents=True, exist_ok=True)
    wanted = [p for p in packages if not list(debs.glob(f"{p}_*.deb"))]
    if wanted:
        subprocess.run(["apt-get", "download", *wanted], cwd=debs, check=True)
    return [next(debs.glob(f"{p}_*.deb")) for p in packages]


def make_context(out: Path) -> Path:
    """A build context with one folder per layer, unpacked from real packages."""
    context = out / "context"
    done = context / ".complete"
    if done.exists():
        return context
    shutil.rmtree(context, ignore_errors=True)
    context.mkdir(parents=True)
    for folder, packages in LAYERS.items():
        target = context / folder
        target.mkdir()
        for deb in download(packages, out / "debs"):
            subprocess.run(["dpkg-deb", "-x", str(deb), str(target)], check=True)
    (context / "Dockerfile").write_text(DOCKERFILE.format(base=BASE))
    done.touch()
    return context


def build(context: Path) -> None:
    import docker

    client = docker.from_env()
    try:
        client.images.get(TAG)
        return
    except docker.errors.ImageNotFound:
        pass
    client.images.get(BASE)  # made from the minirootfs tarball, as .ci/run does; never pulled
    print(f"building {TAG} (networking disabled) ...", flush=True)
    client.images.build(path=str(context), tag=TAG, network_mode="none", rm=True, pull=False)


def save(out: Path) -> dict[str, Path]:
    """Write the three archives (atomically: temporary name, then rename)."""
    paths: dict[str, Path] = {}
    docker_tar = out / "large-docker.tar"
    for name, compression in FORMATS.items():
        path = out / name
        paths[name] = path
        if path.exists():
            continue
        partial = path.with_suffix(".partial")
        partial.unlink(missing_ok=True)
        if compression is None:
            subprocess.run(["docker", "save", "-o", str(partial), TAG], check=True)
        else:
            subprocess.run(
                ["skopeo", "copy", "-q", "--dest-compress", "--dest-compress-format", compression,
                 f"docker-archive:{docker_tar}", f"oci-archive:{partial}:large"],
                check=True,
            )
        partial.rename(path)
    return paths


def describe(path: Path) -> str:
    """Size and tar-entry count of every layer in an archive (read with tarfile, for the record)."""
    with tarfile.open(path) as outer:
        members = outer.getmembers()
    size = path.stat().st_size
    return f"{path.name}: {size / 1e6:,.0f} MB, {len(members)} members"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=default_out())
    args = parser.parse_args(argv)
    args.out.mkdir(parents=True, exist_ok=True)
    context = make_context(args.out)
    build(context)
    for path in save(args.out).values():
        print(describe(path))
    return 0


if __name__ == "__main__":
    sys.exit(main())
