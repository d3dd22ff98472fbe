"""One entry point for every kind of source: a path if it exists, else an image in the engine."""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING

from .errors import ArchiveError
from .model import Image

if TYPE_CHECKING:
    from .archive import LayerConsumer


def read_image(
    source: str | os.PathLike, platform: str | None = None, ref: str | None = None, verify: bool | None = None,
    on_layer: LayerConsumer | None = None,
) -> Image:
    """Read ``source``: an archive file, an OCI layout directory, or an image name or ID in the engine.

    ``verify`` hashes uncompressed layers on disk too (see :func:`helpers.archive.read_path`); an
    image read from the engine, or any compressed layer, is always hashed.

    ``LAYOUT:REF`` (an OCI layout directory, a colon, a tag) picks one image of a
    layout that holds several, as skopeo's ``oci:`` transport does.
    """
    from .archive import read_path

    path = Path(source)
    if ref is None and not path.exists() and ":" in str(source):
        layout, _, tag = str(source).rpartition(":")
        if layout and Path(layout, "index.json").is_file():
            path, ref = Path(layout), tag
    if path.exists():
        if not (path.is_file() or path.is_dir()):
            raise ArchiveError(f"{path} is neither a regular file nor a directory", "pass an archive or a layout")
        try:
            image = read_path(path, platform, ref, verify, on_layer)
            if ref is not None:
                image.source = f"{path}:{ref}"
            return image
        except PermissionError as exc:
            raise ArchiveError(f"cannot read {path}: permission denied", "check its permissions") from exc
    from .engine import read_engine_image

    return read_engine_image(str(source))


def save_stream(source: str):
    """An image as a ``docker save`` archive stream: from the Docker Engine, or (``LAYOUT:TAG``) the embedded store.

    Built images name their source (``analysis.image.source``), so
    ``save_stream(analysis.image.source)`` works whichever engine built it.
    """
    layout, _, tag = str(source).rpartition(":")
    if layout and Path(layout, "index.json").is_file():
        from .embedded import EmbeddedBuilder

        return EmbeddedBuilder(Path(layout).parent).save_stream(tag)
    from .engine import save_stream as engine_save_stream

    return engine_save_stream(str(source))
