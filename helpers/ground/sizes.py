"""Byte counts for people: ``16777216`` → ``16.0 MiB``, and sizes as people write them."""

from __future__ import annotations

import re

_UNITS = ["B", "KiB", "MiB", "GiB", "TiB"]


def format_bytes(count: int | float) -> str:
    """Binary units with one decimal (``1536`` → ``1.5 KiB``); plain bytes below 1 KiB."""
    value = float(count)
    for unit in _UNITS:
        if abs(value) < 1024 or unit == _UNITS[-1]:
            return f"{int(value)} B" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1024
    raise AssertionError("unreachable")


_EXACT_UNITS = [("TiB", 1024**4), ("TB", 1000**4), ("GiB", 1024**3), ("GB", 1000**3), ("MiB", 1024**2),
                ("MB", 1000**2), ("KiB", 1024), ("KB", 1000)]


def format_limit(count: int) -> str:
    """A limit as it was most likely written: the largest unit that divides it (``5000000`` → ``5 MB``).

    Else its exact count, ``1,234 bytes``.  (:func:`format_bytes` rounds; a
    limit read back should not.)
    """
    for unit, size in _EXACT_UNITS:
        if count and count % size == 0:
            return f"{count // size:,} {unit}"
    return f"{count:,} bytes"


def format_ratio(value: float) -> str:
    """A ratio between 0 and 1 as a percentage, one decimal (``0.317173`` → ``31.7%``): the one rounding of ratios."""
    return f"{value * 100:.1f}%"


def parse_size(text: str) -> int:
    """A size as written, units read as they say: ``5MB`` → 5,000,000, ``512KiB`` → 524,288, ``1G`` → 10⁹,
    ``1000`` → 1000.  The one reading of sizes: the command line's and the ``LAYERLAB_MAX_*`` settings'.

    :class:`ValueError` for anything else, a negative size included.  The units are checked
    here before humanfriendly converts: it reads any word by its first letter (``1 banana`` as
    one byte) and cuts a fraction of a byte off (``1.5`` as 1); neither is a size.
    """
    import humanfriendly  # on first use: only a size that is set is parsed

    if text.strip().startswith("-"):
        raise ValueError("a size cannot be negative")
    written = re.fullmatch(_SIZE, text)  # compiled on first use, by re's own cache
    unit = written.group(2).lower() if written else ""
    if written is None or unit not in _SIZE_UNITS:
        raise ValueError(f"{text.strip()[:40]!r} is not a size such as 16MiB, 5MB or 1000")
    if "." in written.group(1) and unit in _BYTE_UNITS:
        raise ValueError(f"{text.strip()[:40]!r} is a fraction of a byte")
    try:
        return int(humanfriendly.parse_size(text))
    except humanfriendly.InvalidSize as exc:
        raise ValueError(str(exc)) from None


#: A size as written: a number, then a unit or none.
_SIZE = r"\s*(\d+(?:\.\d+)?)\s*([A-Za-z]*)\s*"
_BYTE_UNITS = frozenset(("", "b", "byte", "bytes"))
#: Every unit a size may name (any case): bytes, decimal (K, KB, kilobytes) and binary (KiB, kibibytes).
_SIZE_UNITS = _BYTE_UNITS | {
    form
    for decimal, binary in (("kilo", "kibi"), ("mega", "mebi"), ("giga", "gibi"), ("tera", "tebi"), ("peta", "pebi"))
    for form in (decimal[0], decimal[0] + "b", binary[0] + "ib", decimal + "byte", decimal + "bytes",
                 binary + "byte", binary + "bytes")
}
