"""GNU sparse files, in every format Go's ``archive/tar`` reads: old GNU headers, and pax 0.0, 0.1 and 1.0.

A sparse entry has the file's real name and its real size; what the archive
stores (its data, and format 1.0's map in front of it) is stepped over.  Each
map is checked as Go checks it (``validateSparseEntries``), and is bounded:
at most :data:`MAX_REGION_NUMBERS` numbers, and 1.0's map no bigger than its data
or the per-entry metadata budget.
"""

from __future__ import annotations

from ..ground.errors import MalformedTar
from .tar_fields import BLOCK, MAX_DIGITS, header_number, pax_number

TYPE_CHECKING = False  # typing's own flag would import typing, which a report does not need
if TYPE_CHECKING:
    from .tar_fields import ByteFeed

_CORRUPT = "the archive is corrupt; save it again"

#: The most numbers (two per region) a sparse map may hold: real sparse files have a few thousand regions.
MAX_REGION_NUMBERS = 2 * 65_536


def old_gnu_regions(area: bytes, count: int) -> list[int]:
    """The (offset, length) numbers of an old GNU sparse header's region slots, up to the first empty one."""
    numbers: list[int] = []
    for slot in range(count):
        field = area[slot * 24: slot * 24 + 24]
        if not field or field[0] == 0:
            break
        numbers += [header_number(field[:12]), header_number(field[12:])]
    return numbers


def pax_regions(pax: dict[str, str]) -> list[int]:
    """The (offset, length) numbers of a pax 0.1 map (``GNU.sparse.map``), or of 0.0's last region."""
    if pax.get("GNU.sparse.map"):
        parts = pax["GNU.sparse.map"].split(",")
        if len(parts) % 2 or len(parts) > MAX_REGION_NUMBERS:
            raise ValueError("GNU.sparse.map does not hold offset,length pairs")
        return [pax_number({"n": part}, "n", -1) if part else -1 for part in parts]
    if pax.get("GNU.sparse.offset") or pax.get("GNU.sparse.numbytes"):
        return [pax_number(pax, "GNU.sparse.offset", -1), pax_number(pax, "GNU.sparse.numbytes", -1)]
    return []


def regions_valid(numbers: list[int], size: int) -> bool:
    """Go's ``validateSparseEntries``: no negative region, none past ``size``, in order, none overlapping."""
    end = 0
    for offset, length in zip(numbers[::2], numbers[1::2], strict=True):
        if offset < 0 or length < 0 or offset + length > size or end > offset:
            return False
        end = offset + length
    return True


def sparse_map_1x0(feed: ByteFeed, label: str, real: int, stored: int, budget: int) -> int:
    """Read and check the map a pax 1.0 sparse file's data begins with; the bytes of data it took (whole blocks).

    Decimal numbers, one per line: how many regions, then each one's offset and length
    (Go's ``readGNUSparseMap1x0``).  At most ``budget`` bytes of it are read.
    """
    text, taken = b"", 0
    numbers: list[int] = []
    wanted: int | None = None
    while wanted is None or len(numbers) < wanted:
        while b"\n" not in text:
            if taken + BLOCK > min(budget, stored):
                raise MalformedTar(f"{label} has a sparse map larger than its data, or than the budget",
                                   "the archive is corrupt or hostile")
            block = feed.take(BLOCK)
            if len(block) < BLOCK:
                raise MalformedTar(f"{label} ends inside a sparse map", "the archive is truncated")
            text += block
            taken += BLOCK
        line, _, text = text.partition(b"\n")
        if not line.isdigit() or len(line.lstrip(b"0")) > MAX_DIGITS:
            raise MalformedTar(f"{label} has a sparse map with {line[:20]!r} where a number should be", _CORRUPT)
        if wanted is None:
            wanted = 2 * int(line)
            if wanted > MAX_REGION_NUMBERS:
                raise MalformedTar(f"{label} has a sparse map of {wanted // 2:,} regions", _CORRUPT)
        else:
            numbers.append(int(line))
    if not regions_valid(numbers, real):
        raise MalformedTar(f"{label} has a sparse map with regions out of order, overlapping, or past the file's "
                           "end", _CORRUPT)
    return taken


def pax_sparse(pax: dict[str, str]) -> bool:
    """Whether pax records describe a GNU sparse file, by Go's reading: a known version, or a 0.0/0.1 map."""
    major, minor = pax.get("GNU.sparse.major", ""), pax.get("GNU.sparse.minor", "")
    if major or minor:
        return (major, minor) in (("0", "0"), ("0", "1"), ("1", "0"))
    return bool(pax.get("GNU.sparse.map") or pax.get("GNU.sparse.offset") or pax.get("GNU.sparse.numbytes"))
