"""Place files in an image's root filesystem without ever reaching outside it.

The embedded builder's ``COPY`` and ``ADD`` write into a rootfs folder on the
host.  Its symbolic links were made by the image (its base, an ``ADD``-ed
archive, a ``RUN`` step), so they mean paths *inside the image*: followed by
the host, a link to ``/etc`` is the host's ``/etc``.  So no path is ever
handed to the host to resolve.  :class:`Rootfs` resolves each one the way the
image's own kernel would under ``chroot``: one component at a time, holding a
descriptor of every directory reached, each opened ``O_NOFOLLOW`` relative to
its parent.  An absolute link restarts at the rootfs, ``..`` stops at it, and
files are made relative to their parent's descriptor with ``O_EXCL |
O_NOFOLLOW``: a name already there is removed first, never written through.
Hard links are made with ``linkat`` between two names resolved that way, so
both ends are inside.  Nothing is chown-ed: files belong to the builder's user
(umoci records them as root), as Docker's ``COPY`` makes them root's.

Archives (``ADD x.tar.gz``) are read with :mod:`tarfile`, one member at a time
as a stream, and each member first passes tarfile's ``data`` filter (no
absolute or escaping names, no links out, no device files, no set-id bits, no
owners).  One difference, on purpose: a *symbolic* link's target is kept as
the archive says (``/bin/busybox``), as Docker keeps it, because here a target
is only ever resolved inside the rootfs.  The filter is a second line of
defence, not the boundary: the boundary is the resolution above, which does
not depend on the filter's own checks (Python 3.11 predates their 2025 fixes).

What the ``ADD`` steps of one build may write is a budget
(:data:`helpers.ground.limits.MAX_ADD_BYTES` and :data:`~helpers.ground.limits.MAX_ADD_ENTRIES`):
a 14 MB tar bomb stops at the ceiling with one error, not at a full disk.

This bounds ``COPY`` and ``ADD`` only.  A ``RUN`` step runs under proot,
which is **not a security boundary**: it runs with your user's rights.
"""

from __future__ import annotations

import contextlib
import errno
import os
import posixpath
import stat
import tarfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

from ..ground.dockerignore import Dockerignore
from ..ground.errors import DockerfileError, LayerLabError
from ..ground.limits import MAX_ADD_BYTES, MAX_ADD_ENTRIES
from .removal import OPEN_FOLDER, remove_tree_at

_NEW_FILE = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC
_READ_FILE = os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC
#: The most symbolic links one path may pass through, as Linux's ``MAXSYMLINKS``.
MAX_LINKS = 40
_CHUNK = 1 << 20


class PlacementRefused(DockerfileError):
    """A ``COPY`` or ``ADD`` would need a path the image's filesystem cannot give (a file where a folder must be)."""


class AddBudgetExceeded(LayerLabError):
    """The ``ADD`` steps of one build would write more than its budget allows (a tar bomb?)."""


def _components(path: str) -> list[str]:
    return [part for part in path.split("/") if part not in ("", ".")]


@dataclass
class Resolved:
    """Where a path landed: a descriptor of its parent folder (the caller closes it) and its last name.

    ``name`` is ``""`` when the path is a folder reached whole (the root, or
    after ``..``); then ``parent`` is that folder itself.  ``path`` is the
    in-image path reached, without a leading ``/``.
    """

    parent: int
    name: str
    path: str


