"""Where the tests' real inputs live, and the constants measured from them (shared by conftest and the tests)."""

from __future__ import annotations

import os
import re
from pathlib import Path

import pytest

from helpers.ground.settings import Settings

TESTS = Path(__file__).resolve().parent
FIXTURES = TESTS / "fixtures"
SHARED = Path(__file__).resolve().parents[2] / "shared"
DIVE_TESTDATA = SHARED / "dive-testdata"
ALPINE_TARBALLS = SHARED / "alpine"
#: Alpine's own signed package indexes, which apk reads offline (LAYERLAB_APKINDEX).
APK_INDEXES = SHARED / "apkindex"

BASE_IMAGE = "alpine:3.20.3"
#: Debian's slim base, made locally with debuerreotype (`python -m helpers base debian:bookworm-slim`).
DEBIAN_IMAGE = "debian:bookworm-slim"
#: Regular-file bytes of alpine:3.20.3's single layer (FROM scratch + ADD the minirootfs),
#: checked against the base image and the minirootfs tarball in building/test_engine_builds.py.
BASE = 7792915

#: Fixture Dockerfiles built one by one with helpers.build, tagged layerlab-test/<case>:latest.
CASES = ("shadowed", "opaque", "hardlinks", "symlinks", "tree-whiteout")
#: The lab pattern, built side by side with helpers.build_variants (which tags layerlab/<name>:latest).
LAB_VARIANTS = {"layerlab-test-multi-run": "lab-multi-run", "layerlab-test-single-run": "lab-single-run"}


def tag_for(case: str) -> str:
    """The tag a fixture case is built under (apart from the notebooks' layerlab/* tags)."""
    return f"layerlab-test/{case}:latest"


#: test-docker-image.tar's image figures: dive 0.13.1's published size, wasted bytes and
#: efficiency (../shared/README.md), and our final/reclaimable bytes worked out in reading/test_dive_testdata.py.
DIVE_DOCKER_IMAGE = {
    "layers": 14,
    "stored_bytes": 1220598,
    "final_bytes": 1188573,
    "reclaimable_bytes": 32025,
    "efficiency": 1188573 / 1220598,
    "dive_efficiency": 0.9844212134184309,
    "dive_wasted_bytes": 32025,
}


#: alpine 3.20.3's lib/apk/db/installed, which every apk run rewrites
#: (checked against the tarball in views/test_tables.py).
BASE_APK_INSTALLED = 14206

#: site-packages of Alpine 3.20's Python, where pip puts packages.
SP = "/usr/lib/python3.12/site-packages"


def _write(size: int, path: str) -> str:
    return f"head -c {size} /dev/zero > {path}"


STAND_IN_SEED_TAG = "layerlab-test/stand-in-seed:latest"
STAND_IN_SEED = "\n".join([
    "FROM alpine:3.20.3",
    # L1, `apk add py3-pip`: 1500 apk index cache; 2000 apk database (replaces the base's 14206);
    # pip 4000 + 500 + 200; bytecode 3000 + 1100; setuptools & packaging 2500 + 300.
    "RUN mkdir -p /var/cache/apk " + " ".join(
        f"{SP}/{d}" for d in ("pip/__pycache__", "pip-24.0.dist-info", "setuptools/__pycache__",
                              "packaging-24.0.dist-info")
    ) + " && " + " && ".join([
        _write(1500, "/var/cache/apk/APKINDEX.a.tar.gz"),
        _write(2000, "/lib/apk/db/installed"),
        _write(4000, f"{SP}/pip/__init__.py"),
        _write(3000, f"{SP}/pip/__pycache__/__init__.cpython-312.pyc"),
        _write(500, f"{SP}/pip-24.0.dist-info/RECORD"),
        _write(2500, f"{SP}/setuptools/__init__.py"),
        _write(1100, f"{SP}/setuptools/__pycache__/__init__.cpython-312.pyc"),
        _write(300, f"{SP}/packaging-24.0.dist-info/METADATA"),
        _write(200, "/usr/bin/pip3"),
    ]),
    # L2, `pip3 install django`: running pip rewrites pip's bytecode (3100, replacing L1's 3000);
    # django 6000 + 400 + 100 and its bytecode 2000; pip's download cache 9000.
    f"RUN mkdir -p {SP}/django/__pycache__ {SP}/django-5.0.6.dist-info /root/.cache/pip/http-v2/a && " + " && ".join([
        _write(3100, f"{SP}/pip/__pycache__/__init__.cpython-312.pyc"),
        _write(6000, f"{SP}/django/__init__.py"),
        _write(2000, f"{SP}/django/__pycache__/__init__.cpython-312.pyc"),
        _write(400, f"{SP}/django-5.0.6.dist-info/METADATA"),
        _write(100, "/usr/bin/django-admin"),
        _write(9000, "/root/.cache/pip/http-v2/a/body"),
    ]),
    # L3, `apk del py3-pip`: pip, setuptools and packaging go (whiteouts); apk's database is rewritten (1800).
    f"RUN rm -rf {SP}/pip {SP}/pip-24.0.dist-info {SP}/setuptools {SP}/packaging-24.0.dist-info /usr/bin/pip3 && "
    + _write(1800, "/lib/apk/db/installed"),
]) + "\n"


