"""Squash an image's layers: with docker-squash (from PyPI) through the Docker Engine, or with the embedded builder.

Squashing merges layers into one, so files deleted in a later layer are gone
for good.  What it costs: a squashed layer is new, so it shares nothing with
the base image other images use; squashing *from the base* keeps the base
layer shared and merges only what came after.

The two ways give the same files in the same layers.  They differ in what they
keep: docker-squash keeps the image's config and marks the squashed steps in
its history; the embedded builder (:meth:`helpers.building.embedded.EmbeddedBuilder.squash`)
commits the difference between the base and the image's final filesystem,
with the base's config and one history entry.
"""

from __future__ import annotations

import subprocess
from dataclasses import replace
from pathlib import Path

from ..building.embedded import EmbeddedBuilder
from ..building.engine import docker_client
from ..ground.commands import python_tool
from ..ground.errors import LayerLabError
from ..ground.references import slug_tag
from ..measuring.analysis import Analysis, analyze
from ..reading.archive import read_path
from .builds import select_engine
from .sources import read_image


def _docker_squash() -> str:
    return python_tool("docker-squash", "docker-squash")


def squash(image: str, tag: str, from_layer: str | None = None, engine: str | None = None) -> Analysis:
    """Squash ``image`` into ``tag``, then analyse it: all layers, or those after the base image ``from_layer``.

    ``engine`` is ``docker`` (docker-squash) or ``embedded``; by default the one
    :func:`helpers.orchestration.builds.select_engine` picks.  With the embedded builder,
    ``image`` is a built image's ``source`` (``LAYOUT:TAG``) or its name.
    """
    if select_engine(engine) == "embedded":
        return _squash_embedded(image, tag, from_layer)
    docker_client()  # one clear error when no engine answers
    command = [_docker_squash(), "-t", tag, image]
    if from_layer is not None:
        command[1:1] = ["-f", from_layer]
    done = subprocess.run(command, capture_output=True, text=True, timeout=600)
    if done.returncode != 0:
        last = [line for line in (done.stderr or done.stdout).splitlines() if line.strip()][-1:] or ["no output"]
        raise LayerLabError(f"docker-squash could not squash {image}: {last[0]}", "check that the image exists")
    return analyze(read_image(tag))


def _squash_embedded(image: str, tag: str, from_layer: str | None) -> Analysis:
    builder = EmbeddedBuilder()
    layout, _, stored = str(image).rpartition(":")
    if not (layout and Path(layout) == builder.layout):
        stored = slug_tag(image)
    new = builder.squash(stored, slug_tag(tag), onto=from_layer)
    return analyze(replace(read_path(builder.layout, ref=new), source=f"{builder.layout}:{new}"))
