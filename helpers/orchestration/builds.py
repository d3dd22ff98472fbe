"""Build Dockerfiles with whichever builder works here, and measure what they made.

:func:`select_engine` names the builder :func:`helpers.building.selection.select_builder`
picks (``LAYERLAB_ENGINE``, else the Docker Engine if it answers, else the
embedded builder); :func:`build` builds one Dockerfile, :func:`build_variants`
several side by side, and :func:`attempt_builds` keeps a failing one as a
result.  The builders build and read; measuring happens here, with
:func:`helpers.measuring.analysis.analyze`.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from ..building.builder import Builder, describe_bases
from ..building.docker_builder import DockerBuilder
from ..building.selection import select_builder
from ..ground.dockerfile import Dockerfile, parse_dockerfile, remote_sources
from ..ground.errors import BuildFailed, DockerfileError
from ..ground.references import check_tag, tag_for
from ..ground.settings import OFFLINE_VARIABLE, Settings
from ..ground.steps import Progress
from ..measuring.analysis import Analysis, analyze

if TYPE_CHECKING:
    from ..reading.daemon import Client


def select_engine(engine: str | None = None, *, settings: Settings) -> str:
    """``docker`` or ``embedded``: the name of the builder :func:`~helpers.building.selection.select_builder` picks."""
    return select_builder(engine, settings=settings).name


def builder_for(client: Client | None = None, engine: str | None = None,
                *, settings: Settings) -> Builder:
    """The builder a call asks for: Docker at ``client`` when one is passed (and no ``engine``), else the one picked."""
    if client is not None and engine is None:
        return DockerBuilder(client, settings=settings)
    return select_builder(engine, settings=settings)


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
    client: Client | None = None,
    engine: str | None = None,
    network: bool | None = None,
    measure_pull: bool = False,
    builder: Builder | None = None,
    settings: Settings,
) -> Built:
    """Build one Dockerfile (a path, or its text) and analyse the result.

    ``engine`` is ``docker`` or ``embedded`` (default: :func:`select_engine`;
    passing a ``client`` means Docker, and a ``builder`` is used as it is).
    ``context`` defaults to the Dockerfile's folder, or an empty folder for a
    Dockerfile given as text.  ``network``: whether ``RUN`` steps get the
    network (default: unless offline mode is on); ``True`` is for builds that
    need Debian's package registry, and changes nothing else (nothing is pulled
    offline).  ``measure_pull`` also measures each layer gzipped, as a registry
    stores it (:attr:`helpers.measuring.analysis.Analysis.compressed_bytes`).
    ``settings`` (offline mode, the engine, the store, the limits) are handed to the builder
    picked; the notebooks' ``helpers.build`` reads them from the environment.
    """
    tag = check_tag(tag) if tag is not None else check_tag(tag_for(name))
    builder = builder or builder_for(client, engine, settings=settings)
    network = not settings.offline if network is None else network
    parsed = parse_dockerfile(dockerfile)  # fails early and clearly on a Dockerfile that cannot parse
    if settings.offline:
        refuse_remote_sources(parsed)
    folder = Path(context) if context is not None else parsed.path.parent if parsed.path is not None else None
    if folder is not None and not folder.is_dir():
        raise DockerfileError(f"the build context {folder} is not a directory", "pass an existing folder")
    made = builder.build(parsed, folder, name, tag, progress, network)
    image = builder.read(made.reference, measure_pull)._replace(bases=describe_bases(builder, made.bases),
                                                                built_by=made.engine or builder.name)
    built = Built(name, made.reference, made.image_id, analyze(image))
    if progress is not None and hasattr(progress, "done"):
        progress.done(name, image.built_by, built.analysis)
    return built


def build_variants(
    variants: Mapping[str, str | os.PathLike],
    context: str | os.PathLike | None = None,
    *,
    progress: Progress | None = None,
    client: Client | None = None,
    engine: str | None = None,
    network: bool | None = None,
    measure_pull: bool = False,
    builder: Builder | None = None,
    settings: Settings,
) -> dict[str, Analysis]:
    """Build several Dockerfile variants side by side and return their analyses, by name.

    Each value is a Dockerfile path or a Dockerfile's text.  Each step is
    reported to ``progress`` as it lands (default: to no one; the notebooks'
    ``helpers.build_variants`` prints it).  ``engine``, ``network``, ``measure_pull``, ``settings``: see :func:`build`.
    """
    builder = builder or builder_for(client, engine, settings=settings)
    return {
        name: build(dockerfile, context, name=name, progress=progress, builder=builder, network=network,
                    measure_pull=measure_pull, settings=settings).analysis
        for name, dockerfile in variants.items()
    }


def refuse_remote_sources(dockerfile: Dockerfile) -> None:
    """Offline, no builder runs a Dockerfile that fetches: ``ADD`` of a URL or a git repository is refused here.

    The engines themselves would fetch it: the Docker Engine downloads ``ADD <url>``
    with the daemon's own network, which ``network_mode="none"`` does not cover.
    """
    remote = remote_sources(dockerfile)
    if remote:
        line, source = remote[0]
        shown = source if len(source) <= 80 else source[:79] + "…"
        raise DockerfileError(
            f"line {line}: `ADD {shown}` fetches from the network, and offline mode ({OFFLINE_VARIABLE}=1) "
            "fetches nothing",
            f"download it where the internet is, put it in the build context and ADD the file; or unset "
            f"{OFFLINE_VARIABLE}",
        )


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
    client: Client | None = None,
    engine: str | None = None,
    network: bool | None = None,
    measure_pull: bool = False,
    builder: Builder | None = None,
    settings: Settings,
) -> dict[str, Analysis | BuildFailed]:
    """Try to build every variant: each gives its analysis, or the :class:`BuildFailed` that stopped it.

    A failing Dockerfile is a result, not an exception;
    :func:`helpers.views.tables.attempts_table` tabulates the outcomes.
    Engine-level problems (no engine, a missing base offline, no network, an
    unreachable package registry) still raise: they are not facts about the
    Dockerfile.  ``network``, ``measure_pull``, ``settings``: see :func:`build`.
    """
    builder = builder or builder_for(client, engine, settings=settings)
    outcomes: dict[str, Analysis | BuildFailed] = {}
    for name, dockerfile in variants.items():
        try:
            outcomes[name] = build(dockerfile, context, name=name, progress=progress, builder=builder,
                                   network=network, measure_pull=measure_pull, settings=settings).analysis
        except BuildFailed as failure:
            outcomes[name] = failure
    return outcomes
