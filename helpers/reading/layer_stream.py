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

import hashlib
import os
import sys
import threading
import zlib
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import BinaryIO

from ..ground.errors import ArchiveError
from ..ground.limits import DEFAULT_LIMITS, MAX_ENTRIES, MAX_EXPANDED_BYTES, Limits
from ..ground.model import Entry
from .packages import DATABASES, MAX_DATABASE_BYTES
from .tar_headers import iter_entries, normalize_path

__all__ = [
    "DecompressedStream", "EntryBudget", "ScannedLayer", "looks_like_tar",
    "normalize_path", "scan_blob_range", "scan_layer", "sniff_compression",
]

GZIP_MAGIC = b"\x1f\x8b"
ZSTD_MAGIC = b"\x28\xb5\x2f\xfd"
#: Raw bytes read at a time.
RAW_CHUNK = 1 << 20
#: Decompressed bytes produced at a time: the most a bomb can make us hold.
OUT_CHUNK = 4 << 20
#: Bytes read around headers when seeking through an uncompressed blob.
SEEK_CHUNK = 64 << 10


def sniff_compression(head: bytes) -> str:
    """Name the compression of a blob from its first bytes: ``gzip``, ``zstd`` or ``none``."""
    if head.startswith(GZIP_MAGIC):
        return "gzip"
    if head.startswith(ZSTD_MAGIC):
        return "zstd"
    return "none"


def looks_like_tar(head: bytes) -> bool:
    """True when ``head`` (the first 512 bytes) is a POSIX tar header or an empty tar's zero block."""
    if len(head) >= 262 and head[257:262] == b"ustar":
        return True
    return len(head) >= 512 and not any(head[:512])


# ---------------------------------------------------------------- ceilings

#: The most tar entries one image may hold (``LAYERLAB_MAX_ENTRIES``).  A report costs about
#: 500 bytes an entry at its peak (the entries, the merged tree, dive's per-path figures), so
#: at this default a report stays under 150 MB of memory (``benchmarks/reader.py`` measures it).
DEFAULT_MAX_ENTRIES = MAX_ENTRIES.default
#: The most decompressed bytes one image may expand to (``LAYERLAB_MAX_EXPANDED_BYTES``): 64 GiB.
DEFAULT_MAX_EXPANDED_BYTES = MAX_EXPANDED_BYTES.default
#: The most bytes of package databases kept for one image, all layers together.
MAX_DOCUMENT_BYTES = 64 << 20


class ScanStopped(ArchiveError):
    """A layer's scan stopped because the read it belongs to was abandoned (an interrupt, or an error elsewhere)."""


class EntryBudget:
    """The ceilings shared by every layer of one image, from ``limits`` (default: the documented ones; thread-safe).

    Entries and expanded bytes are counted for the whole image; ``metadata`` is
    the ceiling of pax and GNU long-name bytes before any one entry.
    """

    def __init__(self, limits: Limits = DEFAULT_LIMITS) -> None:
        self.entries = limits.entries
        self.expanded = limits.expanded_bytes
        self.metadata = limits.metadata_bytes
        self._ceiling_entries = self.entries
        self._ceiling_expanded = self.expanded
        self.documents = MAX_DOCUMENT_BYTES
        self._lock = threading.Lock()
        self._stopped = False

    def stop(self) -> None:
        """Make every scan that shares this budget stop at its next chunk or batch (the read was abandoned)."""
        self._stopped = True

    def _check_stopped(self) -> None:
        if self._stopped:
            raise ScanStopped("the read was abandoned", "nothing to do: another error, or an interrupt, came first")

    def take_document(self, n: int) -> bool:
        """Reserve ``n`` bytes for a kept document; False (and nothing reserved) past the image's budget."""
        with self._lock:
            if n > self.documents:
                return False
            self.documents -= n
            return True

    def take_entries(self, n: int, name: str) -> None:
        self._check_stopped()
        with self._lock:
            self.entries -= n
            if self.entries < 0:
                raise ArchiveError(
                    f"layer {name} takes the image past the ceiling of {self._ceiling_entries:,} tar entries",
                    "raise LAYERLAB_MAX_ENTRIES if the machine has the memory (about 500 bytes an entry)",
                )

    def take_expanded(self, n: int, name: str, what: str = "layer") -> None:
        self._check_stopped()
        with self._lock:
            self.expanded -= n
            if self.expanded < 0:
                raise ArchiveError(
                    f"{what} {name} decompresses past the ceiling of {self._ceiling_expanded:,} bytes per image"
                    " (a decompression bomb?)",
                    "raise LAYERLAB_MAX_EXPANDED_BYTES if the image really is that large",
                )


# ---------------------------------------------------------------- raw readers


