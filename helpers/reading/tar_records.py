"""One tar header and the records before it, read as Go's ``archive/tar`` reads them.

The header's numbers and checksum, the end-of-archive marker, pax and GNU
long-name records (each charged to a per-entry budget), and what they and a GNU
sparse header say of the entry: its name, link and sizes.  The layer reader
(:mod:`helpers.reading.tar_headers`) and the outer archive's
(:mod:`helpers.reading.tar_members`) both read headers with these.
"""

from __future__ import annotations

import struct
import zlib
from collections.abc import Iterator

from ..ground.errors import MalformedTar
from ..ground.limits import MAX_METADATA_BYTES
from .tar_fields import (
    BLOCK,
    MAX_FILE_BYTES,
    ZERO_BLOCK,
    checksum_ok,
    header_number,
    header_numbers,
    header_text,
    pax_number,
    pax_records,
)
from .tar_sparse import MAX_REGION_NUMBERS, old_gnu_regions, pax_regions, pax_sparse, regions_valid

TYPE_CHECKING = False  # typing's own flag would import typing, which a report does not need
if TYPE_CHECKING:
    from .tar_fields import ByteFeed

#: The default budget of pax and GNU long-name bytes per entry (a path is at most 4 KiB on Linux);
#: the budget in force is ``LAYERLAB_MAX_METADATA_BYTES`` (:data:`helpers.ground.limits.MAX_METADATA_BYTES`).
MAX_META_BYTES = MAX_METADATA_BYTES.default

_CORRUPT = "the archive is corrupt; save it again"
NO_DATA = frozenset((b"1", b"2", b"3", b"4", b"5", b"6"))
#: Plain regular files (not sparse ones): the only members whose contents may be kept.
REGULAR = frozenset((b"0", b"\0", b"7"))
#: name, mode, uid, gid, size, (mtime), chksum, typeflag, linkname, magic, (version … devminor), prefix
_HEADER = struct.Struct("100s8s8s8s12s12x8sc100s6s82x155s12x")
_META_TYPES = frozenset((b"x", b"g", b"L", b"K"))


class _Pending:
    """What the rare records before an entry said about it: pax records, GNU long names, and their bytes."""

    __slots__ = ("active", "pax", "long_name", "long_link", "meta_bytes", "meta_budget")

    def __init__(self, meta_budget: int) -> None:
        self.active = False  # whether any such record came since the last entry
        self.pax: dict[str, str] = {}
        self.long_name: str | None = None
        self.long_link: str | None = None
        self.meta_bytes = 0  # pax, global pax and GNU long-name bytes since the last entry
        self.meta_budget = meta_budget

    def clear(self) -> None:
        self.active = False
        self.pax = {}
        self.long_name = self.long_link = None
        self.meta_bytes = 0


def _old_go_prefix(header: bytes) -> bool:
    """Whether a GNU header holds a ustar prefix where its access and change times belong (Go before 1.8 wrote
    such files, and Go still reads them: when those times are not numbers and the prefix is ASCII)."""
    try:
        for field in (header[345:357], header[357:369]):
            if field[0]:
                header_number(field)
        return False
    except ValueError:
        return header[345:500].split(b"\0", 1)[0].isascii()


def _read_metadata_record(feed: ByteFeed, label: str, typeflag: bytes, size: int, padded: int,
                          pending: _Pending) -> None:
    """A pax (``x``), global pax (``g``) or GNU long name (``L``, ``K``) record: read, charged, kept for the entry."""
    pending.active = True
    pending.meta_bytes += size
    budget = pending.meta_budget
    if pending.meta_bytes > budget:
        if size > budget:
            message = f"{label} has a {size:,}-byte tar metadata record (the limit is {budget:,})"
        else:
            message = (f"{label} has {pending.meta_bytes:,} bytes of pax and GNU long-name records before one "
                       f"entry (the limit is {budget:,} per entry)")
        raise MalformedTar(message, "the archive is corrupt or hostile; if it is genuine, raise "
                                    "LAYERLAB_MAX_METADATA_BYTES (e.g. LAYERLAB_MAX_METADATA_BYTES=8MiB)")
    if typeflag == b"g":  # a global pax header: read, counted, ignored
        if feed.skip(padded) < padded:
            raise MalformedTar(f"{label} ends inside a tar metadata record", "the archive is truncated")
        return
    data = feed.take(padded)[:size]
    if len(data) < size:
        raise MalformedTar(f"{label} ends inside a tar metadata record", "the archive is truncated")
    if typeflag == b"x":
        try:
            pending.pax = pax_records(data)  # a later pax header replaces an earlier one whole, as Go reads them
        except ValueError as exc:
            raise MalformedTar(f"{label} has a malformed pax header: {exc}", "the archive is corrupt") from exc
    elif typeflag == b"L":
        pending.long_name = header_text(data)
    elif typeflag == b"K":
        pending.long_link = header_text(data)


