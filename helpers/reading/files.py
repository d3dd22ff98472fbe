"""Reading an image from a file, a folder or a stream: the backend is chosen by what is there.

* a ``docker save`` archive, legacy (``manifest.json`` + ``<id>/layer.tar``) or
  Engine 25+ (an OCI layout plus ``manifest.json``), or any tar with the same
  shape (kaniko's, for example), plain or compressed whole (``docker save | gzip``);
* an OCI image layout, as a tar or as a folder, with plain, gzip, zstd or
  eStargz layers, and nested or multi-platform indexes;
* any binary stream of such a tar (:func:`read_archive_stream`), which is how
  :mod:`helpers.reading.daemon` reads an image straight out of a running engine.

Every layer is read once, and nothing is ever written to disk.
"""

from __future__ import annotations

import os
from pathlib import Path

from ..ground.limits import DEFAULT_LIMITS, Limits
from ..ground.model import Image
from .assemble import resolve_image
from .raw_bytes import sniff_compression
from .scan_budget import EntryBudget
from .tar_archives import IndexedArchive, StreamedArchive

TYPE_CHECKING = False  # typing's own flag would import typing, which a report does not need
if TYPE_CHECKING:
    from typing import BinaryIO

    from .blob_store import LayerConsumer
    from .gzip_sizes import GzipSizes


def read_archive_stream(
    stream: BinaryIO, source: str, platform: str | None = None, gzip_level: int | None = None,
    limits: Limits = DEFAULT_LIMITS, gzip_sizes: GzipSizes | None = None, layers: frozenset[str] = frozenset(),
) -> Image:
    """Read an image from a tar stream (a file, or an engine's ``save`` output) in one pass.

    ``gzip_level`` also measures what gzip makes of each uncompressed layer
    (:attr:`helpers.ground.model.Layer.gzip_bytes`), in the same pass, except the layers
    ``gzip_sizes`` already knows, of the diff IDs ``layers`` names (see :mod:`helpers.reading.gzip_sizes`).
    """
    archive = StreamedArchive(stream, source, gzip_level, limits=limits, gzip_sizes=gzip_sizes, layers=layers)
    return resolve_image(archive, source, "tar", platform, limits=limits)


def read_path(
    path: str | os.PathLike, platform: str | None = None, ref: str | None = None, verify: bool = False,
    on_layer: LayerConsumer | None = None, limits: Limits = DEFAULT_LIMITS,
) -> Image:
    """Read an image from an archive file or a layout directory (``ref`` picks a tagged image of a layout).

    ``verify`` also hashes uncompressed layers, which means reading every byte
    instead of seeking past file contents (``LAYERLAB_VERIFY``; default off);
    compressed layers are always hashed.  ``on_layer``: see :func:`resolve_image`.
    """
    path = Path(path)
    if path.is_dir():
        from .oci_layout import LayoutDirectory  # each backend is loaded when a source needs it

        with LayoutDirectory(path, verify, limits) as layout:
            return resolve_image(layout, str(path), "directory", platform, ref, on_layer, limits)
    compression = _outer_compression(path)
    if compression != "none":  # ``docker save | gzip``: read in one pass through the decompressor
        from .decompression import DecompressedStream

        with path.open("rb") as file:
            stream = DecompressedStream(file.read, b"", compression, str(path), EntryBudget(limits))
            store = StreamedArchive(stream, str(path), limits=limits)  # type: ignore[arg-type]
        return resolve_image(store, str(path), "tar", platform, ref, on_layer, limits)
    with IndexedArchive(path, verify, limits) as archive:
        return resolve_image(archive, str(path), "tar", platform, ref, on_layer, limits)


def _outer_compression(path: Path) -> str:
    """``gzip`` or ``zstd`` when the archive file itself is compressed, else ``none`` (unreadable: ``none``)."""
    try:
        with path.open("rb") as file:
            return sniff_compression(file.read(4))
    except OSError:
        return "none"  # the archive reader names the problem
