"""The OCI layout backend: an image layout (or an unpacked ``docker save``) in a folder, read where it lies.

Reads never leave the layout: a member whose real path lies outside it is
refused, and each member is checked again on its open descriptor, so a FIFO or
a link swapped in between is refused too, never waited on.
"""

from __future__ import annotations

import os
import stat
from collections.abc import Callable
from pathlib import Path

from ..ground.errors import ArchiveError
from ..ground.limits import DEFAULT_LIMITS, Limits
from ..ground.model import Entry
from .blob_store import METADATA_LIMIT, not_regular, refusal_error, too_big_error
from .layer_stream import ScannedLayer, scan_blob_range
from .oci_documents import blob_name, load_json
from .parallel_scans import ParallelScans
from .scanned_layers import SCANNED_LAYERS, Key
from .tar_fields import normalize_path

TYPE_CHECKING = False  # typing's own flag would import typing, which a report does not need
if TYPE_CHECKING:
    from typing import BinaryIO


class LayoutDirectory(ParallelScans):
    """An OCI layout (or an unpacked ``docker save``) on disk; blobs are read on demand.

    Reads never leave ``root``: a member whose real path (after symlinks) lies
    outside it counts as missing.
    """

    def __init__(self, root: Path, verify: bool = False, limits: Limits = DEFAULT_LIMITS) -> None:
        super().__init__(verify, limits)
        self.root = root.resolve()
        self.label = str(root)
        self._open: list[BinaryIO] = []
        self._keys: dict[str, Key] = {}

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
            return None, 0, not_regular(info.st_mode)
        return path, info.st_size, None

    def refusal(self, name: str) -> str | None:
        return self._lookup(name)[2]

    def _opened(self, name: str, path: Path) -> BinaryIO:
        """The member checked at ``path``, opened, then checked again on its descriptor: a regular file, never a
        FIFO or device swapped in since (which would block the read forever), nor a link put in its place."""
        try:
            fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_NOFOLLOW | os.O_CLOEXEC)
        except OSError as exc:
            raise refusal_error(self.label, name, f"unreadable ({exc.strerror})") from exc
        mode = os.fstat(fd).st_mode
        if not stat.S_ISREG(mode):
            os.close(fd)
            raise refusal_error(self.label, name, not_regular(mode))
        return open(fd, "rb")

    def doc(self, name: str) -> bytes | None:
        path, size, why = self._lookup(name)
        if why is not None:
            raise refusal_error(self.label, name, why)
        if path is None:
            return None
        if size > METADATA_LIMIT:
            raise too_big_error(self.label, name, size)
        with self._opened(name, path) as file:
            data = file.read(METADATA_LIMIT + 1)
        if len(data) > METADATA_LIMIT:
            raise too_big_error(self.label, name, len(data))
        return data

    def prefetch(self, names: list[str], prepare: Callable[[list[Entry]], object] | None = None) -> None:
        for name in dict.fromkeys(normalize_path(n) for n in names):
            path = self._lookup(name)[0]
            if path is None or name in self._futures:
                continue
            blob = self._opened(name, path)
            self._open.append(blob)
            fd = blob.fileno()
            info = os.fstat(fd)
            self._keys[name] = key = SCANNED_LAYERS.key(name, info, self._verify, self._budget)
            if SCANNED_LAYERS.holds(key):  # read already: answered in the caller's thread when awaited
                self._futures[name] = lambda fd=fd, size=info.st_size, name=name: self._scan_range(fd, 0, size, name)
            else:
                self._submit(name, fd, 0, info.st_size, prepare)

    def _scan_range(self, fd: int, start: int, length: int, name: str) -> ScannedLayer:
        """The layer as this process scanned it before (:mod:`~helpers.reading.scanned_layers`), or scanned now."""
        return SCANNED_LAYERS.scan(self._keys[name], self._budget, name,
                                   lambda budget: scan_blob_range(fd, start, length, name, budget, self._verify))

    def layer(self, name: str) -> ScannedLayer | None:
        name = normalize_path(name)
        self.prefetch([name])
        return self._await(name)

    def close(self, abandon: bool = False) -> None:
        super().close(abandon)
        for blob in self._open:
            blob.close()


def layout_document(layout: Path, name: str, what: str) -> dict | list:
    """A JSON document of an OCI layout on disk: ``index.json``, or a blob by its digest (``sha256:…``).

    Read as every layout document is read: inside the layout (a link out of it
    is refused), bounded by the metadata limit, and a blob checked against its
    digest; anything else is one :class:`ArchiveError`.
    """
    store = LayoutDirectory(Path(layout))
    try:
        return load_json(store, name if name == "index.json" else blob_name(name), what)
    finally:
        store.close()


def layout_layer(layout: Path, digest: str, verify: bool = False, limits: Limits = DEFAULT_LIMITS) -> ScannedLayer:
    """A layer blob of an OCI layout on disk, by its digest, scanned as an image's read scans it.

    So it is read inside the layout only, checked as every blob is, and kept
    with the layers this process has scanned: the read of an image holding it
    does not scan it again (:mod:`~helpers.reading.scanned_layers`).  A missing
    blob is an :class:`ArchiveError`.
    """
    with LayoutDirectory(Path(layout), verify, limits) as store:
        scanned = store.layer(blob_name(digest))
    if scanned is None:
        raise ArchiveError(f"layer {digest} is not in {layout}", "the layout is incomplete; write it again")
    return scanned
