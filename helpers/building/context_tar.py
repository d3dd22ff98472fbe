"""The build context as the Docker CLI sends it to the engine: one tar, what ``.dockerignore`` leaves out left out.

The Docker SDK packs a context itself, but its walk recurses once per folder
(a context 1,100 folders deep is a ``RecursionError``), its matcher backtracks
(``**/**/**/…`` took over a minute), and it reads ``.dockerignore`` and every
file by name, following whatever is there now: a FIFO hangs it, a link to
an endless device fills memory.  So the tar is written here, from the same walk the
embedded builder copies with (:func:`helpers.building.placement.walk_source`:
by descriptors, links never followed, any depth) and the same matcher
(:mod:`helpers.ground.dockerignore`).  Each file is opened, then checked on its
descriptor (a regular file, never blocking), and exactly the size seen is sent.

What the CLI does around ``.dockerignore`` is done the same way: the
Dockerfile and ``.dockerignore`` are always sent (the engine removes them
again when ``.dockerignore`` names them), and a Dockerfile from outside the
context goes in under a random name that ``.dockerignore`` then lists.
"""

from __future__ import annotations

import os
import secrets
import stat
import tarfile
import time
from io import BytesIO
from pathlib import Path
from typing import BinaryIO

from ..ground.dockerignore import NAME as DOCKERIGNORE
from ..ground.dockerignore import Dockerignore, parse_lines, read_dockerignore_text
from ..ground.errors import DockerfileError
from .placement import Rootfs, SourceEntry, walk_source

_CHUNK = 1 << 20


def _header(entry: SourceEntry, name: str) -> tarfile.TarInfo:
    info = entry.info
    member = tarfile.TarInfo(name)
    member.mode = stat.S_IMODE(info.st_mode)
    member.mtime = int(info.st_mtime) if 0 <= info.st_mtime < 8**11 else 0
    member.uid = member.gid = 0  # as the CLI sends a context: owned by root
    member.uname = member.gname = ""
    if entry.kind == "dir":
        member.type = tarfile.DIRTYPE
    elif entry.kind == "symlink":
        member.type, member.linkname = tarfile.SYMTYPE, entry.target
    elif stat.S_ISFIFO(info.st_mode):
        member.type = tarfile.FIFOTYPE
    elif stat.S_ISCHR(info.st_mode) or stat.S_ISBLK(info.st_mode):
        member.type = tarfile.CHRTYPE if stat.S_ISCHR(info.st_mode) else tarfile.BLKTYPE
        member.devmajor, member.devminor = os.major(info.st_rdev), os.minor(info.st_rdev)
    return member


class _Exactly:
    """``size`` bytes of the regular file ``name`` in folder ``parent``: opened, then checked, never blocking."""

    def __init__(self, parent: int, name: str, size: int, shown: str) -> None:
        self._fd = os.open(name, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC, dir_fd=parent)
        if not stat.S_ISREG(os.fstat(self._fd).st_mode):
            os.close(self._fd)
            raise DockerfileError(f"the build context's {shown} stopped being a regular file while it was packed",
                                  "leave the context alone while it builds")
        self._left, self._shown = size, shown

    def read(self, size: int = -1) -> bytes:
        wanted = self._left if size < 0 else min(size, self._left)
        data = os.read(self._fd, wanted) if wanted else b""
        if wanted and not data:
            raise DockerfileError(f"the build context's {self._shown} shrank while it was packed",
                                  "leave the context alone while it builds")
        self._left -= len(data)
        return data

    def close(self) -> None:
        os.close(self._fd)


def write_context(context: Path, out: BinaryIO, dockerfile: str | None, dockerfile_text: str | None) -> str:
    """Write ``context`` as a tar to ``out``, as ``docker build`` sends it; return the Dockerfile's name in it.

    ``dockerfile`` is the Dockerfile's path relative to the context when it lies
    inside; otherwise ``dockerfile_text`` is sent under a new random name.
    """
    text = read_dockerignore_text(context)
    patterns = list(parse_lines(text)) if text is not None else []
    matcher = Dockerignore(patterns) if patterns else None
    if matcher is not None:  # what the CLI keeps whatever .dockerignore says: the engine needs both
        if matcher.excluded(DOCKERIGNORE):
            patterns.append("!" + DOCKERIGNORE)
        if dockerfile is not None and matcher.excluded(dockerfile):
            patterns.append("!" + dockerfile)
        matcher = Dockerignore(patterns)
    extra: dict[str, bytes] = {}
    if dockerfile is None:
        dockerfile = f".dockerfile.{secrets.token_hex(10)}"
        extra[dockerfile] = (dockerfile_text or "").encode("utf-8", "surrogateescape")
    with tarfile.open(fileobj=out, mode="w", format=tarfile.PAX_FORMAT) as tar, Rootfs(context) as tree:
        first: dict[tuple[int, int], str] = {}
        for entry in walk_source(tree, ".", matcher):
            if entry.relative == "" or entry.kind == "other" and stat.S_ISSOCK(entry.info.st_mode):
                continue  # the context's own folder, and sockets, which a tar cannot hold
            member = _header(entry, entry.relative)
            if entry.kind == "file" and entry.relative == DOCKERIGNORE and extra:
                continue  # rewritten below, with the Dockerfile's random name added
            if entry.kind != "file":
                tar.addfile(member)
                continue
            key = (entry.info.st_dev, entry.info.st_ino)
            if entry.info.st_nlink > 1 and key in first:
                member.type, member.linkname = tarfile.LNKTYPE, first[key]
                tar.addfile(member)
                continue
            first[key] = entry.relative
            member.size = entry.info.st_size
            stream = _Exactly(entry.parent, entry.name, member.size, entry.relative)
            try:
                tar.addfile(member, stream)  # type: ignore[arg-type]
            finally:
                stream.close()
        if extra:
            listing = text if text is not None else DOCKERIGNORE
            extra[DOCKERIGNORE] = (listing + "\n" + dockerfile + "\n").encode("utf-8", "surrogateescape")
            for name, data in extra.items():
                member = tarfile.TarInfo(name)
                member.mode, member.mtime, member.size = 0o600, int(time.time()), len(data)
                tar.addfile(member, BytesIO(data))
    return dockerfile
