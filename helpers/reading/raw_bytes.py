"""Raw bytes in, tar blocks out: the readers and feeds a layer's scan takes its bytes from.

A raw reader counts and hashes every byte it hands on (and can measure what
gzip makes of them); a feed hands the tar header reader whole blocks and steps
over file contents, by seeking when the blob sits uncompressed in a file and by
discarding otherwise.  Compression is told by the first bytes, never by a media
type.
"""

from __future__ import annotations

import os
import zlib
from collections.abc import Callable

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


class RawReader:
    """Raw blob bytes, hashed and counted as they are read, from a stream or a file range.

    After :meth:`measure_gzip`, every byte is also fed to a gzip compressor,
    and :meth:`gzip_bytes` is the size of its output.
    """

    def __init__(self, read: Callable[[int], bytes]) -> None:
        self._read = read
        import hashlib  # loaded by the first blob read as a stream: OpenSSL's start-up is a small image's cost

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


def range_reader(fd: int, start: int, length: int) -> Callable[[int], bytes]:
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


class PlainReader:
    """A bare ``read`` (no hashing, no counting), for :class:`HeadFirst`."""

    def __init__(self, read: Callable[[int], bytes]) -> None:
        self.read = read


class HeadFirst:
    """The raw reader, with the bytes already read to sniff the compression put back in front."""

    def __init__(self, raw: RawReader | PlainReader, head: bytes) -> None:
        self._raw = raw
        self._head = head

    def read(self, n: int = RAW_CHUNK) -> bytes:
        if self._head:
            data, self._head = self._head, b""
            return data
        return self._raw.read(n)


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

    def tell(self) -> int:
        """The file offset of the next byte :meth:`take` gives."""
        return self._offset + self._position

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
