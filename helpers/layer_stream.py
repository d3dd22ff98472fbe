"""Read one layer blob as a stream: hash it, decompress it, and list its tar entries.

A blob is read exactly once, front to back.  Nothing is extracted: only tar
headers are kept, and file contents flow through the decompressor and are
dropped.  Compression is detected from the first bytes (gzip ``1f8b``, zstd
``28b52ffd``, otherwise a plain tar), so a layer reads the same whatever its
media type claims.
"""

from __future__ import annotations

import gzip
import hashlib
import io
import os
import posixpath
import tarfile
import zlib
from dataclasses import dataclass
from typing import BinaryIO

import zstandard

from .errors import ArchiveError
from .model import AUFS_META_PREFIX, OPAQUE_MARKER, WHITEOUT_PREFIX, Entry

GZIP_MAGIC = b"\x1f\x8b"
ZSTD_MAGIC = b"\x28\xb5\x2f\xfd"
_READ_CHUNK = 1 << 20


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


def normalize_path(name: str) -> str:
    """Normalise a tar member name: drop ``./`` and leading or trailing ``/``; ``""`` is the root."""
    path = posixpath.normpath("/" + name).lstrip("/")
    return "" if path == "." else path


class _HashingReader(io.RawIOBase):
    """A raw reader that hashes and counts every byte read through it."""

    def __init__(self, raw: BinaryIO) -> None:
        self._raw = raw
        self.sha256 = hashlib.sha256()
        self.count = 0

    def readable(self) -> bool:
        return True

    def readinto(self, buffer) -> int:  # type: ignore[override]
        data = self._raw.read(len(buffer))
        n = len(data)
        buffer[:n] = data
        self.sha256.update(data)
        self.count += n
        return n


@dataclass
class ScannedLayer:
    """What one pass over a layer blob gives: its entries, digest and compression."""

    entries: list[Entry]
    digest: str
    compression: str
    blob_bytes: int


def classify(info: tarfile.TarInfo, path: str) -> str:
    """Name the kind of a layer entry (see :data:`helpers.model.KINDS`)."""
    base = posixpath.basename(path)
    if base == OPAQUE_MARKER:
        return "opaque"
    if base.startswith(AUFS_META_PREFIX):
        return "other"
    if base.startswith(WHITEOUT_PREFIX) and len(base) > len(WHITEOUT_PREFIX):
        return "whiteout"
    if info.isreg():
        return "file"
    if info.isdir():
        return "dir"
    if info.issym():
        return "symlink"
    if info.islnk():
        return "hardlink"
    return "other"


#: The most tar entries one image may hold (``LAYERLAB_MAX_ENTRIES``): each costs about 250 bytes
#: of memory while the image is analysed, so the default keeps an analysis near 250 MB at most.
DEFAULT_MAX_ENTRIES = 1_000_000


def max_entries() -> int:
    """The entry ceiling in force: ``LAYERLAB_MAX_ENTRIES``, or :data:`DEFAULT_MAX_ENTRIES`."""
    value = os.environ.get("LAYERLAB_MAX_ENTRIES", "")
    return int(value) if value.strip().isdigit() else DEFAULT_MAX_ENTRIES


def _entries_from_tar(stream: BinaryIO, budget: int, name: str) -> list[Entry]:
    entries: list[Entry] = []
    with tarfile.open(fileobj=stream, mode="r|") as tar:
        for info in tar:
            tar.members = []  # tarfile keeps every header it has read; we keep our own compact list
            if len(entries) >= budget:
                raise ArchiveError(
                    f"layer {name} holds more tar entries than the ceiling of {max_entries():,} per image",
                    "raise LAYERLAB_MAX_ENTRIES if the machine has the memory (about 250 bytes an entry)",
                )
            path = normalize_path(info.name)
            if not path:
                continue
            kind = classify(info, path)
            link = info.linkname
            if kind == "hardlink":
                link = normalize_path(link)
            entries.append(Entry(path, kind, info.size, info.mode & 0o7777, info.uid, info.gid, link))
    return entries


def scan_layer(blob: BinaryIO, name: str = "layer", budget: int | None = None) -> ScannedLayer:
    """Read a layer blob once and return its entries and the sha256 of its raw bytes.

    ``name`` only labels errors; ``budget`` is how many entries the image may
    still hold (default: the whole ceiling, :func:`max_entries`).  Raises
    :class:`ArchiveError` on a truncated or corrupt stream, or past the ceiling.
    """
    hashing = _HashingReader(blob)
    buffered = io.BufferedReader(hashing, buffer_size=_READ_CHUNK)
    compression = sniff_compression(buffered.peek(4)[:4])
    try:
        if compression == "gzip":
            content: BinaryIO = gzip.GzipFile(fileobj=buffered, mode="rb")  # type: ignore[assignment]
        elif compression == "zstd":
            content = zstandard.ZstdDecompressor().stream_reader(buffered, read_across_frames=True)
        else:
            content = buffered
        entries = _entries_from_tar(content, max_entries() if budget is None else budget, name)
        # Read what the tar reader left (end-of-archive padding, trailing frames),
        # so that the digest covers the whole blob.
        while content.read(_READ_CHUNK):
            pass
        while buffered.read(_READ_CHUNK):
            pass
    except (tarfile.TarError, EOFError, OSError, zlib.error, zstandard.ZstdError) as exc:
        raise ArchiveError(
            f"layer {name} is not a readable {'tar' if compression == 'none' else compression + ' tar'} stream: {exc}",
            "the archive is truncated or corrupt; save or download it again",
        ) from exc
    return ScannedLayer(entries, "sha256:" + hashing.sha256.hexdigest(), compression, hashing.count)
