"""The builder that works here: the one asked for, else the Docker Engine if it answers, else the embedded one."""

from __future__ import annotations

from ..ground.errors import EngineUnavailable
from ..ground.settings import ENGINE_VARIABLE, Settings, check_engine
from .builder import Builder
from .docker_builder import DockerBuilder
from .embedded import EmbeddedBuilder
from .oci_store import ToolMissing


def select_builder(engine: str | None = None, *, settings: Settings) -> Builder:
    """The builder ``engine`` names, else the settings' (``LAYERLAB_ENGINE``), else Docker if it answers, else embedded.

    The builder works as ``settings`` say (offline mode, its store, the limits).

    ``recorded`` (or no builder at all) means nothing builds here: it raises
    :class:`EngineUnavailable`, and notebooks replay their recordings instead.
    """
    chosen = check_engine(engine.strip().lower()) if engine else settings.engine
    if chosen == "recorded":
        raise EngineUnavailable(f"{ENGINE_VARIABLE}=recorded: nothing builds here", "notebooks replay recordings")
    if chosen == "docker":
        return DockerBuilder(settings=settings)
    if chosen == "embedded":
        return EmbeddedBuilder(settings=settings)
    try:
        return DockerBuilder(settings=settings)
    except EngineUnavailable as no_docker:
        try:
            return EmbeddedBuilder(settings=settings)
        except ToolMissing as no_tools:
            raise EngineUnavailable(
                f"nothing can build here: {no_docker.message}, and {no_tools.message}",
                f"start a Docker Engine, or {no_tools.hint}",
            ) from no_tools
