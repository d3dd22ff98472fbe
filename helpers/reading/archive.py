"""Turn an image source into an :class:`~helpers.ground.model.Image`, reading every layer once.

Sources:

* a ``docker save`` archive, legacy (``manifest.json`` + ``<id>/layer.tar``) or
  Engine 25+ (an OCI layout plus ``manifest.json``), or any tar with the same
  shape (kaniko's, for example);
* an OCI image layout, as a tar or as a directory, with plain, gzip, zstd or
  eStargz layers, and nested or multi-platform indexes;
* any binary stream of such a tar (:func:`read_archive_stream`), which is how
  :mod:`helpers.building.engine` reads an image straight out of a running engine.

An archive is read front to back exactly once: small JSON members are kept,
layer blobs are hashed and their tar headers listed as they pass, and nothing
is written to disk.  Which layers belong to the image, and in what order, is
decided at the end from ``manifest.json`` (preferred, because Engine 25.0.0
could write the OCI manifest's layers out of order) or ``index.json``.
"""

from __future__ import annotations

import hashlib
import json
import os
import posixpath
import re
import stat
import sys
import tarfile
import threading
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO, Protocol

from ..ground.errors import ArchiveError, DigestMismatch, PlatformNotFound
from ..ground.limits import DEFAULT_LIMITS, Limits
from ..ground.model import Entry, HistoryStep, Image, Layer
from .layer_stream import (
    DecompressedStream,
    EntryBudget,
    ScannedLayer,
    looks_like_tar,
    normalize_path,
    scan_blob_range,
    scan_layer,
    sniff_compression,
)
from .packages import read_database

#: Members that are not layers are kept in memory only up to this size.
METADATA_LIMIT = 16 * 1024 * 1024
#: The interpreter's thread switch interval while layers are scanned (seconds).
SCAN_SWITCH_INTERVAL = 0.0005
#: The platform picked from a multi-platform index unless told otherwise.
DEFAULT_PLATFORM = "linux/amd64"
#: The most descriptors read across an image's index and the indexes nested in it.
MAX_INDEX_DESCRIPTORS = 10_000
#: The deepest indexes may nest under ``index.json``.
MAX_INDEX_DEPTH = 8
#: The most layers one image may list (Docker refuses more than 127; every reference is read and merged).
MAX_LAYERS = 1_000

INDEX_MEDIA_TYPES = {
    "application/vnd.oci.image.index.v1+json",
    "application/vnd.docker.distribution.manifest.list.v2+json",
}
MANIFEST_MEDIA_TYPES = {
    "application/vnd.oci.image.manifest.v1+json",
    "application/vnd.docker.distribution.manifest.v2+json",
}
STARGZ_TOC_ANNOTATION = "containerd.io/snapshot/stargz/toc.digest"
STARGZ_METADATA = {"stargz.index.json", ".prefetch.landmark"}
ATTESTATION_ANNOTATION = "vnd.docker.reference.type"
_BLOB_NAME = re.compile(r"^blobs/(sha256)/([0-9a-f]{64})$")


class _ConsumerFailed(Exception):
    """Carries an error raised by a :class:`LayerConsumer` past the checks for malformed metadata."""

    def __init__(self, error: BaseException) -> None:
        super().__init__(str(error))
        self.error = error


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


# ---------------------------------------------------------------- stores


class _Links:
    """The links between an archive's members (Engine 25+ links each ``layer.tar`` to its blob).

    They are followed at most 8 deep and only ever lead to another member's
    name: a link pointing out of the archive leads to a member that is missing.
    """

    def __init__(self) -> None:
        self._targets: dict[str, str] = {}

    def record(self, member: tarfile.TarInfo, name: str) -> bool:
        """Note ``member`` if it is a link and say so; a later member of the same name replaces the link."""
        if member.issym():
            self._targets[name] = posixpath.normpath(posixpath.join(posixpath.dirname(name), member.linkname))
            return True
        if member.islnk():
            self._targets[name] = normalize_path(member.linkname)
            return True
        self._targets.pop(name, None)
        return False

    def resolve(self, name: str) -> str:
        """The member ``name`` finally names."""
        name = normalize_path(name)
        for _ in range(8):
            if name not in self._targets:
                return name
            name = self._targets[name]
        return name

    def explain(self, name: str, present: Callable[[str], bool]) -> str | None:
        """Why ``name`` leads nowhere, when it is a link that does not end at a ``present`` member."""
        name = normalize_path(name)
        for _ in range(8):
            target = self._targets.get(name)
            if target is None:
                return None
            if target not in self._targets and not present(target):
                outside = target.startswith("/") or target == ".." or target.startswith("../")
                return (f"a link to `{target}`, {'outside the archive' if outside else 'which is not in it'} "
                        "(refused: links are followed only to other members)")
            name = target
        return "a chain of more than 8 links (refused)"