class Rootfs:
    """A folder treated as an image's ``/``: every path given is resolved inside it, never by the host."""

    def __init__(self, root: str | os.PathLike) -> None:
        self.root = Path(root)
        try:
            self._fd = os.open(self.root, OPEN_FOLDER)
        except OSError as exc:
            raise LayerLabError(f"cannot open the image's filesystem {self.root}: {exc.strerror}",
                                "the embedded builder's store may need a clean start") from exc
        self._privileged = os.geteuid() == 0

    def close(self) -> None:
        if self._fd >= 0:
            os.close(self._fd)
            self._fd = -1

    def __enter__(self) -> Rootfs:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # ---------------------------------------------------------- resolving
    def resolve(self, path: str, *, follow_last: bool, create: bool = False) -> Resolved:
        """Resolve ``path`` inside the root, links included, as ``chroot`` would.

        Every component but the last must be a folder (made, mode 0755, when
        ``create``); the last is followed too when ``follow_last``.
        """
        pending = list(reversed(_components(path)))
        stack: list[tuple[int, str]] = []
        links = 0
        try:
            while pending:
                name = pending.pop()
                if name == "..":
                    if stack:
                        os.close(stack.pop()[0])
                    continue
                here = stack[-1][0] if stack else self._fd
                last = not pending
                info = _lstat(here, name)
                if info is not None and stat.S_ISLNK(info.st_mode) and (follow_last or not last):
                    links += 1
                    if links > MAX_LINKS:
                        raise PlacementRefused(f"/{path} passes through more than {MAX_LINKS} symbolic links",
                                               "the image has a loop of links; fix them")
                    target = os.readlink(name, dir_fd=here)
                    if target.startswith("/"):
                        while stack:
                            os.close(stack.pop()[0])
                    pending.extend(reversed(_components(target)))
                    continue
                if last:
                    return Resolved(os.dup(here), name, "/".join([n for _, n in stack] + [name]))
                if info is None:
                    if not create:
                        raise FileNotFoundError(errno.ENOENT, "no such file or directory", "/" + path.lstrip("/"))
                    self._mkdir(here, name)
                elif not stat.S_ISDIR(info.st_mode):
                    inside = "/".join([n for _, n in stack] + [name])
                    raise PlacementRefused(f"/{path} needs /{inside} to be a folder, but it is a file",
                                           "copy to a path whose parents are folders")
                stack.append((os.open(name, OPEN_FOLDER, dir_fd=here), name))
            here = stack[-1][0] if stack else self._fd
            return Resolved(os.dup(here), "", "/".join(n for _, n in stack))
        finally:
            for fd, _ in stack:
                os.close(fd)

    def _mkdir(self, parent: int, name: str, mode: int = 0o755) -> None:
        with _writable(parent):
            try:
                os.mkdir(name, mode, dir_fd=parent)
            except FileExistsError:
                pass

    @contextlib.contextmanager
    def _entered(self, path: str, *, follow_last: bool, create: bool) -> Iterator[Resolved]:
        where = self.resolve(path, follow_last=follow_last, create=create)
        try:
            yield where
        finally:
            os.close(where.parent)

    def kind(self, path: str) -> str | None:
        """``dir``, ``file``, ``symlink`` or ``other`` for ``path`` (links followed inside), ``None`` if missing."""
        try:
            with self._entered(path, follow_last=True, create=False) as where:
                if not where.name:
                    return "dir"
                info = _lstat(where.parent, where.name)
        except (FileNotFoundError, PlacementRefused):
            return None
        return None if info is None else _kind(info.st_mode)

    def directory(self, path: str) -> int:
        """A descriptor of the folder at ``path``, made with its parents when missing (links followed inside)."""
        with self._entered(path, follow_last=True, create=True) as where:
            if not where.name:
                return os.dup(where.parent)
            self._mkdir(where.parent, where.name)
            try:
                return os.open(where.name, OPEN_FOLDER, dir_fd=where.parent)
            except OSError as exc:
                raise PlacementRefused(f"/{where.path} is not a folder", "copy into a folder") from exc

    def read(self, path: str, limit: int) -> bytes | None:
        """The first ``limit`` bytes of the regular file at ``path`` (links followed inside); ``None`` if none."""
        try:
            with self._entered(path, follow_last=True, create=False) as where:
                fd = os.open(where.name or ".", _READ_FILE, dir_fd=where.parent)
        except (OSError, PlacementRefused):
            return None
        try:
            return os.read(fd, limit) if stat.S_ISREG(os.fstat(fd).st_mode) else None
        finally:
            os.close(fd)

    # ---------------------------------------------------------- making
    def _clear(self, where: Resolved, *, replacing_with_dir: bool) -> None:
        """Remove what is at ``where`` so a new entry can take its name (a folder stays for a folder)."""
        info = _lstat(where.parent, where.name)
        if info is None or (replacing_with_dir and stat.S_ISDIR(info.st_mode)):
            return
        with _writable(where.parent):
            if stat.S_ISDIR(info.st_mode):
                remove_tree_at(where.parent, where.name)
            else:
                os.unlink(where.name, dir_fd=where.parent)

    def _named(self, path: str) -> Resolved:
        where = self.resolve(path, follow_last=False, create=True)
        if not where.name:
            os.close(where.parent)
            raise PlacementRefused(f"/{path} names a folder, not a file", "give a file name")
        return where

    def write(self, path: str, chunks: Iterator[bytes], mode: int, mtime: float | None = None) -> int:
        """Make a regular file at ``path`` from ``chunks``; return the bytes written."""
        where = self._named(path)
        try:
            self._clear(where, replacing_with_dir=False)
            with _writable(where.parent):
                fd = os.open(where.name, _NEW_FILE, 0o600, dir_fd=where.parent)
            try:
                written = 0
                for chunk in chunks:
                    view = memoryview(chunk)
                    while view:
                        done = os.write(fd, view)
                        view = view[done:]
                        written += done
                os.fchmod(fd, mode & 0o7777)
                if mtime is not None:
                    os.utime(fd, (mtime, mtime))
            finally:
                os.close(fd)
            return written
        finally:
            os.close(where.parent)

    def symlink(self, path: str, target: str, mtime: float | None = None) -> None:
        """Make a symbolic link at ``path`` whose target is ``target``, kept as it is (the image's own content)."""
        where = self._named(path)
        try:
            self._clear(where, replacing_with_dir=False)
            with _writable(where.parent):
                os.symlink(target, where.name, dir_fd=where.parent)
            if mtime is not None:
                os.utime(where.name, (mtime, mtime), dir_fd=where.parent, follow_symlinks=False)
        finally:
            os.close(where.parent)

    def hardlink(self, path: str, existing: str) -> None:
        """Make ``path`` a second name of the non-folder at ``existing`` (which is not followed if a link)."""
        try:
            source = self.resolve(existing, follow_last=False)
        except (FileNotFoundError, NotADirectoryError) as exc:
            raise PlacementRefused(f"a hard link to /{existing.lstrip('/')}, which is not in the image",
                                   "an archive may only hard-link to a file it placed earlier") from exc
        try:
            info = _lstat(source.parent, source.name) if source.name else None
            if info is None or stat.S_ISDIR(info.st_mode):
                raise PlacementRefused(f"a hard link to /{existing.lstrip('/')}, which is not a file in the image",
                                       "an archive may only hard-link to a file it placed earlier")
            where = self._named(path)
            try:
                self._clear(where, replacing_with_dir=False)
                with _writable(where.parent):
                    os.link(source.name, where.name, src_dir_fd=source.parent, dst_dir_fd=where.parent,
                            follow_symlinks=False)
            finally:
                os.close(where.parent)
        finally:
            os.close(source.parent)

    def folder(self, path: str) -> str:
        """Make sure ``path`` is a folder (made with its parents; links followed inside); return its in-image path."""
        with self._entered(path, follow_last=True, create=True) as where:
            if where.name:
                info = _lstat(where.parent, where.name)
                if info is not None and not stat.S_ISDIR(info.st_mode):
                    raise PlacementRefused(f"/{where.path} is a file, not a folder", "copy into a folder")
                self._mkdir(where.parent, where.name)
            return where.path

    def mkdir(self, path: str) -> str:
        """Make the folder at ``path`` (a non-folder there is replaced); return its in-image path."""
        where = self.resolve(path, follow_last=False, create=True)
        try:
            if where.name:
                self._clear(where, replacing_with_dir=True)
                self._mkdir(where.parent, where.name)
            return where.path
        finally:
            os.close(where.parent)

    def mount_point(self, path: str, kind: str) -> tuple[str, list[str]]:
        """Make sure a ``kind`` (``dir`` or ``file``) is at ``path`` for a mount, links followed inside.

        Returns the in-image path reached (no link in it) and the in-image paths
        this call made, parents first: the stubs :meth:`remove_stub` takes away
        again after the step.  An existing folder (or file) is used as it is.
        """
        made: list[str] = []
        parts = _components(path)
        for count in range(1, len(parts)):
            prefix = "/".join(parts[:count])
            if self.kind(prefix) is None:
                made.append(self.folder(prefix))
        existing = self.kind(path)
        if existing not in (None, kind):
            wanted = "folder" if kind == "dir" else "file"
            raise PlacementRefused(f"/{path} is a {existing}, where a {wanted} must be mounted",
                                   f"mount a {'folder' if existing == 'dir' else 'file'} there, or mount elsewhere")
        if kind == "dir":
            reached = self.folder(path)
        else:
            with self._entered(path, follow_last=True, create=True) as where:
                if existing is None:
                    with _writable(where.parent):
                        os.close(os.open(where.name, _NEW_FILE, 0o644, dir_fd=where.parent))
                reached = where.path
        if existing is None:
            made.append(reached)
        return reached, made

    def remove_stub(self, path: str) -> None:
        """Remove the empty folder or empty file :meth:`mount_point` made at ``path``, if it is still that.

        Nothing is removed when ``path`` now passes through a link (a step may
        have swapped a folder for one), or holds anything: only the stub itself.
        """
        try:
            where = self.resolve(path, follow_last=False, create=False)
        except (FileNotFoundError, PlacementRefused):
            return
        try:
            if where.path != path.strip("/") or not where.name:
                return
            info = _lstat(where.parent, where.name)
            with _writable(where.parent), contextlib.suppress(OSError):
                if info is not None and stat.S_ISDIR(info.st_mode):
                    os.rmdir(where.name, dir_fd=where.parent)  # only an empty one goes
                elif info is not None and stat.S_ISREG(info.st_mode) and info.st_size == 0:
                    os.unlink(where.name, dir_fd=where.parent)
        finally:
            os.close(where.parent)

    def set_mode(self, path: str, mode: int, mtime: float | None = None) -> None:
        """Set the mode (and mtime) of the folder at in-image ``path``; quietly nothing if it is gone."""
        with contextlib.suppress(FileNotFoundError, PlacementRefused, NotADirectoryError):
            fd = self.directory(path)
            try:
                os.fchmod(fd, mode & 0o7777)
                if mtime is not None:
                    os.utime(fd, (mtime, mtime))
            finally:
                os.close(fd)