class _RawReader:
    """Raw blob bytes, hashed and counted as they are read, from a stream or a file range.

    After :meth:`measure_gzip`, every byte is also fed to a gzip compressor,
    and :meth:`gzip_bytes` is the size of its output.
    """

    def __init__(self, read: Callable[[int], bytes]) -> None:
        self._read = read
        self.sha256 = hashlib.sha256()
        self.count = 0
        self._gzip = None
        self._gzipped = 0

    def measure_gzip(self, level: int, already_read: bytes) -> None:
        """Compress from here on at ``level``, starting with the bytes ``already_read``."""
        self._gzip = zlib.compressobj(level, zlib.DEFLATED, 31)
        self._gzipped = len(self._gzip.compress(already_read))

    def read(self, n: int = RAW_CHUNK) -> bytes:
        data = self._read(n)
        self.sha256.update(data)
        self.count += len(data)
        if self._gzip is not None and data:
            self._gzipped += len(self._gzip.compress(data))
        return data

    def gzip_bytes(self) -> int | None:
        """``len(gzip(blob))`` once the blob has been read whole, as ``gzip.compress(blob, level, mtime=0)``."""
        if self._gzip is None:
            return None
        self._gzipped += len(self._gzip.flush())
        self._gzip = None
        return self._gzipped

    def drain(self) -> None:
        while self.read(RAW_CHUNK):
            pass


def _range_reader(fd: int, start: int, length: int) -> Callable[[int], bytes]:
    position = start
    end = start + length

    def read(n: int) -> bytes:
        nonlocal position
        n = min(n, end - position)
        if n <= 0:
            return b""
        data = os.pread(fd, n, position)
        position += len(data)
        return data

    return read


# ---------------------------------------------------------------- feeds of tar bytes


class _BufferedFeed:
    """A feed over a buffer: :meth:`take` slices it while it holds enough, else asks :meth:`_refill`."""

    def __init__(self) -> None:
        self._buffer = b""
        self._position = 0

    def take(self, n: int) -> bytes:
        end = self._position + n
        if end <= len(self._buffer):
            data = self._buffer[self._position:end]
            self._position = end
            return data
        return self._refill(n)

    def _refill(self, n: int) -> bytes:
        raise NotImplementedError


class StreamFeed(_BufferedFeed):
    """Tar bytes pulled from a chunk source; skipped bytes are produced and dropped, never kept."""

    def __init__(self, pull: Callable[[], bytes]) -> None:
        super().__init__()
        self._pull = pull

    def _refill(self, n: int) -> bytes:
        parts = [self._buffer[self._position:]]
        have = len(parts[0])
        while have < n:
            chunk = self._pull()
            if not chunk:
                break
            parts.append(chunk)
            have += len(chunk)
        joined = b"".join(parts)
        self._buffer, self._position = joined, min(n, len(joined))
        return joined[:n]

    def skip(self, n: int) -> int:
        available = len(self._buffer) - self._position
        if n <= available:
            self._position += n
            return n
        skipped = available
        while True:
            chunk = self._pull()
            if not chunk:
                self._buffer, self._position = b"", 0
                return skipped
            if skipped + len(chunk) >= n:
                self._buffer, self._position = chunk, n - skipped
                return n
            skipped += len(chunk)


class FileRangeFeed(_BufferedFeed):
    """An uncompressed tar inside a file: headers are read, contents are seeked past."""

    def __init__(self, fd: int, start: int, length: int) -> None:
        super().__init__()
        self._fd = fd
        self._end = start + length
        self._offset = start  # file offset of _buffer[0]

    def _refill(self, n: int) -> bytes:
        self._offset += self._position
        want = min(max(n, SEEK_CHUNK), self._end - self._offset)
        self._buffer = os.pread(self._fd, want, self._offset) if want > 0 else b""
        self._position = min(n, len(self._buffer))
        return self._buffer[:n]

    def skip(self, n: int) -> int:
        available = len(self._buffer) - self._position
        if n <= available:
            self._position += n
            return n
        target = self._offset + self._position + n
        self._offset, self._buffer, self._position = min(target, self._end), b"", 0
        return n if target <= self._end else n - (target - self._end)


# ---------------------------------------------------------------- decompressors


def _gzip_chunks(raw: _Source, budget: EntryBudget, name: str, what: str = "layer") -> Callable[[], bytes]:
    """Decompressed gzip output, at most :data:`OUT_CHUNK` at a time, across concatenated members.

    Zero bytes between or after members are padding, as :mod:`gzip` allows.
    """
    state = [zlib.decompressobj(31)]

    def pull() -> bytes:
        while True:
            d = state[0]
            if d.eof:
                data = d.unused_data.lstrip(b"\0")
                while not data:
                    more = raw.read(RAW_CHUNK)
                    if not more:
                        return b""
                    data = more.lstrip(b"\0")
                d = state[0] = zlib.decompressobj(31)
            else:
                data = d.unconsumed_tail or raw.read(RAW_CHUNK)
                if not data:
                    raise ArchiveError(f"{what} {name} is a truncated gzip stream", "save or download it again")
            out = d.decompress(data, OUT_CHUNK)
            if out:
                budget.take_expanded(len(out), name, what)
                return out

    return pull