def _refused(label: str, name: str, why: str) -> ArchiveError:
    return ArchiveError(f"`{name}` in {label} is {why}",
                        "the archive is malformed or hostile; save or export the image again")


def _too_big(label: str, name: str, size: int) -> ArchiveError:
    return ArchiveError(
        f"`{name}` in {label} is {size:,} bytes, past the {METADATA_LIMIT:,}-byte limit for metadata (refused)",
        "image metadata is a few KiB: the archive is malformed or hostile; save or export the image again",
    )


def _not_regular(mode_or_member: int | tarfile.TarInfo) -> str:
    """What a member that is not a regular file is, for a message: ``a directory, not a regular file``."""
    if isinstance(mode_or_member, tarfile.TarInfo):
        member = mode_or_member
        kind = ("a directory" if member.isdir() else "a character device" if member.ischr()
                else "a block device" if member.isblk() else "a FIFO" if member.isfifo() else "a special member")
    else:
        mode = mode_or_member
        kind = ("a directory" if stat.S_ISDIR(mode) else "a character device" if stat.S_ISCHR(mode)
                else "a block device" if stat.S_ISBLK(mode) else "a FIFO" if stat.S_ISFIFO(mode)
                else "a socket" if stat.S_ISSOCK(mode) else "a special file")
    return f"{kind}, not a regular file (refused)"


def _each_member(
    fileobj: BinaryIO, mode: str, label: str, take: Callable[[tarfile.TarFile, tarfile.TarInfo], None]
) -> None:
    """Hand every member of an outer tar to ``take``; a broken tar is one ArchiveError saying how far it got."""
    count = 0
    try:
        with tarfile.open(fileobj=fileobj, mode=mode) as outer:
            for member in outer:
                outer.members = []  # tarfile keeps every header it has read; the stores keep their own
                count += 1
                take(outer, member)
    except tarfile.ReadError as exc:
        if count:
            raise ArchiveError(
                f"{label} is truncated or corrupt after {count} members: {exc}", "save or download it again"
            ) from exc
        raise ArchiveError(
            f"{label} is not a readable tar archive: {exc}",
            "pass a `docker save` archive, an OCI layout (directory or tar), or an image name",
        ) from exc
    except (tarfile.TarError, EOFError, OSError, ValueError) as exc:  # tarfile raises ValueError on some damage
        raise ArchiveError(f"{label} is truncated or corrupt: {exc}", "save or download it again") from exc


def outer_member_refusal(member: tarfile.TarInfo) -> str | None:
    """Why a member of the outer archive cannot be a blob: a size no file has, or a sparse member.

    ``docker save`` and OCI archives never hold sparse members; read, one of a few bytes
    could expand to a petabyte of holes.
    """
    if member.size < 0:
        return f"a member with a negative size ({member.size:,})"
    if member.issparse():
        return "a sparse member, which no image archive holds"
    return None


class StreamedArchive:
    """Every member of a tar archive, read in one sequential pass.

    With ``gzip_level``, each uncompressed layer is also measured gzipped as it
    passes (see :func:`~helpers.reading.layer_stream.scan_layer`).
    """

    def __init__(self, stream: BinaryIO, label: str, gzip_level: int | None = None,
                 budget: EntryBudget | None = None, limits: Limits = DEFAULT_LIMITS) -> None:
        self.label = label
        self._gzip_level = gzip_level
        self._docs: dict[str, bytes] = {}
        self._layers: dict[str, ScannedLayer] = {}
        self._refused: dict[str, str] = {}
        self._too_big: dict[str, int] = {}
        self._links = _Links()
        self._budget = budget or EntryBudget(limits)
        _each_member(stream, "r|", label, self._take)

    def _take(self, outer: tarfile.TarFile, member: tarfile.TarInfo) -> None:
        name = normalize_path(member.name)
        if not name:
            return
        for held in (self._docs, self._layers, self._refused, self._too_big):
            held.pop(name, None)  # a later member of the same name replaces an earlier one
        if self._links.record(member, name):
            return
        refused = outer_member_refusal(member)
        if refused is not None or not member.isreg():
            self._refused[name] = refused or _not_regular(member)
            return
        blob = outer.extractfile(member)
        if blob is None:
            return
        head = blob.peek(512)[:512]  # type: ignore[attr-defined]
        is_layer = (  # a blob that is not JSON is a layer, whatever it starts with (a V7 tar, an empty one)
            sniff_compression(head) != "none"
            or looks_like_tar(head)
            or name.endswith("layer.tar")
            or (name.startswith("blobs/") and not head.lstrip().startswith((b"{", b"[")))
        )
        if is_layer:
            self._layers[name] = scan_layer(blob, name, self._budget, self._gzip_level)
        elif member.size <= METADATA_LIMIT:
            self._docs[name] = blob.read()
        else:
            self._too_big[name] = member.size

    def _present(self, name: str) -> bool:
        return any(name in held for held in (self._docs, self._layers, self._refused, self._too_big))

    def refusal(self, name: str) -> str | None:
        why = self._links.explain(name, self._present)
        return why if why is not None else self._refused.get(self._links.resolve(name))

    def doc(self, name: str) -> bytes | None:
        final = self._links.resolve(name)
        data = self._docs.get(final)
        if data is not None:
            return data
        if final in self._too_big:
            raise _too_big(self.label, name, self._too_big[final])
        if final in self._layers:
            raise _refused(self.label, name, "a tar or compressed blob, not a JSON document")
        why = self.refusal(name)
        if why is not None:
            raise _refused(self.label, name, why)
        return None

    def layer(self, name: str) -> ScannedLayer | None:
        return self._layers.get(self._links.resolve(name))

    def prefetch(self, names: list[str], prepare: Callable[[list[Entry]], object] | None = None) -> None:
        """Nothing to do: a stream's layers were all scanned as they passed."""


