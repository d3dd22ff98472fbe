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
    DIVE_TESTDATA,
    FIXTURES,
    LAB_VARIANTS,
    require_engine,
    tag_for,
    unavailable,
)

import helpers
from helpers.analysis import Analysis
from helpers.engine import BuildStep
from helpers.errors import EngineUnavailable

MAKE_ALPINE = (
    "make it offline the way .ci/run does: in a folder holding "
    f"{ALPINE_TARBALLS / 'alpine-minirootfs-3.20.3-x86_64.tar.gz'}, write a Dockerfile "
    "`FROM scratch` / `ADD alpine-minirootfs-3.20.3-x86_64.tar.gz /` / `CMD [\"/bin/sh\"]` "
    "and run `docker build --network none -t alpine:3.20.3 .`"
)


@pytest.fixture(scope="session", autouse=True)
def offline_mode():
    """Offline mode for the whole session, subprocesses included (they inherit os.environ)."""
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("LAYERLAB_OFFLINE", "1")
        yield


@pytest.fixture(scope="session")
def dive_testdata() -> Path:
    if not DIVE_TESTDATA.is_dir():
        pytest.skip(f"dive's test archives are missing: expected them at {DIVE_TESTDATA} (../shared/dive-testdata)")
    return DIVE_TESTDATA


@pytest.fixture(scope="session")
def docker_client():
    from helpers.engine import docker_client as connect

    try:
        return connect()
    except EngineUnavailable as exc:
        if require_engine():
            pytest.fail(f"{exc} (LAYERLAB_REQUIRE_ENGINE=1)", pytrace=False)
        pytest.skip(f"no Docker Engine: {exc}")


@pytest.fixture(scope="session")
def alpine(docker_client) -> str:
    import docker.errors

    try:
        docker_client.images.get(BASE_IMAGE)
    except docker.errors.ImageNotFound:
        unavailable(f"{BASE_IMAGE} is not in the engine, and offline mode never pulls; {MAKE_ALPINE}")
    return BASE_IMAGE


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