def _lstat(parent: int, name: str) -> os.stat_result | None:
    try:
        return os.stat(name, dir_fd=parent, follow_symlinks=False)
    except FileNotFoundError:
        return None


def _kind(mode: int) -> str:
    if stat.S_ISDIR(mode):
        return "dir"
    if stat.S_ISREG(mode):
        return "file"
    if stat.S_ISLNK(mode):
        return "symlink"
    return "other"


@contextlib.contextmanager
def _writable(parent: int) -> Iterator[None]:
    """Let the builder's own user write in ``parent`` for a moment (a rootless unpack keeps read-only folders)."""
    mode = os.fstat(parent).st_mode
    wanted = stat.S_IWUSR | stat.S_IXUSR
    if os.geteuid() == 0 or mode & wanted == wanted:
        yield
        return
    os.fchmod(parent, (mode & 0o7777) | wanted)
    try:
        yield
    finally:
        os.fchmod(parent, mode & 0o7777)


# ---------------------------------------------------------------- reading sources


@dataclass
class SourceEntry:
    """One thing to copy: its name relative to the copied root, and how to read it."""

    relative: str
    kind: str  # "dir", "file", "symlink", "other"
    info: os.stat_result
    target: str = ""  # a symlink's target
    parent: int = -1  # for a file: the descriptor of its folder
    name: str = ""

    def chunks(self) -> Iterator[bytes]:
        fd = os.open(self.name, _READ_FILE, dir_fd=self.parent)
        try:
            while chunk := os.read(fd, _CHUNK):
                yield chunk
        finally:
            os.close(fd)


