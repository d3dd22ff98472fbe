"""The image-level figures, each defined exactly.

All of them count *uncompressed regular-file bytes* (the ``size`` of tar
entries of type file).  Directories, symlinks, hard links and whiteouts add
no bytes.  They do not depend on how the image is stored: a legacy archive,
an OCI layout, gzip or zstd layers of the same image give the same figures.
"""

from __future__ import annotations

from ..ground.model import Layer
from . import overlay_core
from .merge import MergeResult
from .overlay_core import NAMES, compiled_for


def file_bytes(layer: Layer) -> int:
    """``Σ_{regular-file entries e of the layer} e.size``."""
    if compiled_for(layer.entries):
        return overlay_core.CORE.totals(layer.entries, NAMES)[0]  # type: ignore[union-attr]
    return sum(entry.size for entry in layer.entries if entry.kind == "file")


def stored_bytes(layers: list[Layer]) -> int:
    """``stored_bytes = Σ_layers Σ_{regular-file entries e} e.size``: every byte the layers ship."""
    return sum(file_bytes(layer) for layer in layers)


def final_bytes(merged: MergeResult) -> int:
    """``final_bytes = Σ_{inodes visible after merging} size``.

    Visible after applying whiteouts, opaque directories and shadowing (see
    :mod:`helpers.measuring.merge`); a hard-linked file counts once, and stays visible
    while any of its names does.
    """
    if overlay_core.CORE is not None and type(merged.visible) is dict and type(merged.inode_size) is list:
        return overlay_core.CORE.visible_bytes(merged.visible, merged.inode_size)  # type: ignore[attr-defined]
    return sum(merged.inode_size[inode] for inode in merged.visible_inodes)


def reclaimable_bytes(stored: int, final: int) -> int:
    """``reclaimable_bytes = stored_bytes - final_bytes``: shipped but invisible to any container."""
    return stored - final


def efficiency(final: int, stored: int) -> float:
    """``efficiency = final_bytes / stored_bytes`` (1.0 for an image that stores no file bytes)."""
    return 1.0 if stored == 0 else final / stored