_switch_lock = threading.Lock()
_switch_users = 0
_switch_saved = 0.0


def _lower_switch_interval() -> None:
    """Shorten the interpreter's switch interval while any reader scans (the first in lowers it)."""
    global _switch_users, _switch_saved
    with _switch_lock:
        if _switch_users == 0:
            _switch_saved = sys.getswitchinterval()
            sys.setswitchinterval(min(_switch_saved, SCAN_SWITCH_INTERVAL))
        _switch_users += 1


def _restore_switch_interval() -> None:
    """Undo one :func:`_lower_switch_interval`; the last reader out restores the interval found."""
    global _switch_users
    with _switch_lock:
        _switch_users -= 1
        if _switch_users == 0:
            sys.setswitchinterval(_switch_saved)


class _ParallelScans:
    """Layer scans run on a thread pool as soon as they are asked for, and awaited in order.

    Decompression and hashing release the GIL, so compressed layers scan in
    parallel, and a caller can merge layer ``i`` while later layers are still
    being read.  Errors surface when the failing layer is awaited, so the
    message names the first bad layer whichever thread met it first.
    """

    def __init__(self, verify: bool, limits: Limits) -> None:
        self._verify = verify
        self._budget = EntryBudget(limits)
        self._futures: dict[str, Future[ScannedLayer]] = {}
        self._lowered = False
        self._pool = ThreadPoolExecutor(max(1, min(os.cpu_count() or 1, 4)), thread_name_prefix="layerlab-scan")

    def _submit(
        self, name: str, fd: int, start: int, length: int, prepare: Callable[[list[Entry]], object] | None
    ) -> None:
        if not self._lowered:
            # A thread back from decompressing waits for the GIL up to the switch interval
            # (5 ms) while another parses headers; a shorter one keeps both cores busy.  The
            # setting is process-wide: readers that overlap share it, counted, under a lock.
            _lower_switch_interval()
            self._lowered = True
        self._futures[name] = self._pool.submit(self._scan, fd, start, length, name, prepare)

    def _scan(
        self, fd: int, start: int, length: int, name: str, prepare: Callable[[list[Entry]], object] | None
    ) -> ScannedLayer:
        scanned = scan_blob_range(fd, start, length, name, self._budget, self._verify)
        if prepare is not None and scanned.compression != "none":
            # Beside another thread's decompression, this Python work is nearly free.  Beside
            # another uncompressed scan (Python too) it is not, and its results would wait for
            # the layers below: the consumer prepares those itself, one at a time.
            try:
                scanned.prepared = prepare(scanned.entries)
            except Exception as exc:
                raise _ConsumerFailed(exc) from exc
        return scanned

    def _await(self, name: str) -> ScannedLayer | None:
        future = self._futures.get(name)
        return None if future is None else future.result()

    def close(self, abandon: bool = False) -> None:
        """Wait for the scans still running; with ``abandon`` (an interrupt, an error), stop them at their next chunk.

        Without it, a Ctrl-C during a large compressed layer would wait for the whole layer.
        """
        if abandon:
            self._budget.stop()
        self._pool.shutdown(wait=True, cancel_futures=True)
        if self._lowered:
            self._lowered = False
            _restore_switch_interval()

    def __enter__(self):
        return self

    def __exit__(self, exc_type: object, *exc: object) -> None:
        self.close(abandon=exc_type is not None)


