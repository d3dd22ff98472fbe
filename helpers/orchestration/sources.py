"""A source, read and measured at once, or saved as a ``docker save`` stream, whichever engine holds it.

Reading lives in :mod:`helpers.reading` (:func:`~helpers.reading.images.read_image`);
this module joins it to measuring (:func:`analyze_source`) and to the builders'
stores (:func:`save_stream`).
"""

from __future__ import annotations

from pathlib import Path

from ..ground.errors import SourceNotFound
from ..ground.model import Source
from ..ground.settings import Settings
from ..measuring.analysis import Analysis, MergeAndScore, analyze
from ..reading.images import read_image
from ..reading.source import TRANSPORTS, parse_source, there

__all__ = ["analyze_source", "read_image", "save_stream"]


def save_stream(source: str | Source, *, settings: Settings):
    """An image as a ``docker save`` archive stream: from the Docker Engine, or (``LAYOUT:TAG``) the embedded store.

    Built images name their source (``analysis.image.source``, parsed as ``analysis.image.origin``),
    so ``save_stream(analysis.image.origin)`` works whichever engine built it.  A layout is only
    read: no store is made beside it.
    """
    parsed = source if isinstance(source, Source) else parse_source(source)
    if parsed.transport in ("oci", "path") and there(Path(parsed.location, "index.json"), "is_file"):
        from ..building.oci_store import layout_save_stream  # loaded when a layout's image is first saved

        if not parsed.ref:
            raise SourceNotFound(f"{parsed} names a layout but not which image of it",
                                 f"write {TRANSPORTS['oci']}")
        return layout_save_stream(Path(parsed.location), parsed.ref)
    from ..reading.daemon import save_stream as engine_save_stream  # the Docker SDK, loaded on first use

    return engine_save_stream(parsed.location if parsed.transport == "docker-daemon" else str(parsed))


def analyze_source(source: str, platform: str | None = None, verify: bool | None = None,
                   *, settings: Settings) -> Analysis:
    """Read and analyse ``source`` at once: each layer is merged and scored as soon as it is read.

    The same result as ``analyze(read_image(source))``, sooner: while the
    reader's threads decompress later layers, this thread merges the earlier
    ones.  (An image read from an engine arrives whole, and is analysed then.)
    """
    consumer = MergeAndScore()
    image = read_image(source, platform=platform, verify=verify, on_layer=consumer, settings=settings)
    overlay, score = consumer.overlay, consumer.score
    if len(score.layers) != len(image.layers):
        return analyze(image)
    analysis = Analysis(image, overlay.result)
    analysis.__dict__["_dive"] = score.figures()  # fills the cached property
    return analysis
