"""The builder that works here: the one asked for, else the Docker Engine if it answers, else the embedded one."""

from __future__ import annotations

from ..ground.errors import EngineUnavailable
from ..ground.settings import ENGINE_VARIABLE, check_engine, engine_choice
from .builder import Builder
from .docker_builder import DockerBuilder
from .embedded import EmbeddedBuilder
from .oci_store import ToolMissing


def select_builder(engine: str | None = None) -> Builder:
    """The builder ``engine`` names, else ``LAYERLAB_ENGINE`` does, else the Docker Engine if it answers, else embedded.

    ``recorded`` (or no builder at all) means nothing builds here: it raises
    :class:`EngineUnavailable`, and notebooks replay their recordings instead.
    """
    chosen = check_engine(engine.strip().lower()) if engine else engine_choice()
    if chosen == "recorded":
        raise EngineUnavailable(f"{ENGINE_VARIABLE}=recorded: nothing builds here", "notebooks replay recordings")
    if chosen == "docker":
        return DockerBuilder()
    if chosen == "embedded":
        return EmbeddedBuilder()
    try:
        return DockerBuilder()
    except EngineUnavailable as no_docker:
        try:
            return EmbeddedBuilder()
        except ToolMissing as no_tools:
            raise EngineUnavailable(
                f"nothing can build here: {no_docker.message}, and {no_tools.message}",
                f"start a Docker Engine, or {no_tools.hint}",
            ) from no_tools