class IndexedArchive(_ParallelScans):
    """A tar archive in a file: members are indexed once, then read where they lie.

    Only the small JSON members and the layers the image names are read; layer
    blobs are scanned in place (:func:`~helpers.reading.layer_stream.scan_blob_range`),
    several at once, without copying them out.
    """

    def __init__(self, path: Path, verify: bool = False, limits: Limits = DEFAULT_LIMITS) -> None:
        super().__init__(verify, limits)
        self.label = str(path)
        self._file = path.open("rb")
        self._members: dict[str, tuple[int, int]] = {}
        self._refused: dict[str, str] = {}
        self._links = _Links()
        try:
            _each_member(self._file, "r:", self.label, lambda _, member: self._index(member))
        except ArchiveError:
            self.close()
            raise
        size = os.fstat(self._file.fileno()).st_size
        for name, (start, length) in self._members.items():
            if start + length > size:
                self.close()
                raise ArchiveError(
                    f"{self.label} is truncated: member `{name}` runs past the end of the file",
                    "save or download it again",
                )

    def _index(self, member: tarfile.TarInfo) -> None:
        name = normalize_path(member.name)
        if not name:
            return
        self._refused.pop(name, None)
        if self._links.record(member, name):
            return
        refused = outer_member_refusal(member)
        if refused is not None:
            self._members.pop(name, None)
            self._refused[name] = refused
        elif member.isreg():
            self._members[name] = (member.offset_data, member.size)
        else:  # a later member of the same name replaces an earlier one, as extraction would
            self._members.pop(name, None)
            self._refused[name] = _not_regular(member)

    def close(self, abandon: bool = False) -> None:
        super().close(abandon)
        self._file.close()

    def refusal(self, name: str) -> str | None:
        why = self._links.explain(name, lambda n: n in self._members or n in self._refused)
        return why if why is not None else self._refused.get(self._links.resolve(name))

    def doc(self, name: str) -> bytes | None:
        where = self._members.get(self._links.resolve(name))
        if where is None:
            why = self.refusal(name)
            if why is not None:
                raise _refused(self.label, name, why)
            return None
        if where[1] > METADATA_LIMIT:
            raise _too_big(self.label, name, where[1])
        return os.pread(self._file.fileno(), where[1], where[0])

    def prefetch(self, names: list[str], prepare: Callable[[list[Entry]], object] | None = None) -> None:
        wanted = {name: self._members[name] for name in (self._links.resolve(n) for n in names)
                  if name in self._members and name not in self._futures}
        for name, where in sorted(wanted.items(), key=lambda item: -item[1][1]):  # biggest first: shortest makespan
            self._submit(name, self._file.fileno(), *where, prepare)

    def layer(self, name: str) -> ScannedLayer | None:
        name = self._links.resolve(name)
        self.prefetch([name])
        return self._await(name)


class LayoutDirectory(_ParallelScans):
    """An OCI layout (or an unpacked ``docker save``) on disk; blobs are read on demand.

    Reads never leave ``root``: a member whose real path (after symlinks) lies
    outside it counts as missing.
    """

    def __init__(self, root: Path, verify: bool = False, limits: Limits = DEFAULT_LIMITS) -> None:
        super().__init__(verify, limits)
        self.root = root.resolve()
        self.label = str(root)
        self._open: list[BinaryIO] = []

    def _lookup(self, name: str) -> tuple[Path | None, int, str | None]:
        """The real path of member ``name`` and its size, or why it is refused; ``(None, 0, None)``: missing."""
        name = normalize_path(name)
        if not name:
            return None, 0, None
        candidate = self.root / name
        path = Path(os.path.realpath(candidate))
        if os.path.commonpath([path, self.root]) != str(self.root):
            return None, 0, (f"a symlink leading out of the layout, to `{path}` "
                             "(refused: links are followed only inside it)")
        try:
            info = path.stat()
        except FileNotFoundError:
            return None, 0, ("a symlink to a file that does not exist" if os.path.lexists(candidate) else None)
        except OSError as exc:
            return None, 0, f"unreadable ({exc.strerror})"
        if not stat.S_ISREG(info.st_mode):
            return None, 0, _not_regular(info.st_mode)
        return path, info.st_size, None

    def refusal(self, name: str) -> str | None:
        return self._lookup(name)[2]

    def _opened(self, name: str, path: Path) -> BinaryIO:
        """The member checked at ``path``, opened, then checked again on its descriptor: a regular file, never a
        FIFO or device swapped in since (which would block the read forever), nor a link put in its place."""
        try:
            fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_NOFOLLOW | os.O_CLOEXEC)
        except OSError as exc:
            raise _refused(self.label, name, f"unreadable ({exc.strerror})") from exc
        mode = os.fstat(fd).st_mode
        if not stat.S_ISREG(mode):
            os.close(fd)
            raise _refused(self.label, name, _not_regular(mode))
        return open(fd, "rb")

    def doc(self, name: str) -> bytes | None:
        path, size, why = self._lookup(name)
        if why is not None:
            raise _refused(self.label, name, why)
        if path is None:
            return None
        if size > METADATA_LIMIT:
            raise _too_big(self.label, name, size)
        with self._opened(name, path) as file:
            data = file.read(METADATA_LIMIT + 1)
        if len(data) > METADATA_LIMIT:
            raise _too_big(self.label, name, len(data))
        return data

    def prefetch(self, names: list[str], prepare: Callable[[list[Entry]], object] | None = None) -> None:
        for name in dict.fromkeys(normalize_path(n) for n in names):
            path = self._lookup(name)[0]
            if path is None or name in self._futures:
                continue
            blob = self._opened(name, path)
            self._open.append(blob)
            self._submit(name, blob.fileno(), 0, os.fstat(blob.fileno()).st_size, prepare)

    def layer(self, name: str) -> ScannedLayer | None:
        name = normalize_path(name)
        self.prefetch([name])
        return self._await(name)

    def close(self, abandon: bool = False) -> None:
        super().close(abandon)
        for blob in self._open:
            blob.close()


