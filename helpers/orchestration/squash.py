"""Squash an image's layers: with docker-squash (from PyPI) through the Docker Engine, or with the embedded builder.

Squashing merges layers into one, so files deleted in a later layer are gone
for good.  What it costs: a squashed layer is new, so it shares nothing with
the base image other images use; squashing *from the base* keeps the base
layer shared and merges only what came after.

The two ways give the same files in the same layers.  They differ in what they
keep: docker-squash keeps the image's config, drops the squashed steps from its
history and gives the new layer an entry that names no instruction; the embedded
builder (:meth:`helpers.building.embedded.EmbeddedBuilder.squash`)
commits the difference between the base and the image's final filesystem,
with the base's config and one history entry.
"""

from __future__ import annotations

from ..building.selection import select_builder
from ..ground.settings import Settings
from ..measuring.analysis import Analysis, analyze


def squash(image: str, tag: str, from_layer: str | None = None, engine: str | None = None,
           measure_pull: bool = False, *, settings: Settings) -> Analysis:
    """Squash ``image`` into ``tag``, then analyse it: all layers, or those after the base image ``from_layer``.

    ``engine`` is ``docker`` (docker-squash) or ``embedded``; by default the builder
    :func:`helpers.building.selection.select_builder` picks.  With the embedded builder,
    ``image`` is a built image's ``source`` (``LAYOUT:TAG``) or its name.  ``measure_pull``
    also measures what a pull of each layer moves (see :func:`helpers.orchestration.builds.build`).
    """
    builder = select_builder(engine, settings=settings)
    return analyze(builder.read(builder.squash(image, tag, onto=from_layer), measure_pull))