def _extended(feed: ByteFeed, label: str, header: bytes, typeflag: bytes, pax: dict[str, str], name: str,
              link: str, size: int, uid: int, gid: int) -> tuple[str, str, int, int, int, int]:
    """An entry's name, link, size (a sparse file's real size), stored size, uid and gid, as its pax records or
    GNU sparse header give them."""
    stored, real = size, 0
    try:
        sparse = typeflag == b"S"
        regions: list[int] = []
        if sparse:  # old GNU sparse: the real size, four regions, then any extension blocks of more
            real = header_number(header[483:495])
            regions = old_gnu_regions(header[386:482], 4)
            _extended = header[482]
            while _extended:
                block = feed.take(BLOCK)
                if len(block) < BLOCK:
                    raise MalformedTar(f"{label} ends inside a sparse map", "the archive is truncated")
                regions += old_gnu_regions(block[:504], 21)
                if len(regions) > MAX_REGION_NUMBERS:
                    raise ValueError("a sparse map of more regions than any real file has")
                _extended = block[504]
        if pax:
            name = pax.get("path") or name  # an empty pax value keeps the ustar one, as Go keeps it
            link = pax.get("linkpath") or link
            stored = pax_number(pax, "size", stored)
            uid = pax_number(pax, "uid", uid)
            gid = pax_number(pax, "gid", gid)
            if pax_sparse(pax):  # pax GNU sparse (0.0, 0.1, 1.0): the real name and the real size
                sparse = True
                name = pax.get("GNU.sparse.name") or name
                real = pax_number(pax, "GNU.sparse.size", pax_number(pax, "GNU.sparse.realsize", 0))
                regions = pax_regions(pax)
        if sparse and not regions_valid(regions, real):
            raise ValueError("its sparse map has regions out of order, overlapping, or past the file's end")
    except (ValueError, IndexError) as exc:
        raise MalformedTar(f"{label} has a corrupt tar header: {exc}", _CORRUPT) from exc
    if stored > MAX_FILE_BYTES:
        raise MalformedTar(f"{label} has a pax size of {stored:,} bytes for `{name}`, past the largest "
                           f"possible file", "the archive is corrupt or hostile")
    if sparse and not 0 <= real <= MAX_FILE_BYTES:
        raise MalformedTar(f"{label} has a sparse file `{name}` whose real size ({real:,} bytes) is "
                           "impossible", "the archive is corrupt or hostile")
    # A sparse file counts its real size, as Go's archive/tar reports it, as dive and a container's
    # ``ls -l`` see it; the archive stores ``stored`` bytes for it (its data, and format 1.0's map),
    # which is what is stepped over.
    return name, link, real if sparse else stored, stored, uid, gid


def _next_header(take, label: str) -> bytes | None:
    """The next header block, or ``None`` at the end: the end-of-archive marker, or the end of the bytes."""
    header = take(BLOCK)
    if len(header) < BLOCK:
        if header:
            raise MalformedTar(f"{label} ends inside a tar header", "the archive is truncated; save it again")
        return None
    if header == ZERO_BLOCK:  # the end, if the next block is zeros too or there is none (Go's reading)
        after = take(BLOCK)
        if after and after != ZERO_BLOCK:
            raise MalformedTar(f"{label} has a zero block followed by data where its end should be", _CORRUPT)
        return None
    return header


