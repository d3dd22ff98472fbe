"""The tar backends: a ``docker save`` archive or an OCI archive, read as a stream or indexed in a file.

A stream (an engine's ``save`` output, ``docker save | gzip``) is read front to
back exactly once: small JSON members are kept, layer blobs are hashed and their
headers listed as they pass.  A tar in a file is indexed once, and then only
the members the image names are read, where they lie, several layers at once.
Links between members (Engine 25+ links each ``layer.tar`` to its blob) are
followed only to other members.

The outer archive's headers are read by the same reader as a layer's
(:func:`~helpers.reading.tar_headers.iter_members`), as Go reads them: ``docker load``
reads these archives with Go's ``archive/tar``.  (Before, :mod:`tarfile` read them: its
import alone cost a small image's report 3.5 ms, a sixth of the interpreter's start-up.)
"""

from __future__ import annotations

import os
import posixpath
from collections.abc import Callable
from pathlib import Path

from ..ground.errors import ArchiveError, DigestMismatch, MalformedTar
from ..ground.limits import DEFAULT_LIMITS, Limits
from ..ground.model import Entry
from .blob_store import METADATA_LIMIT, not_regular, refusal_error, too_big_error
from .layer_stream import ScannedLayer, scan_layer
from .parallel_scans import ParallelScans
from .raw_bytes import RAW_CHUNK, FileRangeFeed, HeadFirst, PlainReader, StreamFeed, looks_like_tar, sniff_compression
from .scan_budget import EntryBudget
from .tar_fields import normalize_path
from .tar_members import Member, iter_members

TYPE_CHECKING = False  # typing's own flag would import typing, which a report does not need
if TYPE_CHECKING:
    from typing import BinaryIO

    from .gzip_sizes import GzipSizes
    from .tar_fields import ByteFeed

_NOT_AN_IMAGE = "pass a `docker save` archive, an OCI layout (directory or tar), or an image name"


class MemberLinks:
    """The links between an archive's members (Engine 25+ links each ``layer.tar`` to its blob).

    They are followed at most 8 deep and only ever lead to another member's
    name: a link pointing out of the archive leads to a member that is missing.
    """

    def __init__(self) -> None:
        self._targets: dict[str, str] = {}

    def record(self, member: Member, name: str) -> bool:
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


def each_member(feed: ByteFeed, label: str, take: Callable[[Member], None], limits: Limits) -> None:
    """Hand every member of an outer tar to ``take``; a broken tar is one ArchiveError saying how far it got."""
    count = 0
    members = iter_members(feed, label, limits.metadata_bytes)
    while True:
        try:
            member = next(members)
        except StopIteration:
            break
        except MalformedTar as exc:  # the tar itself; what the stream under it raises is its own error
            if count:
                raise
            hint = exc.hint if "LAYERLAB_" in (exc.hint or "") else _NOT_AN_IMAGE
            raise ArchiveError(f"{label} is not a readable tar archive: it {exc.message.removeprefix(label + ' ')}",
                               hint) from exc
        count += 1
        take(member)
    if not count:
        raise ArchiveError(f"{label} is not a readable tar archive: it holds no members", _NOT_AN_IMAGE)


def outer_member_refusal(member: Member) -> str | None:
    """Why a member of the outer archive cannot be a blob: a sparse member.

    ``docker save`` and OCI archives never hold sparse members; read, one of a few bytes
    could expand to a petabyte of holes.  (A size no file has is refused as the header is read.)
    """
    if member.issparse():
        return "a sparse member, which no image archive holds"
    return None


