"""What a step changed in an image's root filesystem, and the layer tar that commits it.

A step's changes are told by each entry's status, never by reading the tree:
every write, ``chmod``, ``chown``, link or rename gives the entry a new
``ctime``, which no program can set back (``utimensat`` sets only the access
and modification times).  So a snapshot of ``(inode, ctime, mtime, size, mode,
links, owner)`` per path before the step and one after are enough: a path
that is new or whose status differs is committed whole, as Docker's overlay
driver commits what a step copied up; a path that is gone becomes a whiteout.

Why not ``umoci repack``, which the builder used before: it tells changes by
hashing every file of the tree on each commit (an mtree manifest), so a step
that writes one file into an 890 MB image (11,000 entries) took 8.7 s to
commit, against 0.11 s here to walk the statuses and write the layer.  umoci still adds the layer
(``umoci raw add-layer``: it compresses, and writes the blob, the config, the
manifest and the index).

The walk holds one folder open at a time and opens each path component with
``O_NOFOLLOW`` from the root down, so a link in the tree is recorded as a link
and never followed, and no depth (``RUN mkdir -p`` of 1,100 levels) makes a path
too long.  Nothing runs in the tree while it is read (a ``RUN`` step's
processes die with its PID namespace; ``COPY`` is this package's own work).

Built by someone other than root, the tree belongs to them, and a step (root
in its namespace) may leave an entry its owner cannot read (``chmod 000``): the
owner adds the read bits for the moment it reads it and puts the mode back, and
such entries are compared without their ``ctime``, which that changes.
"""

from __future__ import annotations

import os
import stat
import tarfile
from typing import BinaryIO

from ..ground.errors import LayerLabError
from ..ground.limits import MAX_ENTRIES
from .removal import OPEN_FOLDER

_FILE = os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC | os.O_NONBLOCK

#: A path's status as a snapshot keeps it: inode, ctime, mtime, size, mode (type and bits), links, uid, gid.
Status = tuple[int, int, int, int, int, int, int, int]


class Snapshot:
    """Every path of a root filesystem (``a/b``, relative) and its :data:`Status`, with the few read by force."""

    def __init__(self, statuses: dict[str, Status], forced: set[str]) -> None:
        self.statuses = statuses
        #: Paths whose owner lacked the read bits: their mode was lent and put back, which changed their ctime.
        self.forced = forced

    @property
    def whole_seconds(self) -> bool:
        """Whether every time here is a whole second: a file system that keeps no finer times.

        There a change made in the second of the snapshot could keep an entry's
        status as it was; a step must start in a later second.
        """
        return bool(self.statuses) and all(status[1] % 1_000_000_000 == 0 for status in self.statuses.values())


def _status(info: os.stat_result) -> Status:
    return (info.st_ino, info.st_ctime_ns, info.st_mtime_ns, info.st_size, info.st_mode, info.st_nlink,
            info.st_uid, info.st_gid)


class _Lender:
    """Where the builder is not root: the read (and search) bits an owner lends itself, and gives back.

    A folder lent its bits keeps them until :meth:`give_back` (its entries are
    read while it is open); a file only while it is opened.  Every path lent
    is kept in :attr:`lent`, since the lending gave it a new ctime.
    """

    def __init__(self, root: int) -> None:
        self.root = root
        self.lent: set[str] = set()
        self._folders: list[tuple[tuple[str, ...], int]] = []  # (path, mode to give back), parents first

    def open_folder(self, parts: tuple[str, ...]) -> int:
        """The folder at ``parts``, opened component by component from the root, never through a link."""
        fd = os.dup(self.root)
        try:
            for depth, name in enumerate(parts):
                try:
                    child = os.open(name, OPEN_FOLDER, dir_fd=fd)
                except PermissionError:
                    self._lend_folder(fd, parts[: depth + 1])
                    child = os.open(name, OPEN_FOLDER, dir_fd=fd)
                os.close(fd)
                fd = child
        except BaseException:
            os.close(fd)
            raise
        return fd

    def entries(self, fd: int, parts: tuple[str, ...]) -> list[tuple[str, os.stat_result]]:
        """The names and statuses of the folder ``fd`` (at ``parts``), links not followed."""
        try:
            return [(entry.name, entry.stat(follow_symlinks=False)) for entry in os.scandir(fd)]
        except PermissionError:
            if not parts:
                raise
            parent = self.open_folder(parts[:-1])
            try:
                self._lend_folder(parent, parts)
            finally:
                os.close(parent)
            return [(entry.name, entry.stat(follow_symlinks=False)) for entry in os.scandir(fd)]

    def open_file(self, parent: int, name: str, path: str) -> int:
        try:
            return os.open(name, _FILE, dir_fd=parent)
        except PermissionError:
            mode = self._own_mode(parent, name)
            os.chmod(name, mode | stat.S_IRUSR, dir_fd=parent)  # not a link (just checked); nothing else runs here
            self.lent.add(path)
            try:
                return os.open(name, _FILE, dir_fd=parent)
            finally:
                os.chmod(name, mode, dir_fd=parent)

    def give_back(self) -> None:
        """Put back the modes of the folders lent bits, deepest first (each reached through its lent parents)."""
        while self._folders:
            parts, mode = self._folders.pop()
            parent = self.open_folder(parts[:-1])
            try:
                os.chmod(parts[-1], mode, dir_fd=parent)
            finally:
                os.close(parent)

    def _own_mode(self, parent: int, name: str) -> int:
        info = os.stat(name, dir_fd=parent, follow_symlinks=False)
        if os.geteuid() == 0 or stat.S_ISLNK(info.st_mode) or info.st_uid != os.geteuid():
            raise LayerLabError(f"`{name}` in the image's filesystem cannot be read to commit it (its owner is "
                                f"uid {info.st_uid}, the builder's is {os.geteuid()})",
                                "the embedded builder's store may need a clean start")
        return info.st_mode & 0o7777

    def _lend_folder(self, parent: int, parts: tuple[str, ...]) -> None:
        mode = self._own_mode(parent, parts[-1])
        os.chmod(parts[-1], mode | stat.S_IRUSR | stat.S_IXUSR, dir_fd=parent)
        self._folders.append((parts, mode))
        self.lent.add("/".join(parts))

    def restat(self, statuses: dict[str, Status]) -> None:
        """Take again the statuses of the paths lent bits (the lending gave them a new ctime)."""
        for path in self.lent:
            head, _, name = path.rpartition("/")
            parent = self.open_folder(tuple(head.split("/")) if head else ())
            try:
                statuses[path] = _status(os.stat(name, dir_fd=parent, follow_symlinks=False))
            finally:
                os.close(parent)


