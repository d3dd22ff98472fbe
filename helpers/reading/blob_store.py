"""What every way of reading an image shares: where its members come from, and who takes its layers.

A :class:`BlobStore` is one backend's access to an image's members by name
(a tar read in one pass or indexed in a file, a layout folder); a
:class:`LayerConsumer` takes each layer as soon as it is read.  Members are
refused in one line each, with the same words whatever the backend.
"""

from __future__ import annotations

import stat
from collections.abc import Callable

from ..ground.errors import ArchiveError
from ..ground.model import Entry, Layer
from .layer_stream import ScannedLayer

TYPE_CHECKING = False  # typing's own flag would import typing, which a report does not need
if TYPE_CHECKING:
    from .tar_members import Member

#: Members that are not layers are kept in memory only up to this size.
METADATA_LIMIT = 16 * 1024 * 1024


class ConsumerFailed(Exception):
    """Carries an error raised by a :class:`LayerConsumer` past the checks for malformed metadata."""

    def __init__(self, error: BaseException) -> None:
        super().__init__(str(error))
        self.error = error


if TYPE_CHECKING:  # structural types, for type checkers only
    from typing import Protocol

    class LayerConsumer(Protocol):
        """Takes each layer of an image as soon as it is read (see :func:`resolve_image`)."""

        def prepare(self, entries: list[Entry]) -> object:
            """Work on one layer's entries that needs no other layer: runs on the reading thread, in any order."""
            ...

        def __call__(self, layer: Layer, prepared: object) -> None:
            """Take the next layer, base first, with what :meth:`prepare` made of it (``None`` if it did not run)."""
            ...

    class BlobStore(Protocol):
        """Where an image's members come from: a scanned tar stream or a layout directory."""

        def doc(self, name: str) -> bytes | None:
            """A small member's bytes; ``None`` when it is missing, :class:`ArchiveError` when it is refused."""
            ...

        def layer(self, name: str) -> ScannedLayer | None: ...

        def refusal(self, name: str) -> str | None:
            """Why a member that is there is not read (a link out, not a regular file), or ``None``."""
            ...

        def prefetch(self, names: list[str], prepare: Callable[[list[Entry]], object] | None = None) -> None:
            """Scan these layers now, several at once when the store can (a hint; may do nothing).

            ``prepare`` runs on each layer's entries on the scanning thread; its result lands in
            :attr:`ScannedLayer.prepared`.
            """
            ...


def refusal_error(label: str, name: str, why: str) -> ArchiveError:
    return ArchiveError(f"`{name}` in {label} is {why}",
                        "the archive is malformed or hostile; save or export the image again")


def too_big_error(label: str, name: str, size: int) -> ArchiveError:
    return ArchiveError(
        f"`{name}` in {label} is {size:,} bytes, past the {METADATA_LIMIT:,}-byte limit for metadata (refused)",
        "image metadata is a few KiB: the archive is malformed or hostile; save or export the image again",
    )


def not_regular(mode_or_member: int | Member) -> str:
    """What a member that is not a regular file is, for a message: ``a directory, not a regular file``."""
    if not isinstance(mode_or_member, int):
        member = mode_or_member
        kind = ("a directory" if member.isdir() else "a character device" if member.ischr()
                else "a block device" if member.isblk() else "a FIFO" if member.isfifo() else "a special member")
    else:
        mode = mode_or_member
        kind = ("a directory" if stat.S_ISDIR(mode) else "a character device" if stat.S_ISCHR(mode)
                else "a block device" if stat.S_ISBLK(mode) else "a FIFO" if stat.S_ISFIFO(mode)
                else "a socket" if stat.S_ISSOCK(mode) else "a special file")
    return f"{kind}, not a regular file (refused)"