def _zstd_chunks(raw: _Source, budget: EntryBudget, name: str, what: str = "layer") -> Callable[[], bytes]:
    """Decompressed zstd output across frames (skippable ones included), at most :data:`OUT_CHUNK` at a time."""
    import zstandard  # on first use: a report on uncompressed layers never loads it

    reader = zstandard.ZstdDecompressor().stream_reader(raw, read_size=RAW_CHUNK, read_across_frames=True)

    def pull() -> bytes:
        out = reader.read(OUT_CHUNK)
        if out:
            budget.take_expanded(len(out), name, what)
        return out

    return pull


class DecompressedStream:
    """A compressed (gzip or zstd) stream, read decompressed: ``read(n)`` for :mod:`tarfile`'s stream mode.

    Output is made at most :data:`OUT_CHUNK` at a time and charged to ``budget``'s
    expanded-bytes ceiling; a corrupt or truncated stream is one :class:`ArchiveError`
    naming ``label``.  This is how a ``docker save | gzip`` archive is read.
    """

    def __init__(self, read: Callable[[int], bytes], head: bytes, compression: str, label: str,
                 budget: EntryBudget) -> None:
        self._label = label
        self._compression = compression
        source = _Source(_PlainReader(read), head)
        make = _gzip_chunks if compression == "gzip" else _zstd_chunks
        self._pull = make(source, budget, label, "the archive")  # type: ignore[arg-type]
        self._buffer = memoryview(b"")
        self._position = 0

    def read(self, n: int = -1) -> bytes:
        if self._position >= len(self._buffer):
            try:
                chunk = self._pull()
            except _stream_errors() as exc:
                raise ArchiveError(f"the archive {self._label} is not a readable {self._compression} stream: {exc}",
                                   "the archive is truncated or corrupt; save or download it again") from exc
            self._buffer, self._position = memoryview(chunk), 0
        if n is None or n < 0:
            n = len(self._buffer) - self._position
        data = bytes(self._buffer[self._position:self._position + n])
        self._position += len(data)
        return data


class _PlainReader:
    """A bare ``read`` (no hashing, no counting), for :class:`_Source`."""

    def __init__(self, read: Callable[[int], bytes]) -> None:
        self.read = read


# ---------------------------------------------------------------- scanning


@dataclass
class ScannedLayer:
    """What one pass over a layer blob gives: its entries, digest and compression.

    ``digest`` is ``None`` when the blob was not hashed (an uncompressed blob
    in a file, read without ``verify``).  ``prepared`` is what a consumer's
    ``prepare`` made of the entries on the reading thread (see
    :class:`helpers.reading.archive.LayerConsumer`).  ``documents`` holds the package
    databases found (``None`` for one too big to keep); ``gzip_bytes`` what
    gzip made of an uncompressed blob, when that was asked for.
    """

    entries: list[Entry]
    digest: str | None
    compression: str
    blob_bytes: int
    prepared: object = None
    documents: dict[str, bytes | None] = field(default_factory=dict)
    gzip_bytes: int | None = None


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


def _stream_errors() -> tuple[type[BaseException], ...]:
    """What a broken stream raises: zstandard's error too, once zstandard is loaded."""
    zstandard = sys.modules.get("zstandard")
    return (EOFError, OSError, zlib.error) + ((zstandard.ZstdError,) if zstandard is not None else ())


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


class _Source:
    """The raw reader, with the bytes already read to sniff the compression put back in front."""

    def __init__(self, raw: _RawReader, head: bytes) -> None:
        self._raw = raw
        self._head = head

    def read(self, n: int = RAW_CHUNK) -> bytes:
        if self._head:
            data, self._head = self._head, b""
            return data
        return self._raw.read(n)


def _scan_raw(
    raw: _RawReader, head: bytes, name: str, budget: EntryBudget
) -> tuple[list[Entry], dict[str, bytes | None], str]:
    compression = sniff_compression(head)
    source = _Source(raw, head)
    try:
        if compression == "none":
            entries, documents = _collect(StreamFeed(source.read), name, budget)
        else:
            pull = (_gzip_chunks if compression == "gzip" else _zstd_chunks)(source, budget, name)
            entries, documents = _collect(StreamFeed(pull), name, budget)
            while pull():  # the rest of the stream: end-of-archive padding, trailing frames, the gzip trailer
                pass
        raw.drain()
    except _stream_errors() as exc:
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
    raw = _RawReader(read)
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
            entries, documents = _collect(FileRangeFeed(fd, start, length), name, budget)
        except OSError as exc:
            raise ArchiveError(f"layer {name} cannot be read: {exc}", "check the file") from exc
        return ScannedLayer(entries, None, "none", length, documents=documents)
    return _scan_hashed(_range_reader(fd, start, length), name, budget)