# ---------------------------------------------------------------- resolving


def _load_json(store: BlobStore, name: str, what: str) -> dict | list:
    raw = store.doc(name)
    if raw is None:
        raise ArchiveError(f"the {what} `{name}` is missing", "the archive is incomplete; save or export it again")
    match = _BLOB_NAME.match(normalize_path(name))
    if match:
        if hashlib.sha256(raw).hexdigest() != match.group(2):
            raise DigestMismatch(f"the {what} `{name}` does not match its digest", "the archive is corrupt")
    return _parse_json(raw, what, name)


def layout_document(layout: Path, name: str, what: str) -> dict | list:
    """A JSON document of an OCI layout on disk: ``index.json``, or a blob by its digest (``sha256:…``).

    Read as every layout document is read: inside the layout (a link out of it
    is refused), bounded by the metadata limit, and a blob checked against its
    digest; anything else is one :class:`ArchiveError`.
    """
    store = LayoutDirectory(Path(layout))
    try:
        return _load_json(store, name if name == "index.json" else _blob_name(name), what)
    finally:
        store.close()


def _parse_json(raw: bytes, what: str, name: str) -> dict | list:
    """JSON from an archive, where malformed and absurdly nested documents are one :class:`ArchiveError`."""
    try:
        return json.loads(raw)
    except ValueError as exc:
        raise ArchiveError(f"the {what} `{name}` is not valid JSON: {exc}", "the archive is corrupt") from exc
    except RecursionError as exc:  # json nests by recursion: thousands of ``[`` exhaust the stack
        raise ArchiveError(f"the {what} `{name}` nests deeper than any image metadata does (refused)",
                           "the archive is malformed or hostile; save or export the image again") from exc


def _blob_name(digest: str) -> str:
    algorithm, _, hexdigest = str(digest).partition(":")
    if not algorithm or not hexdigest:
        raise ArchiveError(f"malformed digest {digest!r}", "the archive is corrupt")
    return f"blobs/{algorithm}/{hexdigest}"


def _platform_of(descriptor: dict, store: BlobStore) -> str | None:
    platform = descriptor.get("platform")
    if platform:
        parts = [platform.get("os", ""), platform.get("architecture", "")]
        if platform.get("variant"):
            parts.append(platform["variant"])
        return "/".join(parts)
    manifest = _load_json(store, _blob_name(descriptor["digest"]), "manifest")
    config_name = _blob_name(manifest.get("config", {}).get("digest", "x:x"))  # type: ignore[union-attr]
    config = store.doc(config_name)
    if config is None:
        return None
    data = _parse_json(config, "image config", config_name)
    if "os" in data and "architecture" in data:
        return f"{data['os']}/{data['architecture']}"
    return None


def _matches(found: str | None, wanted: str) -> bool:
    if found is None:
        return False
    return found == wanted or found.startswith(wanted + "/")