def snapshot(root: str | os.PathLike, max_entries: int = MAX_ENTRIES.default) -> Snapshot:
    """The status of every path under ``root`` (``root`` itself as ``.``): at most ``max_entries`` of them.

    A step that leaves more is refused before its layer is made, as the image
    it would make could not be read (``LAYERLAB_MAX_ENTRIES``).
    """
    root_fd = os.open(root, OPEN_FOLDER)
    # The root's own status too: a step that makes and removes an entry in / changes it, and commits a
    # layer that holds only ``./``, as umoci committed it and Docker commits an empty one.
    statuses: dict[str, Status] = {".": _status(os.fstat(root_fd))}
    lender = _Lender(root_fd)
    try:
        pending: list[tuple[str, ...]] = [()]
        try:
            while pending:
                parts = pending.pop()
                fd = lender.open_folder(parts)
                try:
                    prefix = "/".join(parts) + "/" if parts else ""
                    for name, info in lender.entries(fd, parts):
                        statuses[prefix + name] = _status(info)
                        if len(statuses) > max_entries:
                            raise LayerLabError(
                                f"the image's filesystem holds more than {max_entries:,} entries",
                                f"remove files in the step that makes them, or raise {MAX_ENTRIES.variable} "
                                f"(e.g. {MAX_ENTRIES.variable}={max_entries * 2})")
                        if stat.S_ISDIR(info.st_mode):
                            pending.append((*parts, name))
                finally:
                    os.close(fd)
        finally:
            lender.give_back()
        lender.restat(statuses)
    finally:
        os.close(root_fd)
    return Snapshot(statuses, lender.lent)


def _same(before: Status, after: Status, forced: bool) -> bool:
    """Whether an entry is unchanged: the whole status of a file or a link; a folder's own inode, time, mode, owner.

    A folder's ctime and size move when an entry comes or goes in it, and so does its
    modification time, which is compared: what only its ctime says (a bind mount's
    point made and removed under it, say) is no change of its own, as umoci counted it.
    """
    if stat.S_ISDIR(after[4]):
        return before[0] == after[0] and before[2] == after[2] and before[4] == after[4] and before[6:] == after[6:]
    if forced:  # its ctime is the lending's: compare the rest
        return before[0] == after[0] and before[2:] == after[2:]
    return before == after


def changes(before: Snapshot, after: Snapshot) -> tuple[list[str], list[str]]:
    """The paths new or changed in ``after``, parents first, and the paths gone, each under no other gone path.

    A path gone from inside a folder that is now something else (a file, a
    link) needs no whiteout of its own: the new entry replaces the folder whole.
    """
    forced = before.forced | after.forced
    changed = [path for path, status in after.statuses.items()
               if path not in before.statuses or not _same(before.statuses[path], status, path in forced)]
    changed.sort(key=lambda path: path.split("/"))
    gone = sorted((path for path in before.statuses if path not in after.statuses), key=lambda path: path.split("/"))
    whiteouts: list[str] = []
    covered: str | None = None
    for path in gone:
        if covered is not None and path.startswith(covered + "/"):
            continue
        parent = path.rpartition("/")[0]
        while parent:
            status = after.statuses.get(parent)
            if status is not None and not stat.S_ISDIR(status[4]):
                break  # replaced by a file or a link: gone with it
            parent = parent.rpartition("/")[0]
        else:
            whiteouts.append(path)
        covered = path
    return changed, whiteouts