class StreamedArchive:
    """Every member of a tar archive, read in one sequential pass.

    With ``gzip_level``, each uncompressed layer is also measured gzipped as it
    passes (see :func:`~helpers.reading.layer_stream.scan_layer`), unless
    ``gzip_sizes`` remembers what gzip made of it, for a diff ID in ``layers``
    (see :mod:`helpers.reading.gzip_sizes`).
    """

    def __init__(self, stream: BinaryIO, label: str, gzip_level: int | None = None,
                 budget: EntryBudget | None = None, limits: Limits = DEFAULT_LIMITS,
                 gzip_sizes: GzipSizes | None = None, layers: frozenset[str] = frozenset()) -> None:
        self.label = label
        self._gzip_level = gzip_level
        self._gzip_sizes = gzip_sizes if gzip_level is not None else None
        self._layer_ids = layers
        self._docs: dict[str, bytes] = {}
        self._layers: dict[str, ScannedLayer] = {}
        self._refused: dict[str, str] = {}
        self._too_big: dict[str, int] = {}
        self._links = MemberLinks()
        self._budget = budget or EntryBudget(limits)
        each_member(StreamFeed(lambda: stream.read(RAW_CHUNK)), label, self._take, limits)

    def _take(self, member: Member) -> None:
        name = normalize_path(member.name)
        if not name:
            return
        for held in (self._docs, self._layers, self._refused, self._too_big):
            held.pop(name, None)  # a later member of the same name replaces an earlier one
        if self._links.record(member, name):
            return
        refused = outer_member_refusal(member)
        if refused is not None or not member.isreg():
            self._refused[name] = refused or not_regular(member)
            return
        head = member.read(512)
        is_layer = (  # a blob that is not JSON is a layer, whatever it starts with (a V7 tar, an empty one)
            sniff_compression(head) != "none"
            or looks_like_tar(head)
            or name.endswith("layer.tar")
            or (name.startswith("blobs/") and not head.lstrip().startswith((b"{", b"[")))
        )
        if is_layer:
            blob = HeadFirst(PlainReader(member.read), head)
            if self._gzip_sizes is None:
                self._layers[name] = scan_layer(blob, name, self._budget, self._gzip_level)  # type: ignore[arg-type]
            else:
                self._layers[name] = self._scan_remembered(blob, name, self._gzip_sizes)
        elif member.size <= METADATA_LIMIT:
            self._docs[name] = head + member.read()
        else:
            self._too_big[name] = member.size

    def _scan_remembered(self, blob: HeadFirst, name: str, sizes: GzipSizes) -> ScannedLayer:
        """Scan a layer, compressing it only if ``sizes`` does not already know what gzip makes of it."""
        level = self._gzip_level
        assert level is not None
        known = sizes.expect(name, level, self._layer_ids)
        if known is None:
            scanned = scan_layer(blob, name, self._budget, level)  # type: ignore[arg-type]
            if scanned.gzip_bytes is not None and scanned.digest is not None:
                sizes.learn(name, level, scanned.digest, scanned.gzip_bytes)
            return scanned
        scanned = scan_layer(blob, name, self._budget)  # type: ignore[arg-type]  # hashed, not compressed
        if scanned.digest != known[0] or scanned.compression != "none":
            sizes.forget(name, level)
            raise DigestMismatch(
                f"{self.label}: layer `{name}` holds {scanned.digest}, not {known[0]}, the layer a member of that "
                "name held before", "the engine named two layers alike; read the image again (this time it is "
                "measured afresh)",
            )
        scanned.gzip_bytes = known[1]
        return scanned

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
            raise too_big_error(self.label, name, self._too_big[final])
        if final in self._layers:
            raise refusal_error(self.label, name, "a tar or compressed blob, not a JSON document")
        why = self.refusal(name)
        if why is not None:
            raise refusal_error(self.label, name, why)
        return None

    def layer(self, name: str) -> ScannedLayer | None:
        return self._layers.get(self._links.resolve(name))

    def prefetch(self, names: list[str], prepare: Callable[[list[Entry]], object] | None = None) -> None:
        """Nothing to do: a stream's layers were all scanned as they passed."""


class IndexedArchive(ParallelScans):
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
        self._links = MemberLinks()
        size = os.fstat(self._file.fileno()).st_size
        self._feed = FileRangeFeed(self._file.fileno(), 0, size)
        try:
            each_member(self._feed, self.label, self._index, limits)
        except ArchiveError:
            self.close()
            raise
        for name, (start, length) in self._members.items():
            if start + length > size:
                self.close()
                raise ArchiveError(
                    f"{self.label} is truncated: member `{name}` runs past the end of the file",
                    "save or download it again",
                )

    def _index(self, member: Member) -> None:
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
            self._members[name] = (self._feed.tell(), member.size)  # the feed stands at its data
        else:  # a later member of the same name replaces an earlier one, as extraction would
            self._members.pop(name, None)
            self._refused[name] = not_regular(member)

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
                raise refusal_error(self.label, name, why)
            return None
        if where[1] > METADATA_LIMIT:
            raise too_big_error(self.label, name, where[1])
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