def _header_fields(header: bytes, label: str) -> tuple[bytes, bytes, bytes, bytes, bytes, int, int, int, int]:
    """A header's fields, its numbers read, its checksum and size checked: one :class:`MalformedTar` if one fails."""
    name_b, mode_b, uid_b, gid_b, size_b, chksum_b, typeflag, link_b, magic, prefix_b = _HEADER.unpack(header)
    try:
        try:  # the common case first: octal text, NUL- or space-terminated
            size, mode, uid, gid, chksum = (
                int(size_b.rstrip(b"\0 "), 8), int(mode_b.rstrip(b"\0 "), 8), int(uid_b.rstrip(b"\0 "), 8),
                int(gid_b.rstrip(b"\0 "), 8), int(chksum_b.rstrip(b"\0 "), 8),
            )
        except ValueError:
            size, mode, uid, gid, chksum = header_numbers((size_b, mode_b, uid_b, gid_b, chksum_b))
        # adler32's low half is 1 + Σ bytes mod 65521: the checksum's sum, in C.  A header whose
        # checksum differs from it by a multiple of 65521 would pass; checksum_ok is exact.
        if zlib.adler32(header) & 0xFFFF != (1 + chksum + sum(chksum_b) - 256) % 65521 \
                and not checksum_ok(header, chksum):
            raise ValueError("bad header checksum")
    except ValueError as exc:
        raise MalformedTar(f"{label} has a corrupt tar header: {exc}", _CORRUPT) from exc
    if not 0 <= size <= MAX_FILE_BYTES:
        raise MalformedTar(f"{label} has a tar header with an impossible size ({size:,} bytes)",
                           "the archive is corrupt or hostile")
    return name_b, typeflag, link_b, magic, prefix_b, size, mode, uid, gid


def _entry_names(header: bytes, name_b: bytes, link_b: bytes, magic: bytes, prefix_b: bytes,
           pending: _Pending) -> tuple[str, str, dict[str, str] | None]:
    """An entry's name and link as its header (and any GNU long-name records before it) give them, and its pax."""
    if pending.active:  # rare: pax or GNU long-name records came before this entry
        long_name, long_link, pax = pending.long_name, pending.long_link, pending.pax
        pending.clear()
    else:
        long_name = long_link = pax = None
    if long_name is None:
        name = name_b.split(b"\0", 1)[0].decode("utf-8", "surrogateescape")
        if magic == b"ustar\x00" and prefix_b[0]:
            name = header_text(prefix_b) + "/" + name
        elif magic == b"ustar " and (header[345] or header[357]) and _old_go_prefix(header):
            name = header_text(prefix_b) + "/" + name
    else:
        name = long_name
    if long_link is not None:
        link = long_link
    elif link_b[0]:
        link = link_b.split(b"\0", 1)[0].decode("utf-8", "surrogateescape")
    else:
        link = ""
    return name, link, pax


def headers(feed: ByteFeed, label: str, meta_budget: int = MAX_META_BYTES) -> Iterator[tuple]:
    """Each entry's header, up to the end-of-archive marker, as the records before it amend it.

    Yields ``(typeflag, name, link, pax, size, stored, padded, mode, uid, gid)``: ``size`` is a
    sparse file's real size, ``stored`` the bytes its data takes in the archive, and ``padded``
    those rounded up to whole blocks.  The caller steps over (or reads) the data before asking
    for the next.  At most ``meta_budget`` bytes of pax and GNU long-name records may come
    before one entry.
    """
    pending = _Pending(meta_budget)  # the rare records: each has a function of its own, out of this loop
    take = feed.take
    while True:
        header = _next_header(take, label)
        if header is None:
            return
        name_b, typeflag, link_b, magic, prefix_b, size, mode, uid, gid = _header_fields(header, label)
        padded = (size + 511) & ~511
        if typeflag in _META_TYPES:
            _read_metadata_record(feed, label, typeflag, size, padded, pending)
            continue
        name, link, pax = _entry_names(header, name_b, link_b, magic, prefix_b, pending)
        stored = size
        if typeflag == b"S" or pax:
            name, link, size, stored, uid, gid = _extended(feed, label, header, typeflag, pax or {}, name, link,
                                                           size, uid, gid)
            padded = (stored + 511) & ~511
        yield typeflag, name, link, pax, size, stored, padded, mode, uid, gid
