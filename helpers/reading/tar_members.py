"""The members of an outer archive (``docker save``, an OCI archive): names, types, sizes, links and data.

Their headers are read as a layer's are (:mod:`helpers.reading.tar_records`), as Go
reads them: ``docker load`` reads these archives with Go's ``archive/tar``.
"""

from __future__ import annotations

from collections.abc import Iterator

from ..ground.errors import MalformedTar
from .tar_records import MAX_META_BYTES, NO_DATA, REGULAR, headers
from .tar_sparse import pax_sparse

TYPE_CHECKING = False  # typing's own flag would import typing, which a report does not need
if TYPE_CHECKING:
    from .tar_fields import ByteFeed


class Member:
    """One member of an outer archive (``docker save``, an OCI archive), as its headers give it.

    Its data is read with :meth:`read` while :func:`iter_members` is on it, and
    stepped over when it moves on.  The ``is…`` tests are :class:`tarfile.TarInfo`'s.
    """

    __slots__ = ("name", "typeflag", "size", "linkname", "sparse", "_take", "_left")

    def __init__(self, name: str, typeflag: bytes, size: int, linkname: str, sparse: bool, take, data: int) -> None:
        self.name, self.typeflag, self.size, self.linkname, self.sparse = name, typeflag, size, linkname, sparse
        self._take = take
        self._left = data  # its data not yet read

    def read(self, n: int = -1) -> bytes:
        """Up to ``n`` more bytes of its data (all that is left when ``n`` is negative)."""
        n = self._left if n < 0 else min(n, self._left)
        data = self._take(n) if n else b""
        self._left -= len(data)
        return data

    def isreg(self) -> bool:
        return self.typeflag in REGULAR

    def issym(self) -> bool:
        return self.typeflag == b"2"

    def islnk(self) -> bool:
        return self.typeflag == b"1"

    def isdir(self) -> bool:
        return self.typeflag == b"5"

    def ischr(self) -> bool:
        return self.typeflag == b"3"

    def isblk(self) -> bool:
        return self.typeflag == b"4"

    def isfifo(self) -> bool:
        return self.typeflag == b"6"

    def issparse(self) -> bool:
        return self.sparse


def iter_members(feed: ByteFeed, label: str, meta_budget: int = MAX_META_BYTES) -> Iterator[Member]:
    """Yield the members of an outer archive, in order, read as a layer's are (as Go reads them).

    ``docker load`` reads these archives with Go's ``archive/tar`` too. A member's
    data is read through it before the next is asked for; what is not read is
    stepped over.  A sparse member is flagged, its data stepped over unread.
    """
    skip = feed.skip
    for typeflag, name, link, pax, size, stored, padded, _, _, _ in headers(feed, label, meta_budget):
        sparse = typeflag == b"S" or bool(pax) and pax_sparse(pax)
        if typeflag == b"\0" and name.endswith("/"):
            typeflag = b"5"  # an old V7 header's way of saying directory: a header only, as Go reads it
        if typeflag in NO_DATA:
            stored = padded = 0  # as in tarfile and Go, only regular and unknown types carry data
        member = Member(name, typeflag, size, link, sparse, feed.take, 0 if sparse else stored)
        yield member
        rest = member._left + padded - (stored if not sparse else 0)
        if rest and skip(rest) < rest:
            raise MalformedTar(f"{label} ends inside the data of `{name}` ({stored:,} bytes declared)",
                               "the archive is truncated, or a header declares an absurd size")