#: The first Docker Engine whose ``docker save`` is in its OCI form (``index.json``, ``blobs/``) beside
#: ``manifest.json``.
OCI_SAVE_ENGINE = 25


def engine_major(client) -> int:
    """The major version of ``client``'s Docker Engine (``20`` for 20.10.24; CI runs on two)."""
    major = str(client.version().get("Version", "0")).split(".")[0]
    return int(major) if major.isdigit() else 0


def saved_format(client) -> str:
    """What the reader calls ``client``'s engine's ``docker save``: ``docker-archive``, or from Engine 25 on
    ``docker-archive+oci``."""
    return "docker-archive+oci" if engine_major(client) >= OCI_SAVE_ENGINE else "docker-archive"


#: What BuildKit leaves in every layer a ``RUN`` commits, beside what the command changed: the ``/etc`` folder, in
#: which it makes the mount points of the ``hosts`` and ``resolv.conf`` it mounts (a folder, no bytes; Engine 20.10's
#: BuildKit 0.8 and Engine 28.5's alike).  The classic and embedded builders leave no such entry.
BUILDKIT_RUN_ENTRY = ("etc", "dir", 0, "")


def made_by_buildkit(created_by: str | None) -> bool:
    """Whether a history entry is BuildKit's: it ends ``# buildkit``, as BuildKit writes every ``RUN`` and ``COPY``."""
    return (created_by or "").rstrip().endswith("# buildkit")


def without_buildkit_run_entry(entries: list[tuple], created_by: str | None) -> list[tuple]:
    """A layer's sorted ``(path, kind, size, link)`` entries, without the folder BuildKit adds to a ``RUN``'s layer.

    Only where the layer is a BuildKit ``RUN``'s and holds :data:`BUILDKIT_RUN_ENTRY`; an error where BuildKit's
    ``RUN`` layer lacks it, so a BuildKit that stops adding it is noticed.
    """
    if not (made_by_buildkit(created_by) and (created_by or "").startswith("RUN ")):
        return entries
    assert BUILDKIT_RUN_ENTRY in entries, f"BuildKit's RUN layer has no {BUILDKIT_RUN_ENTRY}: {entries}"
    return [entry for entry in entries if entry != BUILDKIT_RUN_ENTRY]


def docker_built_by() -> str:
    """What the Docker Engine builds a Dockerfile without ``RUN --mount`` with, as the test's settings choose."""
    from helpers.building.docker_builder import uses_buildkit

    return "docker+buildkit" if uses_buildkit(current_settings()) else "docker"


def run_failure(command: str, code: int) -> re.Pattern[str]:
    """The reason a ``RUN command`` that exits ``code`` fails with, in the words of the builder the settings choose.

    The classic builder (and the embedded builder, which says what it says): ``The command '/bin/sh -c …'
    returned a non-zero code: N``.  BuildKit 0.8 (Engine 20.10): ``executor failed running [/bin/sh -c …]: exit
    code: N``; later BuildKit: ``process "/bin/sh -c …" did not complete successfully: exit code: N``.
    """
    shell = re.escape(f"/bin/sh -c {command}")
    if docker_built_by() == "docker":
        return re.compile(f"The command '{shell}' returned a non-zero code: {code}")
    return re.compile(f'(?:executor failed running \\[{shell}\\]|process "{shell}" did not complete successfully): '
                      f"exit code: {code}")


def require_engine() -> bool:
    """CI's ``LAYERLAB_REQUIRE_ENGINE=1``: a missing engine or tool fails the test instead of skipping it."""
    return os.environ.get("LAYERLAB_REQUIRE_ENGINE", "") == "1"


def unavailable(reason: str) -> None:
    """Skip the test, or fail it when LAYERLAB_REQUIRE_ENGINE=1."""
    if require_engine():
        pytest.fail(f"{reason} (LAYERLAB_REQUIRE_ENGINE=1 forbids skipping)", pytrace=False)
    pytest.skip(reason)


def embedded_tools() -> dict[str, str]:
    """The embedded builder's tools (skopeo, umoci, proot), or :func:`unavailable` naming the one missing."""
    from helpers.building.oci_store import ToolMissing, require_tools

    try:
        return require_tools()
    except ToolMissing as exc:
        unavailable(str(exc))
        raise


def need(condition: bool, reason: str) -> None:
    """:func:`unavailable` unless ``condition`` holds."""
    if not condition:
        unavailable(reason)


def current_settings() -> Settings:
    """The settings this test's environment gives now (as an edge reads them), for calls below the edges."""
    return Settings.from_environment()


def processes_naming(text: str) -> list[int]:
    """The live processes whose command line holds ``text`` (what a test looks for after an interrupt)."""
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                if text.encode() in (entry / "cmdline").read_bytes():
                    found.append(int(entry.name))
            except OSError:
                continue  # it ended meanwhile
    return found
