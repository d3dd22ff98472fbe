"""Remove a folder the builder made, and everything in it: by descriptors, never through a link, at any depth.

``shutil.rmtree`` would do, but on this Python (3.11) it recurses once per
folder level, so a tree 1,100 folders deep (one ``RUN mkdir -p`` makes it) is
a ``RecursionError``, and a scratch folder that cannot be removed breaks every
later build on the store.  This walk keeps its own stack instead, and holds
one descriptor at a time: it goes down with ``openat(O_NOFOLLOW)`` and back up
through ``..``, checking that the folder it climbs to is the one it came from,
so a folder swapped for a link while it works is refused, not followed.
A rootless unpack leaves folders its user may not write: each is made
writable (to its owner) before its entries go.
"""

from __future__ import annotations

import os
import stat
from dataclasses import dataclass, field

#: The flags that open a folder and never a link: a walk that opens each component with them is never led out.
OPEN_FOLDER = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC


@dataclass
class _Level:
    """One folder on the way down: its name in its parent, its parent's identity, and its sub-folders left."""

    name: str
    parent: tuple[int, int]
    folders: list[str] = field(default_factory=list)


def _identity(fd: int) -> tuple[int, int]:
    info = os.fstat(fd)
    return info.st_dev, info.st_ino


def _empty_of_files(fd: int) -> list[str]:
    """Unlink every entry of the folder ``fd`` that is not a folder; return the names of those that are."""
    mode = os.fstat(fd).st_mode
    if os.geteuid() != 0 and mode & stat.S_IRWXU != stat.S_IRWXU:
        os.fchmod(fd, (mode & 0o7777) | stat.S_IRWXU)
    folders = []
    with os.scandir(fd) as entries:
        for entry in entries:
            if entry.is_dir(follow_symlinks=False):
                folders.append(entry.name)
            else:
                os.unlink(entry.name, dir_fd=fd)
    return folders


def remove_tree_at(parent: int, name: str) -> None:
    """Remove the folder ``name`` of the folder open at ``parent``, with all it holds; links are removed, not followed.

    Raises ``OSError`` when something cannot be removed, or when a folder on
    the way was replaced while the walk was below it.
    """
    fd = os.open(name, OPEN_FOLDER, dir_fd=parent)
    try:
        levels = [_Level(name, _identity(parent), _empty_of_files(fd))]
        while levels:
            level = levels[-1]
            if level.folders:
                child = level.folders.pop()
                here = _identity(fd)
                below = os.open(child, OPEN_FOLDER, dir_fd=fd)
                os.close(fd)
                fd = below
                levels.append(_Level(child, here, _empty_of_files(fd)))
                continue
            levels.pop()
            above = os.open("..", OPEN_FOLDER, dir_fd=fd)
            os.close(fd)
            fd = above
            if _identity(fd) != level.parent:
                raise OSError(f"the folder holding {level.name!r} was moved while it was being removed")
            os.rmdir(level.name, dir_fd=fd)
    finally:
        os.close(fd)


def remove_tree(path: str | os.PathLike) -> None:
    """Remove the folder at ``path`` (its last component is never followed if a link) and all it holds."""
    path = os.fspath(path)
    parent = os.open(os.path.dirname(path) or ".", os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    try:
        remove_tree_at(parent, os.path.basename(path))
    finally:
        os.close(parent)