def write_layer(root: str | os.PathLike, changed: list[str], whiteouts: list[str], out: BinaryIO,
                after: Snapshot | None = None) -> int:
    """Write the layer tar of ``changed`` paths under ``root`` and ``whiteouts`` into ``out`` (uncompressed).

    Returns the layer's size as ``docker history`` counts it: ``Σ size`` over
    its regular files (a hard link adds nothing) ``+ Σ len(target)`` over its
    symbolic links.

    Entries keep their mode, modification time and link targets, and are owned
    by root (every way a step runs commits the same layer: a ``chown`` is not
    kept, as it was not before); files linked to each other are one file and hard links;
    sockets are left out, as Docker leaves them.  Each file is opened without
    following links and checked to be the entry just read.  ``after``, the
    snapshot the changes were told from, learns the paths whose bits were lent.
    """
    root_fd = os.open(root, OPEN_FOLDER)
    lender = _Lender(root_fd)
    inodes: dict[tuple[int, int], str] = {}
    counted = 0
    try:
        try:
            with tarfile.open(fileobj=out, mode="w|", format=tarfile.PAX_FORMAT) as tar:  # a stream: no seeks
                opened: tuple[str, int] | None = None  # the folder last opened: siblings come one after another
                try:
                    for path in changed:
                        head, _, name = path.rpartition("/")
                        if opened is None or opened[0] != head:
                            if opened is not None:
                                os.close(opened[1])
                                opened = None
                            opened = head, lender.open_folder(tuple(head.split("/")) if head else ())
                        counted += _add(tar, lender, opened[1], name, path, inodes)
                finally:
                    if opened is not None:
                        os.close(opened[1])
                for path in whiteouts:
                    head, _, name = path.rpartition("/")
                    info = tarfile.TarInfo(f"{head}/.wh.{name}" if head else f".wh.{name}")
                    info.mode = 0  # as umoci wrote them
                    tar.addfile(info)
        finally:
            lender.give_back()
        if after is not None and lender.lent:
            lender.restat(after.statuses)
            after.forced |= lender.lent
    finally:
        os.close(root_fd)
    return counted


def _add(tar: tarfile.TarFile, lender: _Lender, parent: int, name: str, path: str,
         inodes: dict[tuple[int, int], str]) -> int:
    """Add the entry ``name`` of folder ``parent`` as ``path``; return what it adds to the layer's size."""
    try:
        info = os.stat(name, dir_fd=parent, follow_symlinks=False)
    except FileNotFoundError:
        return 0  # gone since the snapshot: nothing runs in the tree, so only a fault gets here
    member = tarfile.TarInfo(path)
    member.mode = info.st_mode & 0o7777
    member.uid = member.gid = 0  # root for every entry, as umoci's rootless commits recorded it
    member.uname = member.gname = ""
    member.mtime = int(info.st_mtime)
    mode = info.st_mode
    if stat.S_ISDIR(mode):
        member.type = tarfile.DIRTYPE
    elif stat.S_ISLNK(mode):
        member.type = tarfile.SYMTYPE
        member.linkname = os.readlink(name, dir_fd=parent)
    elif stat.S_ISREG(mode):
        key = (info.st_dev, info.st_ino)
        if info.st_nlink > 1 and key in inodes:
            member.type, member.linkname = tarfile.LNKTYPE, inodes[key]
        else:
            if info.st_nlink > 1:
                inodes[key] = path
            member.size = info.st_size
            with os.fdopen(lender.open_file(parent, name, path), "rb") as content:
                opened = os.fstat(content.fileno())
                if (opened.st_dev, opened.st_ino, opened.st_size) != (info.st_dev, info.st_ino, info.st_size):
                    raise OSError(f"`{path}` changed while its layer was written")
                tar.addfile(member, content)
            return member.size
    elif stat.S_ISFIFO(mode):
        member.type = tarfile.FIFOTYPE
    elif stat.S_ISCHR(mode) or stat.S_ISBLK(mode):
        member.type = tarfile.CHRTYPE if stat.S_ISCHR(mode) else tarfile.BLKTYPE
        member.devmajor, member.devminor = os.major(info.st_rdev), os.minor(info.st_rdev)
    else:
        return 0  # a socket: no tar type holds one
    tar.addfile(member)
    return len(member.linkname) if member.type == tarfile.SYMTYPE else 0
