"""Read one layer blob: hash it, decompress it, and list its tar entries, in one pass.

A blob is read at most once, front to back, and nothing is extracted: only
tar headers are parsed (:mod:`helpers.reading.tar_headers`) and file contents are
stepped over.  Compression is detected from the first bytes (gzip ``1f8b``,
zstd ``28b52ffd``, otherwise a plain tar), so a layer reads the same whatever
its media type claims.

Two ways in:

* :func:`scan_layer` reads a stream (an engine's ``save`` output, a member of
  a tar being streamed).  Every byte passes, so the blob is always hashed.
* :func:`scan_blob_range` reads a blob that sits in a file (an archive on
  disk, an OCI layout).  A compressed blob is read whole, hashed and
  decompressed; an uncompressed one is read header by header, *seeking past
  file contents*, so its digest is only checked when ``verify`` is true (that
  reads every byte).

Memory stays bounded whatever the blob holds: raw bytes are read
:data:`RAW_CHUNK` at a time and decompressed at most :data:`OUT_CHUNK` at a
time, so a decompression bomb costs time, not memory, and stops at the
``expanded_bytes`` ceiling of the :class:`~helpers.ground.limits.Limits` it is
given.  The only contents ever kept are the
package databases (:data:`helpers.reading.packages.DATABASES`), each up to
:data:`helpers.reading.packages.MAX_DATABASE_BYTES` and at most
:data:`MAX_DOCUMENT_BYTES` for a whole image.

On a stream, :func:`scan_layer` can also measure what gzip makes of an
uncompressed blob (``gzip_level``): the bytes a registry would store for it.
"""


from __future__ import annotations

import os
from collections.abc import Callable

from ..ground.errors import ArchiveError, MalformedTar
from ..ground.model import Entry
from .compiled_scan import scan_file_range
from .decompression import gzip_chunks, stream_errors, zstd_chunks
from .packages import DATABASES, MAX_DATABASE_BYTES
from .raw_bytes import RAW_CHUNK, FileRangeFeed, HeadFirst, RawReader, StreamFeed, range_reader, sniff_compression
from .scan_budget import EntryBudget
from .tar_headers import MODES, iter_entries

TYPE_CHECKING = False  # typing's own flag would import typing, which a report does not need
if TYPE_CHECKING:
    from typing import BinaryIO


class ScannedLayer:
    """What one pass over a layer blob gives: its entries, digest and compression.

    ``digest`` is ``None`` when the blob was not hashed (an uncompressed blob
    in a file, read without ``verify``).  ``prepared`` is what a consumer's
    ``prepare`` made of the entries on the reading thread (see
    :class:`helpers.reading.blob_store.LayerConsumer`).  ``documents`` holds the package
    databases found (``None`` for one too big to keep); ``gzip_bytes`` what
    gzip made of an uncompressed blob, when that was asked for.
    """

    __slots__ = ("entries", "digest", "compression", "blob_bytes", "prepared", "documents", "gzip_bytes")

    def __init__(self, entries: list[Entry], digest: str | None, compression: str, blob_bytes: int,
                 prepared: object = None, documents: dict[str, bytes | None] | None = None,
                 gzip_bytes: int | None = None) -> None:
        self.entries = entries
        self.digest = digest
        self.compression = compression
        self.blob_bytes = blob_bytes
        self.prepared = prepared
        self.documents = {} if documents is None else documents
        self.gzip_bytes = gzip_bytes


class _Documents:
    """Keeps the package databases met while scanning one layer, within the image's budget."""

    paths = frozenset(DATABASES)

    def __init__(self, budget: EntryBudget) -> None:
        self._budget = budget
        self.kept: dict[str, bytes | None] = {}

    def wants(self, path: str, size: int) -> bool:
        return 0 <= size <= MAX_DATABASE_BYTES and self._budget.take_document(size)

    def put(self, path: str, data: bytes | None) -> None:
        self.kept[path] = data


def _collect(feed, name: str, budget: EntryBudget) -> tuple[list[Entry], dict[str, bytes | None]]:
    entries: list[Entry] = []
    documents = _Documents(budget)
    counted = 0
    for entry in iter_entries(feed, f"layer {name}", documents, budget.metadata):
        entries.append(entry)
        if len(entries) - counted >= 4096:
            budget.take_entries(len(entries) - counted, name)
            counted = len(entries)
    budget.take_entries(len(entries) - counted, name)
    return entries, documents.kept


