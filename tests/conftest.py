"""Shared fixtures: the real inputs every test reads.

* ``dive_testdata``: dive's own test archives, read from ``../shared/dive-testdata``
  (never copied into the repository);
* ``docker_client``, ``alpine``, ``skopeo``: the real engine, the offline base image
  and the OCI converter.  Each one skips the tests that need it, saying why and how
  to provide it, unless ``LAYERLAB_REQUIRE_ENGINE=1`` (CI), which turns the skip
  into a failure: CI must never go green by skipping;
* ``built`` and ``lab``: the fixture Dockerfiles under ``tests/fixtures/``, built
  once per session by the engine (the engine caches the layers between runs).

The whole session runs in offline mode (``LAYERLAB_OFFLINE=1``): builds get no
network and nothing is ever pulled.
"""

from __future__ import annotations

import shutil
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from layerlab_fixtures import (
    ALPINE_TARBALLS,
    BASE_IMAGE,
    CASES,
    DEBIAN_IMAGE,
    DIVE_TESTDATA,
    FIXTURES,
    LAB_VARIANTS,
    current_settings,
    require_engine,
    tag_for,
    unavailable,
)

import helpers
from helpers.ground.errors import EngineUnavailable
from helpers.ground.steps import BuildStep
from helpers.measuring.analysis import Analysis

MAKE_ALPINE = (
    "make it offline the way .ci/run does: "
    f"`python -m helpers base alpine:3.20.3 --rootfs {ALPINE_TARBALLS}`"
)


def pytest_report_header(config) -> list[str]:
    """Which engine this run tests, which of its builders builds, and which client drives BuildKit.

    CI runs the engine tests on two engines, and with each of Engine 20.10's two builders.
    """
    from helpers.building.buildkit_cli import describe_client
    from helpers.reading.daemon import docker_client as connect
    from helpers.reading.daemon import engine_address

    try:
        version = connect().version()
    except EngineUnavailable as exc:
        return [f"engine: none ({exc.message})"]
    from helpers.building.docker_builder import uses_buildkit

    settings = current_settings()
    chosen = settings.docker_builder
    builder = "BuildKit" if uses_buildkit(settings) else "the classic builder"
    return [f"engine: Docker Engine {version.get('Version')} (API {version.get('ApiVersion')}) at {engine_address()}",
            f"BuildKit through: {describe_client()}",
            f"builds with: {builder} (LAYERLAB_DOCKER_BUILDER={chosen}; RUN --mount always with BuildKit)"]


@pytest.fixture(scope="session", autouse=True)
def offline_mode():
    """Offline mode for the whole session, subprocesses included (they inherit os.environ)."""
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("LAYERLAB_OFFLINE", "1")
        yield


HOST_BRIDGE = Path("/sys/class/net/docker0")


@pytest.fixture(scope="module", autouse=True)
def host_bridge_is_left_alone(request):
    """No test module touches the host's network: if the engine's docker0 bridge was there, it still is.

    (A second dockerd started with ``--bridge=none`` in the host's network
    namespace deletes it, and from then on every build that needs a network
    fails until the engine restarts; see ``private_engine.py``.)
    """
    there = HOST_BRIDGE.exists()
    yield
    if there and not HOST_BRIDGE.exists():
        pytest.fail(f"{request.module.__name__} removed the host's docker0 bridge: every networked build now fails "
                    "until dockerd restarts", pytrace=False)


@pytest.fixture(scope="session")
def dive_testdata() -> Path:
    if not DIVE_TESTDATA.is_dir():
        pytest.skip(f"dive's test archives are missing: expected them at {DIVE_TESTDATA} (../shared/dive-testdata)")
    return DIVE_TESTDATA


@pytest.fixture(scope="session")
def docker_client():
    from helpers.reading.daemon import docker_client as connect

    try:
        return connect()
    except EngineUnavailable as exc:
        if require_engine():
            pytest.fail(f"{exc} (LAYERLAB_REQUIRE_ENGINE=1)", pytrace=False)
        pytest.skip(f"no Docker Engine: {exc}")