def walk_source(source: Rootfs, path: str, ignore: Dockerignore | None = None) -> Iterator[SourceEntry]:
    """Everything at ``path`` of ``source`` (links followed inside it, as Docker follows a ``COPY`` source).

    A folder yields itself (``relative == ""``) and then what it holds, parents
    first; a file or an other thing yields itself.  Links below ``path`` are
    yielded as links, never followed.  Raises ``FileNotFoundError`` when there
    is nothing at ``path``.  With ``ignore`` (the build context's
    ``.dockerignore``), what it excludes is left out, as Docker leaves it out of
    the context: an excluded folder is not walked unless an exception names
    something below it.  The walk keeps its own stack: any depth is fine.
    """
    where = source.resolve(path, follow_last=True)
    try:
        name = where.name or "."
        info = os.stat(name, dir_fd=where.parent, follow_symlinks=False)
        state = ignore.state(where.path) if ignore is not None and where.path else None
        if ignore is not None and state is not None and ignore.verdict(state):
            if not stat.S_ISDIR(info.st_mode) or not ignore.must_descend(where.path):
                return
        if not stat.S_ISDIR(info.st_mode):
            yield SourceEntry("", _kind(info.st_mode), info, parent=where.parent, name=name)
            return
        top = os.open(name, OPEN_FOLDER, dir_fd=where.parent)
        try:
            yield SourceEntry("", "dir", info)
            yield from _walk_folder(top, where.path, ignore, state)
        finally:
            os.close(top)
    finally:
        os.close(where.parent)