def _image_manifests(store: BlobStore, index: dict) -> list[tuple[dict, str | None]]:
    """Every image manifest descriptor under an index, with its platform, attestations left out.

    Each nested index is read once, however many descriptors name it (so a
    fan-out of references costs what the distinct indexes cost, and a cycle
    ends), at most :data:`MAX_INDEX_DEPTH` deep, and at most
    :data:`MAX_INDEX_DESCRIPTORS` descriptors are looked at in all.
    """
    found: list[tuple[dict, str | None]] = []
    expanded: set[str] = set()
    seen_manifests: set[str] = set()
    looked_at = 0
    pending: list[tuple[dict, int]] = [(index, 0)]
    while pending:
        current, depth = pending.pop(0)
        if depth > MAX_INDEX_DEPTH:
            raise ArchiveError(f"image indexes nest more than {MAX_INDEX_DEPTH} deep", "the archive is malformed")
        for descriptor in current.get("manifests", []) or []:
            looked_at += 1
            if looked_at > MAX_INDEX_DESCRIPTORS:
                raise ArchiveError(
                    f"the image index and the indexes nested in it list more than {MAX_INDEX_DESCRIPTORS:,} "
                    "descriptors (refused)", "the archive is malformed or hostile; save or export the image again")
            annotations = descriptor.get("annotations") or {}
            if annotations.get(ATTESTATION_ANNOTATION) == "attestation-manifest":
                continue
            media_type = descriptor.get("mediaType", "")
            digest = str(descriptor.get("digest", ""))
            if media_type in INDEX_MEDIA_TYPES:
                if digest in expanded:
                    continue  # read already, or a cycle: its manifests are in ``found`` once
                expanded.add(digest)
                nested = _load_json(store, _blob_name(digest), "nested index")
                if not isinstance(nested, dict):
                    raise ArchiveError(f"the nested index `{digest}` is not a JSON object", "the archive is corrupt")
                pending.append((nested, depth + 1))
            elif media_type in MANIFEST_MEDIA_TYPES or not media_type:
                if digest in seen_manifests and not annotations:
                    continue  # the same manifest again, with nothing that tells it apart
                seen_manifests.add(digest)
                found.append((descriptor, _platform_of(descriptor, store)))
    return found


REF_ANNOTATION = "org.opencontainers.image.ref.name"


def _by_ref(index: dict, ref: str) -> dict:
    """The index narrowed to the descriptors tagged ``ref`` (``org.opencontainers.image.ref.name``)."""
    tagged = [d for d in index.get("manifests", []) or [] if (d.get("annotations") or {}).get(REF_ANNOTATION) == ref]
    if not tagged:
        refs = sorted({(d.get("annotations") or {}).get(REF_ANNOTATION, "") for d in index.get("manifests", []) or []})
        raise ArchiveError(
            f"the layout has no image tagged {ref!r}", f"pick one of: {', '.join(r for r in refs if r) or '(none)'}"
        )
    return {**index, "manifests": tagged}


def _pick_manifest(store: BlobStore, index: dict, platform: str | None, ref: str | None = None) -> dict:
    if ref is not None:
        index = _by_ref(index, ref)
    candidates = _image_manifests(store, index)
    if not candidates:
        raise ArchiveError("index.json lists no image manifest", "the archive is empty or malformed")
    wanted = platform or DEFAULT_PLATFORM
    for descriptor, found in candidates:
        if _matches(found, wanted):
            return descriptor
    if platform is None and len(candidates) == 1:
        # A single-platform layout is unambiguous: read it whatever its platform.
        return candidates[0][0]
    available = ", ".join(sorted({found or "unknown" for _, found in candidates}))
    raise PlatformNotFound(
        f"the index has no {wanted} image (it has: {available})",
        "pick one of those with --platform OS/ARCH",
    )


def align_history(config: dict, n_layers: int) -> tuple[list[HistoryStep], list[tuple[int | None, str | None]]]:
    """Align the config's history with the layers: ``empty_layer`` entries own no layer.

    History is optional metadata: a malformed one (not a list, entries that are
    not objects) counts as missing rather than failing the whole image.
    """
    steps: list[HistoryStep] = []
    per_layer: list[tuple[int | None, str | None]] = []
    history = config.get("history")
    for position, item in enumerate(history if isinstance(history, list) else []):
        item = item if isinstance(item, dict) else {}
        created_by = item.get("created_by")
        created_by = None if created_by is None else str(created_by)
        empty = bool(item.get("empty_layer"))
        layer = None
        if not empty and len(per_layer) < n_layers:
            layer = len(per_layer)
            per_layer.append((position, created_by))
        steps.append(HistoryStep(position, created_by, empty, layer))
    while len(per_layer) < n_layers:
        per_layer.append((None, None))
    return steps, per_layer


def _scanned(store: BlobStore, name: str, index: int) -> ScannedLayer:
    scanned = store.layer(name)
    if scanned is None:
        raise ArchiveError(f"layer {index} (`{name}`) is missing from the archive", "save or export the image again")
    return scanned


