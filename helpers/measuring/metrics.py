"""The image-level figures, each defined exactly.

All of them count *uncompressed regular-file bytes* (the ``size`` of tar
entries of type file).  Directories, symlinks, hard links and whiteouts add
no bytes.  They do not depend on how the image is stored: a legacy archive,
an OCI layout, gzip or zstd layers of the same image give the same figures.
"""

from __future__ import annotations

from ..ground.model import Layer
from .merge import MergeResult


def stored_bytes(layers: list[Layer]) -> int:
    """``stored_bytes = Σ_layers Σ_{regular-file entries e} e.size``: every byte the layers ship."""
    return sum(entry.size for layer in layers for entry in layer.entries if entry.kind == "file")


def final_bytes(merged: MergeResult) -> int:
    """``final_bytes = Σ_{inodes visible after merging} size``.

    Visible after applying whiteouts, opaque directories and shadowing (see
    :mod:`helpers.measuring.merge`); a hard-linked file counts once, and stays visible
    while any of its names does.
    """
    return sum(merged.inode_size[inode] for inode in merged.visible_inodes)


def reclaimable_bytes(stored: int, final: int) -> int:
    """``reclaimable_bytes = stored_bytes - final_bytes``: shipped but invisible to any container."""
    return stored - final


def efficiency(final: int, stored: int) -> float:
    """``efficiency = final_bytes / stored_bytes`` (1.0 for an image that stores no file bytes)."""
    return 1.0 if stored == 0 else final / stored
