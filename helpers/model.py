"""The plain data an image is made of: layers of tar entries, plus the config's history.

Nothing here reads or computes; :mod:`helpers.archive` fills these in and
:mod:`helpers.analysis` measures them.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import NamedTuple

#: The kinds a layer entry can have.  ``whiteout`` (``.wh.NAME``) deletes NAME
#: from the layers below; ``opaque`` (``.wh..wh..opq``) hides everything the
#: layers below hold inside its directory; ``other`` is a device, a FIFO or
#: AUFS metadata.
KINDS = ("file", "dir", "symlink", "hardlink", "whiteout", "opaque", "other")

WHITEOUT_PREFIX = ".wh."
OPAQUE_MARKER = ".wh..wh..opq"
AUFS_META_PREFIX = ".wh..wh."


class Entry(NamedTuple):
    """One tar entry of a layer.

    ``path`` is normalised (no ``./``, no leading or trailing ``/``); ``mode``
    holds the permission bits only (``mode & 0o7777``); ``size`` is the tar
    header's size; ``link`` is a symlink's target as stored, or a hard link's
    target path, normalised.
    """

    path: str
    kind: str
    size: int
    mode: int
    uid: int
    gid: int
    link: str


@dataclass
class Layer:
    """One filesystem diff, base first.

    ``index`` counts layers from 0 at the base.  ``step`` is the position of the
    history entry that made it (``None`` when the config has no history for it).
    """

    index: int
    entries: list[Entry]
    digest: str
    media_type: str
    created_by: str | None = None
    step: int | None = None
    blob_bytes: int = 0


@dataclass
class HistoryStep:
    """One entry of the config's ``history``: an instruction, with or without a layer."""

    step: int
    created_by: str | None
    empty_layer: bool
    layer: int | None


@dataclass
class Image:
    """An image as read from a source: its layers, its history and its config."""

    source: str
    format: str
    layers: list[Layer]
    history: list[HistoryStep] = field(default_factory=list)
    config: dict = field(default_factory=dict)
    tags: list[str] = field(default_factory=list)