def _scan_raw(
    raw: RawReader, head: bytes, name: str, budget: EntryBudget
) -> tuple[list[Entry], dict[str, bytes | None], str]:
    compression = sniff_compression(head)
    source = HeadFirst(raw, head)
    try:
        if compression == "none":
            entries, documents = _collect(StreamFeed(source.read), name, budget)
        else:
            pull = (gzip_chunks if compression == "gzip" else zstd_chunks)(source, budget, name)
            entries, documents = _collect(StreamFeed(pull), name, budget)
            while pull():  # the rest of the stream: end-of-archive padding, trailing frames, the gzip trailer
                pass
        raw.drain()
    except stream_errors() as exc:
        kind = "tar" if compression == "none" else compression + " tar"
        raise ArchiveError(
            f"layer {name} is not a readable {kind} stream: {exc}",
            "the archive is truncated or corrupt; save or download it again",
        ) from exc
    return entries, documents, compression


def _scan_hashed(
    read: Callable[[int], bytes], name: str, budget: EntryBudget, gzip_level: int | None = None
) -> ScannedLayer:
    """Every raw byte read once and hashed; the compression sniffed from the first chunk."""
    raw = RawReader(read)
    head = raw.read(RAW_CHUNK)
    if gzip_level is not None and sniff_compression(head) == "none":
        raw.measure_gzip(gzip_level, head)
    entries, documents, compression = _scan_raw(raw, head, name, budget)
    return ScannedLayer(entries, "sha256:" + raw.sha256.hexdigest(), compression, raw.count,
                        documents=documents, gzip_bytes=raw.gzip_bytes())


def scan_layer(
    blob: BinaryIO, name: str = "layer", budget: EntryBudget | None = None, gzip_level: int | None = None
) -> ScannedLayer:
    """Read a layer blob from a stream once; return its entries and the sha256 of its raw bytes.

    ``name`` only labels errors.  Raises :class:`ArchiveError` on a truncated or
    corrupt stream, or past a ceiling of ``budget`` (default: a fresh one).
    With ``gzip_level`` (1–9), an uncompressed blob is also gzip-compressed as
    it passes, and :attr:`ScannedLayer.gzip_bytes` is the size that gives (a
    compressed blob is not compressed again: its own size is what a registry
    stores).
    """
    return _scan_hashed(blob.read, name, budget or EntryBudget(), gzip_level)


def _compiled(fd: int, start: int, length: int, name: str, budget: EntryBudget) -> ScannedLayer | None:
    """The layer as the compiled scan reads it (:mod:`helpers.reading.compiled_scan`), or ``None`` if it declines."""
    found = scan_file_range(fd, start, length, budget.entries_left(), budget.metadata, _Documents.paths, MODES)
    if found is None:
        return None
    entries, asked = found
    documents = _Documents(budget)
    for path, offset, stored in asked:  # in the order the Python reader meets them, so the budget ends alike
        if documents.wants(path, stored):
            data = os.pread(fd, stored, offset)
            if len(data) < stored:
                raise MalformedTar(f"layer {name} ends inside the data of `{path}` ({stored:,} bytes declared)",
                                   "the archive is truncated, or a header declares an absurd size")
            documents.put(path, data)
        else:
            documents.put(path, None)
    budget.take_entries(len(entries), name)
    return ScannedLayer(entries, None, "none", length, documents=documents.kept)


def scan_blob_range(
    fd: int, start: int, length: int, name: str, budget: EntryBudget | None = None, verify: bool = False
) -> ScannedLayer:
    """Read the layer blob at ``start`` (``length`` bytes) of the open file ``fd``.

    Compressed: read once, hashed and decompressed.  Uncompressed: only headers
    are read, contents are seeked past, and nothing is hashed unless ``verify``
    asks for a full, hashed read.  Safe to
    call from several threads at once on the same ``fd`` (it uses ``pread``).
    """
    budget = budget or EntryBudget()
    try:
        head = os.pread(fd, 4, start) if length >= 4 else b""
    except OSError as exc:
        raise ArchiveError(f"layer {name} cannot be read: {exc}", "check the file") from exc
    if sniff_compression(head) == "none" and not verify:
        try:
            compiled = _compiled(fd, start, length, name, budget)
            if compiled is not None:
                return compiled
            entries, documents = _collect(FileRangeFeed(fd, start, length), name, budget)
        except OSError as exc:
            raise ArchiveError(f"layer {name} cannot be read: {exc}", "check the file") from exc
        return ScannedLayer(entries, None, "none", length, documents=documents)
    return _scan_hashed(range_reader(fd, start, length), name, budget)
