"""Build Dockerfiles with whichever builder works here, and measure what they made.

:func:`select_engine` picks the builder (``LAYERLAB_ENGINE``, else the Docker
Engine if it answers, else the embedded builder); :func:`build` builds one
Dockerfile, :func:`build_variants` several side by side, and
:func:`attempt_builds` keeps a failing one as a result.  The builders build
and read; measuring happens here, with :func:`helpers.measuring.analysis.analyze`.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Mapping
from dataclasses import dataclass, replace
from pathlib import Path

import docker

from ..building.embedded import EmbeddedBuilder, ToolMissing, require_tools
from ..building.engine import PULL_GZIP_LEVEL, build_image, describe_base, docker_client, read_engine_image
from ..ground.dockerfile import parse_dockerfile
from ..ground.errors import BuildFailed, DockerfileError, EngineUnavailable
from ..ground.references import check_tag, slug_tag, tag_for
from ..ground.settings import ENGINE_VARIABLE, check_engine, engine_choice, offline
from ..ground.steps import Progress
from ..measuring.analysis import Analysis, analyze
from ..reading.archive import read_path


def select_engine(engine: str | None = None) -> str:
    """``docker`` or ``embedded``: the parameter, else ``LAYERLAB_ENGINE``, else Docker if it answers, else embedded.

    ``recorded`` (or no engine at all) means nothing builds here: it raises
    :class:`EngineUnavailable`, and :mod:`helpers.orchestration.recording` replays instead.
    """
    chosen = check_engine(engine.strip().lower()) if engine else engine_choice()
    if chosen == "recorded":
        raise EngineUnavailable(f"{ENGINE_VARIABLE}=recorded: nothing builds here", "notebooks replay recordings")
    if chosen == "docker":
        docker_client()
        return "docker"
    if chosen == "embedded":
        require_tools()
        return "embedded"
    try:
        docker_client()
        return "docker"
    except EngineUnavailable as no_docker:
        try:
            require_tools()
        except ToolMissing as no_tools:
            raise EngineUnavailable(
                f"nothing can build here: {no_docker.message}, and {no_tools.message}",
                f"start a Docker Engine, or {no_tools.hint}",
            ) from no_tools
        return "embedded"


@dataclass
class Built:
    """A built image and its analysis."""

    name: str
    tag: str
    image_id: str
    analysis: Analysis


def build(
    dockerfile: str | os.PathLike,
    context: str | os.PathLike | None = None,
    *,
    name: str = "image",
    tag: str | None = None,
    progress: Progress | None = None,
    client: docker.DockerClient | None = None,
    engine: str | None = None,
    network: bool | None = None,
    measure_pull: bool = False,
) -> Built:
    """Build one Dockerfile (a path, or its text) and analyse the result.

    ``engine`` is ``docker`` or ``embedded`` (default: :func:`select_engine`;
    passing a ``client`` means Docker).  ``context`` defaults to the
    Dockerfile's folder, or an empty folder for a Dockerfile given as text.
    ``network``: whether ``RUN`` steps get the network (default: unless
    offline mode is on); ``True`` is for builds that need Debian's package
    registry, and changes nothing else (nothing is pulled offline).
    ``measure_pull`` also measures each layer gzipped, as a registry stores it
    (:attr:`helpers.measuring.analysis.Analysis.compressed_bytes`).
    """
    tag = check_tag(tag) if tag is not None else check_tag(tag_for(name))
    engine = "docker" if client is not None and engine is None else select_engine(engine)
    network = not offline() if network is None else network
    parsed = parse_dockerfile(dockerfile)  # fails early and clearly on a Dockerfile that cannot parse
    folder = Path(context) if context is not None else parsed.path.parent if parsed.path is not None else None
    if folder is not None and not folder.is_dir():
        raise DockerfileError(f"the build context {folder} is not a directory", "pass an existing folder")
    if engine == "embedded":
        builder = EmbeddedBuilder()
        with contextlib.ExitStack() as scratch:
            # no context: an empty folder, locked in the builder's store while in use (the next builder
            # removes one a killed build left)
            where = folder if folder is not None else scratch.enter_context(builder._scratch())
            store_tag, bases = builder.build(parsed, where, name, slug_tag(tag), progress, network=network)
        image = replace(read_path(builder.layout, ref=store_tag), source=f"{builder.layout}:{store_tag}",
                        bases=[builder.describe_base(base) for base in bases])
        built = Built(name, store_tag, builder.manifest_digest(store_tag), analyze(image))
    else:
        client = client or docker_client()
        image_id = build_image(client, parsed, folder, name, tag, progress, network)
        image = replace(read_engine_image(tag, client, gzip_level=PULL_GZIP_LEVEL if measure_pull else None),
                        source=tag, bases=[describe_base(client, base) for base in parsed.bases])
        built = Built(name, tag, image_id, analyze(image))
    if progress is not None and hasattr(progress, "done"):
        progress.done(name, engine)
    return built


def build_variants(
    variants: Mapping[str, str | os.PathLike],
    context: str | os.PathLike | None = None,
    *,
    progress: Progress | None = None,
    client: docker.DockerClient | None = None,
    engine: str | None = None,
    network: bool | None = None,
    measure_pull: bool = False,
) -> dict[str, Analysis]:
    """Build several Dockerfile variants side by side and return their analyses, by name.

    Each value is a Dockerfile path or a Dockerfile's text.  Each step is
    reported to ``progress`` as it lands (default: to no one; the notebooks'
    ``helpers.build_variants`` prints it).  ``engine``, ``network``, ``measure_pull``: see :func:`build`.
    """
    engine = "docker" if client is not None and engine is None else select_engine(engine)
    return {
        name: build(dockerfile, context, name=name, progress=progress, client=client, engine=engine,
                    network=network, measure_pull=measure_pull).analysis
        for name, dockerfile in variants.items()
    }


def require_built(outcomes: Mapping[str, Analysis | BuildFailed], names=None) -> dict[str, Analysis]:
    """The analyses of ``names`` (default: all), raising the first one's :class:`BuildFailed` if it did not build."""
    chosen = {}
    for name in names if names is not None else outcomes:
        outcome = outcomes[name]
        if isinstance(outcome, BuildFailed):
            raise outcome
        chosen[name] = outcome
    return chosen


def attempt_builds(
    variants: Mapping[str, str | os.PathLike],
    context: str | os.PathLike | None = None,
    *,
    progress: Progress | None = None,
    client: docker.DockerClient | None = None,
    engine: str | None = None,
    network: bool | None = None,
    measure_pull: bool = False,
) -> dict[str, Analysis | BuildFailed]:
    """Try to build every variant: each gives its analysis, or the :class:`BuildFailed` that stopped it.

    A failing Dockerfile is a result, not an exception; :func:`attempts_table`
    tabulates the outcomes.  Engine-level problems (no engine, a missing base
    offline, no network, an unreachable package registry) still raise: they
    are not facts about the Dockerfile.  ``network``, ``measure_pull``: see :func:`build`.
    """
    engine = "docker" if client is not None and engine is None else select_engine(engine)
    outcomes: dict[str, Analysis | BuildFailed] = {}
    for name, dockerfile in variants.items():
        try:
            outcomes[name] = build(dockerfile, context, name=name, progress=progress, client=client,
                                   engine=engine, network=network, measure_pull=measure_pull).analysis
        except BuildFailed as failure:
            outcomes[name] = failure
    return outcomes
