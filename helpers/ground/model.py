"""The plain data an image is made of: layers of tar entries, plus the config's history.

Nothing here reads or computes; :mod:`helpers.reading` fills these in and
:mod:`helpers.measuring.analysis` measures them.  Every value is frozen: an image
is never changed once it is read, and what is learnt later (its bases, where it
was read from) makes a new one, with ``_replace``.

Each record is a :func:`collections.namedtuple` with its fields' types declared on it, not a
dataclass: importing :mod:`dataclasses` (with the :mod:`inspect`, :mod:`ast` and :mod:`dis` it
imports) and generating each class's methods cost a report more than a third of the interpreter's
own start-up here, and a report must start about as fast as Python does (``benchmarks/reader.py``,
start-up). :mod:`collections` is loaded before any program starts.
"""

from __future__ import annotations

from collections import namedtuple

#: The kinds a layer entry can have.  ``whiteout`` (``.wh.NAME``) deletes NAME
#: from the layers below; ``opaque`` (``.wh..wh..opq``) hides everything the
#: layers below hold inside its directory; ``other`` is a device, a FIFO or
#: AUFS metadata.
KINDS = ("file", "dir", "symlink", "hardlink", "whiteout", "opaque", "other")

WHITEOUT_PREFIX = ".wh."
OPAQUE_MARKER = ".wh..wh..opq"
AUFS_META_PREFIX = ".wh..wh."


class Entry(namedtuple("Entry", "path kind size mode uid gid link")):
    """One tar entry of a layer.

    ``path`` is normalised (no ``./``, no leading or trailing ``/``); ``mode``
    holds the permission bits only (``mode & 0o7777``); ``size`` is the tar
    header's size; ``link`` is a symlink's target as stored, or a hard link's
    target path, normalised.
    """

    __slots__ = ()
    path: str
    kind: str
    size: int
    mode: int
    uid: int
    gid: int
    link: str


class Package(namedtuple("Package", "name version installed_bytes")):
    """One installed package, as its package manager's database records it.

    ``installed_bytes`` is the manager's own figure: dpkg's ``Installed-Size``
    (KiB, times 1024) or apk's ``I:`` (bytes).
    """

    __slots__ = ()
    name: str
    version: str
    installed_bytes: int


class PackageDatabase(namedtuple("PackageDatabase", "manager path packages note", defaults=("",))):
    """A package manager's database as one layer stores it (``var/lib/dpkg/status``, ``lib/apk/db/installed``).

    A layer that installs or removes packages rewrites the whole file, so each
    such layer holds the complete list as of that step.  ``packages`` is
    ``None`` when the file could not be read (``note`` says why: over a size
    limit, or unreadable).
    """

    __slots__ = ()
    manager: str
    path: str
    packages: list[Package] | None
    note: str


class Layer(namedtuple("Layer", "index entries digest media_type created_by step blob_bytes gzip_bytes packages",
                       defaults=(None, None, 0, None, None))):
    """One filesystem diff, base first.

    ``index`` counts layers from 0 at the base.  ``step`` is the position of the
    history entry that made it (``None`` when the config has no history for it).
    ``blob_bytes`` is the size of the blob as stored; ``gzip_bytes``, when it
    was measured, is the size gzip gives an uncompressed blob (what a registry
    would store and a pull would move).  ``packages`` is the package database
    the layer writes, if any.
    """

    __slots__ = ()
    index: int  # type: ignore[assignment]  # a field, though tuples have an index() method
    entries: list[Entry]
    digest: str
    media_type: str
    created_by: str | None
    step: int | None
    blob_bytes: int
    gzip_bytes: int | None
    packages: PackageDatabase | None

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


class HistoryStep(namedtuple("HistoryStep", "step created_by empty_layer layer")):
    """One entry of the config's ``history``: an instruction, with or without a layer."""

    __slots__ = ()
    step: int
    created_by: str | None
    empty_layer: bool
    layer: int | None


class Source(namedtuple("Source", "transport location ref", defaults=(None,))):
    """A source, parsed once: how to reach it (``transport``), where it is, and which image of it (``ref``).

    ``transport`` is ``path`` (an archive or a layout, by what is on disk), ``name`` (the Docker
    Engine, else the embedded builder's store), or one of skopeo's: ``docker-archive``,
    ``oci-archive``, ``oci`` or ``docker-daemon`` (see :mod:`helpers.reading.source`).
    """

    __slots__ = ()
    transport: str
    location: str
    ref: str | None

    def __str__(self) -> str:
        if self.transport == "name":
            return self.location
        place = self.location if self.transport == "path" else f"{self.transport}:{self.location}"
        return f"{place}:{self.ref}" if self.ref else place


class Image(namedtuple("Image", "source format layers history config tags bases built_by origin")):
    """An image as read from a source: its layers, its history and its config.

    ``bases`` is filled in by a build: the provenance of each base image its
    ``FROM`` lines used (see :func:`helpers.building.bases.describe`).  ``built_by`` is what
    built it, for a built image: a key of :data:`helpers.ground.settings.BUILDER_LABELS`
    (``docker`` is the classic builder, ``docker+buildkit`` BuildKit); ``None`` for an image only
    read.  ``origin`` is where it was read from, parsed (``None`` for a replayed recording);
    ``source`` is its text.
    """

    __slots__ = ()
    source: str
    format: str
    layers: list[Layer]
    history: list[HistoryStep]
    config: dict
    tags: list[str]
    bases: list[dict]
    built_by: str | None
    origin: Source | None

    def __new__(cls, source: str, format: str, layers: list[Layer], history: list[HistoryStep] | None = None,
                config: dict | None = None, tags: list[str] | None = None, bases: list[dict] | None = None,
                built_by: str | None = None, origin: Source | None = None) -> Image:
        """Each list or dict left out is a new empty one."""
        return super().__new__(cls, source, format, layers, [] if history is None else history,
                               {} if config is None else config, [] if tags is None else tags,
                               [] if bases is None else bases, built_by, origin)
