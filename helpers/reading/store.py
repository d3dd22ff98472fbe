"""The embedded store backend: an image the embedded builder tagged, read from its store's OCI layout.

The store is an OCI layout like any other (:mod:`helpers.reading.oci_layout`);
what is particular is how a name maps to its tags: as built (tagged or not), or
as a base image the builder imported (``base-…``).
"""

from __future__ import annotations

from ..ground.model import Image, Source
from ..ground.settings import Settings
from .files import read_path
from .oci_documents import RefNotFound


def with_tag(name: str) -> str:
    """``name`` with Docker's default tag: ``layerlab/multi-run`` → ``layerlab/multi-run:latest``."""
    last = name.rpartition("/")[2]
    return name if ":" in last or "@" in last else f"{name}:latest"


def read_from_store(name: str, settings: Settings) -> Image | None:
    """The image the embedded builder tagged ``name`` in its store (a build, or a base), or ``None``."""
    layout = settings.store / "oci"
    if not (layout / "index.json").is_file():
        return None
    bare = name.removesuffix(":latest")
    from ..ground.references import slug_tag  # an image reference's grammar: a report of a file never needs it

    for tag in dict.fromkeys([slug_tag(with_tag(name)), slug_tag(bare), f"base-{slug_tag(name)}"]):
        if not tag:
            continue
        try:
            image = read_path(layout, ref=tag, verify=settings.verify, limits=settings.limits)
        except RefNotFound:
            continue
        origin = Source("path", str(layout), tag)
        return image._replace(source=str(origin), origin=origin)
    return None