def _check_digest(scanned: ScannedLayer, expected: str | None, size: int | None, index: int, name: str) -> None:
    """The blob's size against its descriptor's, always; its sha256 against the digest, when it was hashed."""
    if size is not None and scanned.blob_bytes != size:
        raise DigestMismatch(
            f"layer {index} (`{name}`) has {scanned.blob_bytes:,} bytes, but its descriptor says {size:,}",
            "the archive is truncated or corrupt; save or download it again",
        )
    if scanned.digest is not None and expected and expected.startswith("sha256:") and scanned.digest != expected:
        raise DigestMismatch(
            f"layer {index} (`{name}`) has digest {scanned.digest}, but {expected} was expected",
            "the archive is corrupt or was tampered with; save or download it again",
        )


def _without_stargz_metadata(entries: list[Entry]) -> list[Entry]:
    return [e for e in entries if e.path not in STARGZ_METADATA]


def resolve_image(
    store: BlobStore, source: str, container: str, platform: str | None = None, ref: str | None = None,
    on_layer: LayerConsumer | None = None, limits: Limits = DEFAULT_LIMITS,
) -> Image:
    """Find the image in ``store`` and assemble it, layers base first.

    ``container`` is ``"tar"`` or ``"directory"``; it only names the format.  In
    an OCI layout holding several images, ``ref`` picks the one tagged so.  All
    the JSON it reads is untrusted: a value of the wrong shape anywhere is one
    :class:`ArchiveError`, never a crash.  ``on_layer`` is called with each layer,
    base first, as soon as it is read, while later layers may still be reading;
    its ``prepare`` runs on the reading threads (see :class:`LayerConsumer`).
    ``limits.entries`` bounds the entries of all layers, each counted every time the manifest lists it.
    """
    try:
        return _resolve_image(store, source, container, platform, ref, on_layer, limits.entries)
    except _ConsumerFailed as failed:
        raise failed.error from None  # the consumer's own error, not the archive's: never relabelled
    except (TypeError, AttributeError, KeyError, IndexError, ValueError, RecursionError) as exc:
        raise ArchiveError(
            f"{source} has malformed image metadata ({type(exc).__name__}: {exc})",
            "the archive is corrupt or is not a container image; save or export it again",
        ) from exc


@dataclass
class _LayerSpec:
    """A layer as the manifest describes it, before it is read."""

    name: str
    media_type: str | None  # None: named after the compression found (a docker save manifest has no types)
    expected: str | None  # the digest to check, when the manifest gives one
    size: int | None
    stargz: bool = False
    diff_id: str | None = None  # docker save: the config's diff_id, the digest of an uncompressed layer


