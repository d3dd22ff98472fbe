"""The plain data an image is made of: layers of tar entries, plus the config's history.

Nothing here reads or computes; :mod:`helpers.reading` fills these in and
:mod:`helpers.measuring.analysis` measures them.  Every value is frozen: an image
is never changed once it is read, and what is learnt later (its bases, where it
was read from) makes a new one, with :func:`dataclasses.replace`.
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


class Package(NamedTuple):
    """One installed package, as its package manager's database records it.

    ``installed_bytes`` is the manager's own figure: dpkg's ``Installed-Size``
    (KiB, times 1024) or apk's ``I:`` (bytes).
    """

    name: str
    version: str
    installed_bytes: int


@dataclass(frozen=True)
class PackageDatabase:
    """A package manager's database as one layer stores it (``var/lib/dpkg/status``, ``lib/apk/db/installed``).

    A layer that installs or removes packages rewrites the whole file, so each
    such layer holds the complete list as of that step.  ``packages`` is
    ``None`` when the file could not be read (``note`` says why: over a size
    limit, or unreadable).
    """

    manager: str
    path: str
    packages: list[Package] | None
    note: str = ""


@dataclass(frozen=True)
class Layer:
    """One filesystem diff, base first.

    ``index`` counts layers from 0 at the base.  ``step`` is the position of the
    history entry that made it (``None`` when the config has no history for it).
    ``blob_bytes`` is the size of the blob as stored; ``gzip_bytes``, when it
    was measured, is the size gzip gives an uncompressed blob (what a registry
    would store and a pull would move).  ``packages`` is the package database
    the layer writes, if any.
    """

    index: int
    entries: list[Entry]
    digest: str
    media_type: str
    created_by: str | None = None
    step: int | None = None
    blob_bytes: int = 0
    gzip_bytes: int | None = None
    packages: PackageDatabase | None = None

    @property
    def compressed(self) -> bool:
        """True when the blob itself is compressed (gzip, zstd or eStargz)."""
        return "gzip" in self.media_type or "zstd" in self.media_type

    @property
    def pull_bytes(self) -> int | None:
        """The compressed bytes a registry pull of this layer moves.

        ``pull_bytes = blob_bytes`` for a compressed blob, else ``gzip_bytes``
        (``None`` when that was not measured).
        """
        return self.blob_bytes if self.compressed else self.gzip_bytes


@dataclass(frozen=True)
class HistoryStep:
    """One entry of the config's ``history``: an instruction, with or without a layer."""

    step: int
    created_by: str | None
    empty_layer: bool
    layer: int | None


@dataclass(frozen=True)
class Source:
    """A source, parsed once: how to reach it (``transport``), where it is, and which image of it (``ref``).

    ``transport`` is ``path`` (an archive or a layout, by what is on disk), ``name`` (the Docker
    Engine, else the embedded builder's store), or one of skopeo's: ``docker-archive``,
    ``oci-archive``, ``oci`` or ``docker-daemon`` (see :mod:`helpers.reading.source`).
    """

    transport: str
    location: str
    ref: str | None = None

    def __str__(self) -> str:
        if self.transport == "name":
            return self.location
        place = self.location if self.transport == "path" else f"{self.transport}:{self.location}"
        return f"{place}:{self.ref}" if self.ref else place


@dataclass(frozen=True)
class Image:
    """An image as read from a source: its layers, its history and its config.

    ``bases`` is filled in by a build: the provenance of each base image its
    ``FROM`` lines used (see :func:`helpers.building.bases.describe`).
    """

    source: str
    format: str
    layers: list[Layer]
    history: list[HistoryStep] = field(default_factory=list)
    config: dict = field(default_factory=dict)
    tags: list[str] = field(default_factory=list)
    bases: list[dict] = field(default_factory=list)
    #: What built it, for a built image: a key of :data:`helpers.ground.settings.BUILDER_LABELS`
    #: (``docker`` is the classic builder, ``docker+buildkit`` BuildKit); ``None`` for an image only read.
    built_by: str | None = None
    #: Where it was read from, parsed (``None`` for a replayed recording); ``source`` is its text.
    origin: Source | None = field(default=None, compare=False)
