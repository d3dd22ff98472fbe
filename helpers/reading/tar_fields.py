"""The fields of a tar header, and of the records around it, read as Go's ``archive/tar`` reads them.

Numbers (octal text or GNU base-256), NUL-terminated text, the header checksum,
pax records and the numbers they hold, and member names.  Each parser is linear
in its input; anything malformed is a :class:`ValueError`, which the header
reader (:mod:`helpers.reading.tar_headers`) turns into one
:class:`~helpers.ground.errors.ArchiveError`.
"""

from __future__ import annotations

import posixpath
import re

from ..ground.model import AUFS_META_PREFIX, OPAQUE_MARKER, WHITEOUT_PREFIX

TYPE_CHECKING = False  # typing's own flag would import typing, which a report does not need

BLOCK = 512
ZERO_BLOCK = bytes(BLOCK)
#: The largest file size (and sparse real size) accepted: the most a Linux ``off_t`` can hold.
MAX_FILE_BYTES = (1 << 63) - 1


#: The most digits of a pax record's length field, and of a number in a pax record.
MAX_DIGITS = 20


if TYPE_CHECKING:  # structural types, for type checkers only
    from typing import Protocol

    class ByteFeed(Protocol):
        """Where tar blocks come from: :class:`helpers.reading.raw_bytes.FileRangeFeed` or ``StreamFeed``."""

        def take(self, n: int) -> bytes:
            """The next ``n`` bytes (fewer only at the end)."""
            ...

        def skip(self, n: int) -> int:
            """Step over ``n`` bytes; return how many were there (fewer only at the end)."""
            ...


def header_number(field: bytes) -> int:
    """A numeric header field: octal text, or GNU base-256 when the top bit of the first byte is set.

    Base-256 as Go's ``archive/tar`` reads it: two's complement over every byte, the
    first byte's top bit (the marker) left out and its next bit the sign; a value
    past 63 bits is an error.
    """
    try:
        return int(field.rstrip(b"\0 "), 8)  # the common case: octal digits, NUL- or space-terminated
    except ValueError:
        pass
    if field[0] & 0x80:
        negative = bool(field[0] & 0x40)
        raw = bytes([(field[0] & 0x7F) ^ (0x7F if negative else 0)]) + (
            bytes(b ^ 0xFF for b in field[1:]) if negative else field[1:])
        value = int.from_bytes(raw, "big")
        if value >> 63:
            raise ValueError("a base-256 number past 63 bits")
        return ~value if negative else value
    text = field.strip(b" \0")  # Go's parseOctal: NULs and spaces on either side go; one inside is an error
    return int(text, 8) if text else 0


def header_text(field: bytes) -> str:
    return field.split(b"\0", 1)[0].decode("utf-8", "surrogateescape")


def header_numbers(fields: tuple[bytes, ...]) -> list[int]:
    try:
        return [header_number(field) for field in fields]
    except (ValueError, IndexError) as exc:
        raise ValueError(f"a numeric field is not a number ({exc})") from None


def checksum_ok(header: bytes, stored: int) -> bool:
    """The exact check of a header's checksum: the sum of its bytes, its own 8-byte field counted as spaces.

    :func:`iter_entries` first compares ``zlib.adler32``'s low half, which is
    ``1 + Σ bytes`` modulo 65521 (a C loop instead of a Python one); this runs
    only when that quick check disagrees.  Old tars summed signed bytes.
    """
    unsigned = sum(header) - sum(header[148:156]) + 256
    if stored == unsigned:
        return True
    signed = unsigned - sum(256 for b in header[:148] + header[156:] if b > 127)
    return stored == signed


def pax_records(data: bytes) -> dict[str, str]:
    """The ``key=value`` records of a pax extended header (``"%d %s=%s\\n"``, length first).

    Linear in ``len(data)``: a length field is at most :data:`MAX_DIGITS` digits, each
    record must fit in what is left, hold at least its own length field, a space and
    ``k=\\n``, and end with a newline.  Anything else raises :class:`ValueError`.
    """
    records: dict[str, str] = {}
    position, end = 0, len(data)
    while position < end and data[position] != 0:
        space = data.find(b" ", position, position + MAX_DIGITS + 1)
        digits = data[position:space]
        if space < 0 or not digits.isdigit():
            raise ValueError(f"a record at byte {position} does not start with a length of at most "
                             f"{MAX_DIGITS} digits and a space")
        length = int(digits)
        if length < len(digits) + 4:  # the length field, a space, and at least "k=\n"
            raise ValueError(f"a record at byte {position} has length {length}, shorter than its own fields")
        if position + length > end:
            raise ValueError(f"a record at byte {position} has length {length:,}, past the end of the header")
        if data[position + length - 1] != 0x0A:
            raise ValueError(f"a record at byte {position} does not end with a newline")
        key, equals, value = data[space + 1 : position + length - 1].partition(b"=")
        if not equals or not key:
            raise ValueError(f"a record at byte {position} is not key=value")
        if b"\0" in (value if key in _NUL_FREE_VALUES else key):  # Go's validPAXRecord
            raise ValueError(f"a record at byte {position} holds a NUL byte where none may be")
        if key in _TIMES and value and not re.fullmatch(_PAX_TIME, value):  # Go's parsePAXTime
            raise ValueError(f"pax record {key.decode(errors='replace')} is not a time")
        records[key.decode("utf-8", "surrogateescape")] = value.decode("utf-8", "surrogateescape")
        position += length
    return records


#: The pax records whose values may hold no NUL byte (every other record's key may hold none), as Go checks them.
_NUL_FREE_VALUES = frozenset((b"path", b"linkpath", b"uname", b"gname"))


_TIMES = frozenset((b"mtime", b"atime", b"ctime"))


#: A pax time as Go parses one: seconds (a signed decimal of at most 19 digits), then optional digits of a fraction.
_PAX_TIME = rb"[+-]?0*\d{1,19}(?:\.\d*)?"


def pax_number(records: dict[str, str], key: str, default: int) -> int:
    """The number a pax record holds: decimal digits, leading zeros allowed (as Go reads them), at most 63 bits.

    An empty value keeps ``default``, as Go keeps the ustar field for any empty pax value.
    """
    text = records.get(key)
    if not text:
        return default
    significant = text.lstrip("0") or "0"
    if not (text.isascii() and text.isdigit() and len(significant) <= MAX_DIGITS
            and int(significant) <= MAX_FILE_BYTES):
        what = "negative" if text.strip().startswith("-") else "not a whole number a tar can hold"
        raise ValueError(f"pax record {key}={text[:40]} is {what}")
    return int(significant)


def normalize_path(name: str) -> str:
    """Normalise a member name: drop ``./``, ``..`` above the root, leading and trailing ``/``; ``""`` is the root."""
    path = posixpath.normpath("/" + name).lstrip("/")
    return "" if path == "." else path


def fast_path(name: str) -> str:
    """:func:`normalize_path`, with a shortcut for the common, already clean name."""
    if "/." in name or "//" in name or name.startswith((".", "/")):
        return normalize_path(name)
    return name.rstrip("/")


def classify_name(kind: str, path: str) -> str:
    """Refine a header's kind by its name: whiteouts, opaque markers and AUFS metadata."""
    base = path.rpartition("/")[2]
    if base.startswith(WHITEOUT_PREFIX):
        if base == OPAQUE_MARKER:
            return "opaque"
        if base.startswith(AUFS_META_PREFIX):
            return "other"
        if len(base) > len(WHITEOUT_PREFIX):
            return "whiteout"
    return kind