def _resolve_image(
    store: BlobStore, source: str, container: str, platform: str | None, ref: str | None,
    on_layer: LayerConsumer | None, entry_ceiling: int,
) -> Image:
    specs: list[_LayerSpec] = []
    tags: list[str] = []
    docker_manifest = store.doc("manifest.json") if ref is None else None
    if docker_manifest is not None:
        fmt = "docker-archive+oci" if store.doc("index.json") is not None else "docker-archive"
        entries = _load_json(store, "manifest.json", "manifest.json")
        if not isinstance(entries, list) or not entries or not isinstance(entries[0], dict):
            raise ArchiveError("manifest.json lists no image", "the archive is malformed")
        chosen = entries[0]
        tags = list(chosen.get("RepoTags") or [])
        config = _load_json(store, chosen.get("Config", ""), "image config")
        if not isinstance(config, dict):
            raise ArchiveError("the image config is not a JSON object", "the archive is corrupt")
        rootfs = config.get("rootfs") if isinstance(config.get("rootfs"), dict) else {}
        diff_ids = rootfs.get("diff_ids") if isinstance(rootfs.get("diff_ids"), list) else []
        for i, name in enumerate(chosen.get("Layers") or []):
            blob = _BLOB_NAME.match(normalize_path(name))
            expected = f"sha256:{blob.group(2)}" if blob else None
            specs.append(_LayerSpec(name, None, expected, None, diff_id=diff_ids[i] if i < len(diff_ids) else None))
    elif store.doc("index.json") is not None:
        fmt = "oci-layout" if container == "directory" else "oci-archive"
        index = _load_json(store, "index.json", "index.json")
        descriptor = _pick_manifest(store, index, platform, ref)  # type: ignore[arg-type]
        manifest = _load_json(store, _blob_name(descriptor["digest"]), "image manifest")
        config = _load_json(store, _blob_name(manifest.get("config", {}).get("digest", "")), "image config")  # type: ignore[union-attr]
        ref = (descriptor.get("annotations") or {}).get("org.opencontainers.image.ref.name")
        tags = [ref] if ref else []
        for layer in manifest.get("layers") or []:  # type: ignore[union-attr]
            size = layer.get("size")
            specs.append(_LayerSpec(
                _blob_name(layer.get("digest", "")), layer.get("mediaType", ""), layer.get("digest"),
                size if isinstance(size, int) else None,
                stargz=STARGZ_TOC_ANNOTATION in (layer.get("annotations") or {}),
            ))
    else:
        raise ArchiveError(
            f"{source} has neither manifest.json nor index.json",
            "pass a `docker save` archive or an OCI image layout",
        )
    if not isinstance(config, dict):
        raise ArchiveError("the image config is not a JSON object", "the archive is corrupt")
    if len(specs) > MAX_LAYERS:
        raise ArchiveError(
            f"the image lists {len(specs):,} layers; at most {MAX_LAYERS:,} are read (Docker itself stops at 127)",
            "the archive is malformed or hostile; save or export the image again",
        )
    steps, per_layer = align_history(config, len(specs))
    referenced = 0
    store.prefetch([spec.name for spec in specs], on_layer.prepare if on_layer is not None else None)
    result: list[Layer] = []
    for i, spec in enumerate(specs):
        scanned = _scanned(store, spec.name, i)
        expected = spec.expected
        if expected is None and spec.media_type is None and scanned.compression == "none":
            expected = spec.diff_id
        _check_digest(scanned, expected, spec.size, i, spec.name)
        entries = _without_stargz_metadata(scanned.entries) if spec.stargz else scanned.entries
        referenced += len(entries)  # per reference: a blob listed twice is merged and scored twice
        if referenced > entry_ceiling:
            raise ArchiveError(
                f"{source} has more than {entry_ceiling:,} tar entries in its layers, counting every layer each "
                f"time the manifest lists it (layer {i}, `{spec.name}`, passes the ceiling)",
                "raise LAYERLAB_MAX_ENTRIES if the machine has the memory (about 500 bytes an entry)",
            )
        step, created_by = per_layer[i]
        digest = scanned.digest or expected or f"unhashed:{source}:{spec.name}"
        media_type = spec.media_type if spec.media_type is not None else f"tar+{scanned.compression}"
        layer = Layer(i, entries, digest, media_type, created_by, step, scanned.blob_bytes, scanned.gzip_bytes,
                      read_database(scanned.documents))
        result.append(layer)
        if on_layer is not None:
            try:
                on_layer(layer, None if spec.stargz else scanned.prepared)  # stargz entries were filtered since
            except Exception as exc:
                raise _ConsumerFailed(exc) from exc
    return Image(source, fmt, result, steps, config, tags)


# ---------------------------------------------------------------- entry points


def read_archive_stream(
    stream: BinaryIO, source: str, platform: str | None = None, gzip_level: int | None = None,
    limits: Limits = DEFAULT_LIMITS,
) -> Image:
    """Read an image from a tar stream (a file, or an engine's ``save`` output) in one pass.

    ``gzip_level`` also measures what gzip makes of each uncompressed layer
    (:attr:`helpers.ground.model.Layer.gzip_bytes`), in the same pass.
    """
    return resolve_image(StreamedArchive(stream, source, gzip_level, limits=limits), source, "tar", platform,
                         limits=limits)


def read_path(
    path: str | os.PathLike, platform: str | None = None, ref: str | None = None, verify: bool = False,
    on_layer: LayerConsumer | None = None, limits: Limits = DEFAULT_LIMITS,
) -> Image:
    """Read an image from an archive file or a layout directory (``ref`` picks a tagged image of a layout).

    ``verify`` also hashes uncompressed layers, which means reading every byte
    instead of seeking past file contents (``LAYERLAB_VERIFY``; default off);
    compressed layers are always hashed.  ``on_layer``: see :func:`resolve_image`.
    """
    path = Path(path)
    if path.is_dir():
        with LayoutDirectory(path, verify, limits) as layout:
            return resolve_image(layout, str(path), "directory", platform, ref, on_layer, limits)
    compression = _outer_compression(path)
    if compression != "none":  # ``docker save | gzip``: read in one pass through the decompressor
        with path.open("rb") as file:
            stream = DecompressedStream(file.read, b"", compression, str(path), EntryBudget(limits))
            store = StreamedArchive(stream, str(path), limits=limits)  # type: ignore[arg-type]
        return resolve_image(store, str(path), "tar", platform, ref, on_layer, limits)
    with IndexedArchive(path, verify, limits) as archive:
        return resolve_image(archive, str(path), "tar", platform, ref, on_layer, limits)


def _outer_compression(path: Path) -> str:
    """``gzip`` or ``zstd`` when the archive file itself is compressed, else ``none`` (unreadable: ``none``)."""
    try:
        with path.open("rb") as file:
            return sniff_compression(file.read(4))
    except OSError:
        return "none"  # the archive reader names the problem