def _in_engine(client, image: str, how: str) -> str:
    import docker.errors

    try:
        client.images.get(image)
    except docker.errors.ImageNotFound:
        unavailable(f"{image} is not in the engine, and offline mode never pulls; {how}")
    return image


@pytest.fixture(scope="session")
def alpine(docker_client) -> str:
    return _in_engine(docker_client, BASE_IMAGE, MAKE_ALPINE)


MAKE_DEBIAN = (
    "make it the way .ci/run does, as root with debuerreotype installed: "
    "`python -m helpers base debian:bookworm-slim --rootfs DIR`, and add DIR to LAYERLAB_ROOTFS"
)


@pytest.fixture(scope="session")
def debian(docker_client) -> str:
    """Debian's slim base in the engine, made locally from a debuerreotype rootfs."""
    return _in_engine(docker_client, DEBIAN_IMAGE, MAKE_DEBIAN)


@pytest.fixture(scope="session")
def debian_rootfs() -> Path:
    """The debuerreotype tarball the Debian base was made from, found in LAYERLAB_ROOTFS."""
    from helpers.building.bases import find_rootfs
    from helpers.ground.settings import Settings

    tarball = find_rootfs(DEBIAN_IMAGE, Settings.from_environment().rootfs)
    if tarball is None:
        unavailable(f"no debian-bookworm-slim-rootfs.tar in LAYERLAB_ROOTFS; {MAKE_DEBIAN}")
    return tarball


@pytest.fixture(scope="session")
def registry() -> None:
    """Debian's package registry answers here (builds that run apt-get need it)."""
    from helpers.building.registry import registry_reason
    from helpers.ground.settings import Settings

    settings = Settings.from_environment()
    reason = registry_reason(settings.offline, settings.debian_mirror)
    if reason is not None:
        unavailable(f"Debian's package registry is needed: {reason}")


@pytest.fixture(scope="session")
def pypi() -> None:
    """pip on this machine reaches PyPI (builds that install wheels download them here first)."""
    from helpers.orchestration.wheels import pypi_reason

    reason = pypi_reason()
    if reason is not None:
        unavailable(f"PyPI does not answer here: {reason}")


@pytest.fixture(scope="session")
def skopeo() -> str:
    path = shutil.which("skopeo")
    if path is None:
        unavailable("skopeo is not on PATH: install skopeo (apt-get install skopeo)")
    return path


@dataclass
class BuiltCase:
    """One fixture Dockerfile built by the engine: its tag, its analysis, the progress it reported."""

    tag: str
    analysis: Analysis
    steps: list[tuple[str, BuildStep]] = field(default_factory=list)


def _collector(into: list):
    def progress(name: str, step: BuildStep) -> None:
        into.append((name, step))

    return progress


@pytest.fixture(scope="session")
def built(docker_client, alpine) -> dict[str, BuiltCase]:
    """Every case in CASES, built with helpers.build from tests/fixtures/<case>/Dockerfile."""
    result = {}
    for case in CASES:
        steps: list[tuple[str, BuildStep]] = []
        made = helpers.build(
            FIXTURES / case / "Dockerfile", name=case, tag=tag_for(case), progress=_collector(steps),
            client=docker_client,
        )
        result[case] = BuiltCase(made.tag, made.analysis, steps)
    return result


@pytest.fixture(scope="session")
def lab(docker_client, alpine) -> dict[str, BuiltCase]:
    """The lab pattern's two variants, built side by side with helpers.build_variants; keyed by fixture folder."""
    steps: list[tuple[str, BuildStep]] = []
    analyses = helpers.build_variants(
        {name: FIXTURES / folder / "Dockerfile" for name, folder in LAB_VARIANTS.items()},
        progress=_collector(steps),
        client=docker_client,
    )
    return {
        folder: BuiltCase(analyses[name].image.source, analyses[name], [s for s in steps if s[0] == name])
        for name, folder in LAB_VARIANTS.items()
    }
