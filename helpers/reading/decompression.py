"""Decompression of gzip and zstd, a bounded chunk at a time and charged to the image's budget.

Output is made at most :data:`~helpers.reading.raw_bytes.OUT_CHUNK` at a time, so a
decompression bomb costs time, not memory, and stops at the budget's
expanded-bytes ceiling.
"""

from __future__ import annotations

import sys
import zlib
from collections.abc import Callable

from ..ground.errors import ArchiveError
from .raw_bytes import OUT_CHUNK, RAW_CHUNK, HeadFirst, PlainReader
from .scan_budget import EntryBudget


def stream_errors() -> tuple[type[BaseException], ...]:
    """What a broken stream raises: zstandard's error too, once zstandard is loaded."""
    zstandard = sys.modules.get("zstandard")
    return (EOFError, OSError, zlib.error) + ((zstandard.ZstdError,) if zstandard is not None else ())


def gzip_chunks(raw: HeadFirst, budget: EntryBudget, name: str, what: str = "layer") -> Callable[[], bytes]:
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


def zstd_chunks(raw: HeadFirst, budget: EntryBudget, name: str, what: str = "layer") -> Callable[[], bytes]:
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
        source = HeadFirst(PlainReader(read), head)
        make = gzip_chunks if compression == "gzip" else zstd_chunks
        self._pull = make(source, budget, label, "the archive")  # type: ignore[arg-type]
        self._buffer = memoryview(b"")
        self._position = 0

    def read(self, n: int = -1) -> bytes:
        if self._position >= len(self._buffer):
            try:
                chunk = self._pull()
            except stream_errors() as exc:
                raise ArchiveError(f"the archive {self._label} is not a readable {self._compression} stream: {exc}",
                                   "the archive is truncated or corrupt; save or download it again") from exc
            self._buffer, self._position = memoryview(chunk), 0
        if n is None or n < 0:
            n = len(self._buffer) - self._position
        data = bytes(self._buffer[self._position:self._position + n])
        self._position += len(data)
        return data
