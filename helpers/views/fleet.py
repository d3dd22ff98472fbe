"""Many images on one machine: what the engine stores and what pulls move, when layers are shared.

One image per service multiplies the cost of its base, unless the images
share that base's layers: an engine stores a layer once, however many images
use it, and a registry pull skips the layers a machine already has.  These
figures count that sharing exactly, from the layers' digests (two layers are
the same layer when their digests are equal).

For a fleet of images (a mapping of names to analyses, in the order they
arrive on the machine):

* ``images_bytes = Σ_images stored_bytes``: what adding up each image's size says;
* ``stored_bytes = Σ_{distinct layers} stored_bytes(layer)``: what the engine keeps;
* ``pulled_bytes = Σ_{distinct layers} pull_bytes(layer)``: what pulling every image
  moves, each layer fetched once (compressed: see :attr:`helpers.ground.model.Layer.pull_bytes`);
  ``None`` when some layer's compressed size was not measured.
"""

from __future__ import annotations

from collections.abc import Mapping

import pandas as pd

from ..ground.errors import LayerLabError
from ..measuring.analysis import Analysis

#: Columns of :func:`fleet_growth`.
GROWTH_COLUMNS = ["fleet", "services", "images_bytes", "stored_bytes", "pulled_bytes", "shared_layers"]


def _layer_bytes(analysis: Analysis) -> list[tuple[str, int, int | None]]:
    """``(digest, stored bytes, pull bytes)`` of each layer."""
    return [(layer.digest, stored, layer.pull_bytes)
            for layer, (stored, _reclaimable) in zip(analysis.image.layers, analysis.layer_bytes, strict=True)]


def fleet_figures(images: Mapping[str, Analysis]) -> dict[str, int | None]:
    """The module's three figures for one fleet, plus ``images`` (how many) and ``layers`` (distinct ones)."""
    seen: dict[str, tuple[int, int | None]] = {}
    images_bytes = 0
    for analysis in images.values():
        images_bytes += analysis.stored_bytes
        for digest, stored, pulled in _layer_bytes(analysis):
            seen.setdefault(digest, (stored, pulled))
    pulls = [pulled for _stored, pulled in seen.values()]
    return {
        "images": len(images),
        "layers": len(seen),
        "images_bytes": images_bytes,
        "stored_bytes": sum(stored for stored, _pulled in seen.values()),
        "pulled_bytes": None if any(p is None for p in pulls) else sum(pulls),  # type: ignore[misc]
    }


def fleet_growth(fleets: Mapping[str, Mapping[str, Analysis]]) -> pd.DataFrame:
    """How each fleet's figures grow as its services arrive one by one.

    One row per fleet and per ``services = 1 … n``: the figures of
    :func:`fleet_figures` for the first ``services`` images of that fleet, and
    ``shared_layers``, how many of their distinct layers more than one of them
    uses.  Fleets are keyed by name (``"debian"``, ``"debian, squashed"``…).
    """
    if not fleets or not all(fleets.values()):
        raise LayerLabError("a fleet needs at least one image", "pass {fleet name: {image name: analysis, …}, …}")
    rows = []
    for fleet, images in fleets.items():
        names = list(images)
        uses: dict[str, int] = {}
        for count, name in enumerate(names, start=1):
            for digest in dict.fromkeys(layer.digest for layer in images[name].image.layers):
                uses[digest] = uses.get(digest, 0) + 1
            figures = fleet_figures({n: images[n] for n in names[:count]})
            rows.append([fleet, count, figures["images_bytes"], figures["stored_bytes"], figures["pulled_bytes"],
                         sum(1 for n in uses.values() if n > 1)])
    table = pd.DataFrame(rows, columns=GROWTH_COLUMNS)
    return table.astype({"services": "int64", "images_bytes": "int64", "stored_bytes": "int64",
                         "pulled_bytes": "Int64", "shared_layers": "int64"})
