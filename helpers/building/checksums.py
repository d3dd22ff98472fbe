"""A rootfs tarball checked against the ``SHA256SUMS`` beside it: the one place both engines and ``helpers base`` do it.

Alpine publishes a ``SHA256SUMS`` with its minirootfs tarballs.  When a folder
of ``LAYERLAB_ROOTFS`` holds one, every tarball taken from that folder must be
listed in it and match it: a listing that leaves the tarball out is an error,
not a pass.  Names are read the way ``sha256sum`` writes them (``HEX  NAME``,
``HEX *NAME``, ``./NAME``) and the BSD form ``sha256sum --tag`` writes
(``SHA256 (NAME) = HEX``).  The list is read as a regular file of at most
:data:`MAX_SUMS_BYTES`, opened first and checked on its descriptor, so a FIFO,
a device or a huge sparse file named ``SHA256SUMS`` costs nothing.

The tarball is read once, and what was hashed is what is used:
:func:`verified_copy` copies it while hashing, so a file changed after the
check cannot reach an image.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import posixpath
import re
import stat
from pathlib import Path

from ..ground.errors import LayerLabError
from ..ground.small_files import SmallFileRefused, read_small_file

SUMS_NAME = "SHA256SUMS"
#: The most bytes a ``SHA256SUMS`` may hold: a line a release, and releases are few.
MAX_SUMS_BYTES = 1 << 20
_GNU = re.compile(r"([0-9a-fA-F]{64}) [ *](.+)")
_BSD = re.compile(r"SHA256 \((.+)\) = ([0-9a-fA-F]{64})")
_CHUNK = 1 << 20


class ChecksumMismatch(LayerLabError):
    """A tarball is not what the ``SHA256SUMS`` beside it says, or that list does not vouch for it."""


def _normalised(name: str) -> str:
    return posixpath.normpath(name.strip()).removeprefix("./")


def _read_list(sums: Path) -> str | None:
    """The text of ``sums``, or ``None`` when there is none; a clear error for anything but a small UTF-8 file."""
    try:
        data = read_small_file(sums, MAX_SUMS_BYTES)
    except SmallFileRefused as refused:
        raise ChecksumMismatch(f"{sums} {refused.why}", f"replace it with the release's {SUMS_NAME}") from None
    if data is None:
        return None
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise ChecksumMismatch(f"{sums} is not UTF-8 text (byte {exc.start:,})",
                               f"replace it with the release's {SUMS_NAME}") from exc


def expected_digest(tarball: Path) -> str | None:
    """The sha256 the ``SHA256SUMS`` beside ``tarball`` gives it, lower-case; ``None`` when there is no such list.

    A list that exists but does not name ``tarball`` is a :class:`ChecksumMismatch`.
    """
    sums = tarball.parent / SUMS_NAME
    text = _read_list(sums)
    if text is None:
        return None
    for line in text.splitlines():
        line = line.strip()
        if gnu := _GNU.fullmatch(line):
            digest, name = gnu.group(1), gnu.group(2)
        elif bsd := _BSD.fullmatch(line):
            name, digest = bsd.group(1), bsd.group(2)
        else:
            continue
        if _normalised(name) == tarball.name:
            return digest.lower()
    raise ChecksumMismatch(f"{tarball.name} is not listed in the {SUMS_NAME} beside it",
                           f"add its line (`sha256sum {tarball.name} >> {SUMS_NAME}` in that folder, from a copy you "
                           f"trust), or keep the tarball in a folder without a {SUMS_NAME}")


def verified_copy(tarball: Path, into: Path | None = None) -> Path | None:
    """Check ``tarball`` against its ``SHA256SUMS`` (if any), reading it once; with ``into``, copy what was checked.

    ``into`` is a new file's path: written while hashing, and removed again if the
    digest does not match.  Returns ``into``.
    """
    wanted = expected_digest(tarball)
    if wanted is None and into is None:
        return None
    digest = hashlib.sha256()
    try:
        fd = os.open(tarball, os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC)
    except OSError as exc:
        raise ChecksumMismatch(f"{tarball} cannot be read: {exc.strerror}", "check the tarball") from exc
    if not stat.S_ISREG(os.fstat(fd).st_mode):
        os.close(fd)
        raise ChecksumMismatch(f"{tarball} is not a regular file", "give a rootfs tarball")
    with open(fd, "rb") as source:
        with open(into, "xb") if into is not None else contextlib.nullcontext() as out:
            while chunk := source.read(_CHUNK):
                digest.update(chunk)
                if out is not None:
                    out.write(chunk)
    if wanted is not None and digest.hexdigest() != wanted:
        if into is not None:
            into.unlink(missing_ok=True)
        raise ChecksumMismatch(f"{tarball} does not match its {SUMS_NAME} (sha256 {digest.hexdigest()[:12]}…, "
                               f"listed {wanted[:12]}…)", "download the tarball again")
    return into