def _walk_folder(top: int, at: str, ignore: Dockerignore | None,
                 state: tuple[bool, ...] | None) -> Iterator[SourceEntry]:
    """What folder ``top`` holds, parents first; ``at`` is its path in the context, ``state`` its ignore state."""
    pending: list[tuple[int, str, tuple[bool, ...] | None]] = []
    try:
        pending.append((os.dup(top), "", state))
        while pending:
            fd, here, above = pending.pop()
            try:
                for entry in sorted(os.scandir(fd), key=lambda e: e.name):
                    relative = f"{here}/{entry.name}" if here else entry.name
                    info = entry.stat(follow_symlinks=False)
                    kind = _kind(info.st_mode)
                    mine, excluded = None, False
                    if ignore is not None:
                        context_path = f"{at}/{relative}" if at else relative
                        mine = ignore.state(context_path, above)
                        excluded = ignore.verdict(mine)
                        if excluded and (kind != "dir" or not ignore.must_descend(context_path)):
                            continue
                    if kind == "dir":
                        if not excluded:
                            yield SourceEntry(relative, "dir", info)
                        pending.append((os.open(entry.name, OPEN_FOLDER, dir_fd=fd), relative, mine))
                    elif kind == "symlink":
                        yield SourceEntry(relative, kind, info, target=os.readlink(entry.name, dir_fd=fd))
                    else:
                        yield SourceEntry(relative, kind, info, parent=fd, name=entry.name)
            finally:
                os.close(fd)
    finally:
        for fd, _, _ in pending:
            os.close(fd)


# ---------------------------------------------------------------- COPY


def copy_into(rootfs: Rootfs, source: Rootfs, path: str, target: str, into: bool,
              ignore: Dockerignore | None = None) -> None:
    """Copy ``path`` of ``source`` to in-image ``target`` (``into``: as ``target/<name>``; a folder's contents go in).

    Modes and mtimes are kept; hard links inside a copied tree stay hard links
    (a file's second name links to its first copy), as Docker's ``COPY`` keeps them.
    ``ignore``: the build context's ``.dockerignore`` (see :func:`walk_source`).
    """
    first: dict[tuple[int, int], str] = {}
    folders: list[tuple[str, SourceEntry]] = []
    for entry in walk_source(source, path, ignore):
        if entry.relative == "" and entry.kind == "dir":
            target = rootfs.folder(target)
            folders.append((target, entry))
            continue
        if entry.relative == "":
            destination = f"{target}/{posixpath.basename(path.rstrip('/')) or 'file'}" if into else target
        else:
            destination = f"{target}/{entry.relative}"
        _place_entry(rootfs, entry, destination, first, folders)
    for destination, entry in reversed(folders):
        rootfs.set_mode(destination, entry.info.st_mode, entry.info.st_mtime)


def _place_entry(rootfs: Rootfs, entry: SourceEntry, destination: str, first: dict[tuple[int, int], str],
                 folders: list[tuple[str, SourceEntry]]) -> None:
    info = entry.info
    if entry.kind == "dir":
        folders.append((rootfs.mkdir(destination), entry))
    elif entry.kind == "symlink":
        rootfs.symlink(destination, entry.target, info.st_mtime)
    elif entry.kind == "file":
        key = (info.st_dev, info.st_ino)
        if info.st_nlink > 1 and key in first:
            rootfs.hardlink(destination, first[key])
            return
        first[key] = destination
        rootfs.write(destination, entry.chunks(), info.st_mode, info.st_mtime)
    else:
        raise PlacementRefused(f"cannot copy {entry.relative or 'the source'}: it is a device, socket or pipe",
                               "copy only files, folders and links")


# ---------------------------------------------------------------- ADD of an archive


