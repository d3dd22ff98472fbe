"""A small file a user hands over (``SHA256SUMS``, ``.dockerignore``): opened first, then checked, never blocking.

The descriptor decides, not a look at the path beforehand: what is read is a
regular file of at most the caller's limit, so a FIFO, a device, a link to
a device that never ends, or a huge sparse file under that name costs nothing.
"""

from __future__ import annotations

import errno
import os
import stat


class SmallFileRefused(Exception):
    """Why a small file was not read, in words that follow its name (``is not a regular file``)."""

    def __init__(self, why: str) -> None:
        super().__init__(why)
        self.why = why


def read_small_file(name: str | os.PathLike, limit: int, *, dir_fd: int | None = None,
                    follow: bool = True) -> bytes | None:
    """The bytes of the regular file ``name`` (relative to ``dir_fd`` if given); ``None`` when there is none.

    Past ``limit`` bytes, not a regular file, unreadable, or (with ``follow=False``) a link: :class:`SmallFileRefused`.
    """
    flags = os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC | (0 if follow else os.O_NOFOLLOW)
    try:
        fd = os.open(name, flags, dir_fd=dir_fd)
    except FileNotFoundError:
        return None
    except OSError as exc:
        if exc.errno == errno.ELOOP and not follow:
            raise SmallFileRefused("is a link, which could point anywhere") from exc
        raise SmallFileRefused(f"cannot be read: {exc.strerror}") from exc
    info = os.fstat(fd)
    if not stat.S_ISREG(info.st_mode):
        os.close(fd)
        raise SmallFileRefused("is not a regular file")
    with open(fd, "rb") as stream:
        if info.st_size > limit:
            raise SmallFileRefused(f"holds {info.st_size:,} bytes, more than {limit:,}")
        return stream.read(limit + 1)[:limit]