class AddBudget:
    """What the ``ADD`` steps of one build may still write: bytes and members (see :mod:`helpers.ground.limits`)."""

    def __init__(self, bytes_left: int = MAX_ADD_BYTES.default, entries_left: int = MAX_ADD_ENTRIES.default) -> None:
        self.bytes = bytes_left
        self.entries = entries_left
        self._ceilings = (self.bytes, self.entries)

    def take(self, size: int, what: str, members: int = 1) -> None:
        """Charge ``members`` archive members and ``size`` bytes written; :class:`AddBudgetExceeded` past either."""
        self.entries -= members
        self.bytes -= size
        if self.entries < 0:
            raise AddBudgetExceeded(
                f"{what}: the build's ADD steps would write over {self._ceilings[1]:,} archive members",
                f"raise {MAX_ADD_ENTRIES.variable} if the archive really is that large (a tar bomb?)",
            )
        if self.bytes < 0:
            raise AddBudgetExceeded(
                f"{what}: the build's ADD steps would write over {self._ceilings[0]:,} bytes",
                f"raise {MAX_ADD_BYTES.variable} (e.g. 8GiB) if the archive really is that large (a tar bomb?)",
            )


def is_archive(path: Path) -> bool:
    """True for a tar (plain, gzip, bzip2 or xz) that ``ADD`` unpacks, as Docker's ``ADD`` does."""
    try:
        return tarfile.is_tarfile(path)
    except OSError:
        return False


def _filtered(member: tarfile.TarInfo, destination: str, what: str) -> tarfile.TarInfo:
    """``member`` after tarfile's ``data`` filter, except that a symlink's target is kept (see the module)."""
    try:
        kept = tarfile.data_filter(member, destination)
        if kept.mode is None:  # the filter leaves a folder's mode to the umask; keep the archive's, made safe
            kept = kept.replace(mode=member.mode & 0o755, deep=False)
        return kept
    except (tarfile.AbsoluteLinkError, tarfile.LinkOutsideDestinationError) as exc:
        if member.issym():
            return tarfile.tar_filter(member, destination)
        raise PlacementRefused(f"{what}: the archive member {member.name!r} is refused: {exc}",
                               "an archive may only link to files inside it") from exc
    except tarfile.FilterError as exc:
        raise PlacementRefused(f"{what}: the archive member {member.name!r} is refused: {exc}",
                               "ADD only archives of files, folders and links that stay inside them") from exc


def extract_into(rootfs: Rootfs, archive: BinaryIO, target: str, budget: AddBudget, what: str) -> None:
    """Unpack the tar stream ``archive`` into in-image folder ``target``, member by member, within ``budget``."""
    target = rootfs.folder(target)
    destination = str(rootfs.root / target)
    folders: list[tuple[str, tarfile.TarInfo]] = []
    try:
        with tarfile.open(fileobj=archive, mode="r|*") as tar:
            for member in tar:
                tar.members = []  # tarfile keeps every header it read; nothing here needs them
                budget.take(0, what)
                member = _filtered(member, destination, what)
                _extract_member(rootfs, tar, member, target, folders, budget, what)
    except tarfile.TarError as exc:
        raise DockerfileError(f"{what}: the archive cannot be read: {exc}",
                              "the archive is truncated or corrupt; make it again") from exc
    for path, member in reversed(folders):
        rootfs.set_mode(path, member.mode, member.mtime)


def _extract_member(rootfs: Rootfs, tar: tarfile.TarFile, member: tarfile.TarInfo, target: str,
                    folders: list[tuple[str, tarfile.TarInfo]], budget: AddBudget, what: str) -> None:
    path = f"{target}/{member.name}"
    if member.isdir():
        folders.append((rootfs.mkdir(path), member))
    elif member.issym():
        rootfs.symlink(path, member.linkname, member.mtime)
    elif member.islnk():
        rootfs.hardlink(path, f"{target}/{member.linkname}")
    elif member.isreg():
        stream = tar.extractfile(member)
        assert stream is not None

        def chunks() -> Iterator[bytes]:  # charged as written: a sparse member expands past its stored size
            while chunk := stream.read(_CHUNK):
                budget.take(len(chunk), what, members=0)
                yield chunk

        if rootfs.write(path, chunks(), member.mode, member.mtime) < member.size:
            raise DockerfileError(f"the archive member {member.name!r} is cut short",
                                  "the archive is truncated; make it again")
    # anything else was refused by the filter
