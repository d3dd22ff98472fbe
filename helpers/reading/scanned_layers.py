"""Layer blobs this process has scanned already, so the next read of the same file need not read it again.

A notebook reads every image it builds, and its images share their base:
06 reads Debian's base layer in 14 images, and each read gunzipped and parsed
its 30 MB again (about 0.3 s).  What a scan found (entries, digest,
compression, package databases) is kept here, for blobs in a folder on disk
(an OCI layout), keyed by the file as it is now: device, inode, size, and
modification and change times in nanoseconds.  A file rewritten in place gets
a new change time, which no program can set back, and a file replaced is
another inode.  The reading's ``verify`` flag and metadata ceiling are part of
the key too, since they change what a scan checks.

A layer answered from memory charges its image's budget just as its scan did
(entries, expanded bytes, each package database), so a ceiling refuses an
image the same way either way.  A layer whose scan kept a database out for the
budget's sake is not kept, since another image's budget might have let it in.

Bounded: at most :data:`KEPT_ENTRIES` entries and :data:`KEPT_DOCUMENT_BYTES`
of databases in all, the least recently used going first.  Entries are
immutable, and each answer is a list and a dict of its own.
"""

from __future__ import annotations

import os
from _thread import allocate_lock  # threading.Lock itself, without importing threading (a small report starts none)
from collections import OrderedDict
from collections.abc import Callable

from ..ground.model import Entry
from .layer_stream import ScannedLayer
from .scan_budget import EntryBudget, LayerDraw

#: The most entries kept, all layers together: about 20 MB at 200 bytes an entry, mostly shared
#: with the analyses that hold the same entries.
KEPT_ENTRIES = 100_000

#: The most package database bytes kept, all layers together.
KEPT_DOCUMENT_BYTES = 32 << 20

#: A blob file as it is now, and how it was read: name, device, inode, size, mtime and ctime (ns), verify, metadata.
Key = tuple[str, int, int, int, int, int, bool, int]


class _Kept:
    __slots__ = ("entries", "digest", "compression", "blob_bytes", "documents", "expanded", "document_bytes")

    def __init__(self, scanned: ScannedLayer, expanded: int) -> None:
        self.entries: tuple[Entry, ...] = tuple(scanned.entries)
        self.digest = scanned.digest
        self.compression = scanned.compression
        self.blob_bytes = scanned.blob_bytes
        self.documents: dict[str, bytes] = dict(scanned.documents)  # type: ignore[arg-type]  # no None: see kept()
        self.expanded = expanded
        self.document_bytes = sum(len(data) for data in self.documents.values())

    def charged(self, budget: EntryBudget, name: str) -> ScannedLayer:
        """What the scan found, taken from ``budget`` as the scan took it."""
        budget.take_entries(len(self.entries), name)
        budget.take_expanded(self.expanded, name)
        documents: dict[str, bytes | None] = {
            path: data if budget.take_document(len(data)) else None for path, data in self.documents.items()}
        return ScannedLayer(list(self.entries), self.digest, self.compression, self.blob_bytes, documents=documents)


class ScannedLayers:
    """The layers kept, least recently used first (thread-safe)."""

    def __init__(self, entries: int = KEPT_ENTRIES, document_bytes: int = KEPT_DOCUMENT_BYTES) -> None:
        self._ceiling_entries = entries
        self._ceiling_documents = document_bytes
        self._kept: OrderedDict[Key, _Kept] = OrderedDict()
        self._entries = 0
        self._documents = 0
        self._lock = allocate_lock()

    @staticmethod
    def key(name: str, info: os.stat_result, verify: bool, budget: EntryBudget) -> Key:
        """The key of blob ``name`` whose open file has status ``info``, read with ``verify`` against ``budget``."""
        return (name, info.st_dev, info.st_ino, info.st_size, info.st_mtime_ns, info.st_ctime_ns, verify,
                budget.metadata)

    def holds(self, key: Key) -> bool:
        with self._lock:
            return key in self._kept

    def scan(self, key: Key, budget: EntryBudget, name: str,
             scan: Callable[[EntryBudget], ScannedLayer]) -> ScannedLayer:
        """The layer ``key`` names, from memory, or scanned by ``scan`` (given the budget to draw on) and kept."""
        with self._lock:
            kept = self._kept.get(key)
            if kept is not None:
                self._kept.move_to_end(key)
        if kept is not None:
            return kept.charged(budget, name)
        draw = LayerDraw(budget)
        scanned = scan(draw)
        if all(data is not None for data in scanned.documents.values()):
            self._keep(key, _Kept(scanned, draw.expanded_taken))
        return scanned

    def _keep(self, key: Key, kept: _Kept) -> None:
        if len(kept.entries) > self._ceiling_entries or kept.document_bytes > self._ceiling_documents:
            return
        with self._lock:
            previous = self._kept.pop(key, None)
            if previous is not None:
                self._entries -= len(previous.entries)
                self._documents -= previous.document_bytes
            self._kept[key] = kept
            self._entries += len(kept.entries)
            self._documents += kept.document_bytes
            while self._entries > self._ceiling_entries or self._documents > self._ceiling_documents:
                _, gone = self._kept.popitem(last=False)
                self._entries -= len(gone.entries)
                self._documents -= gone.document_bytes

    def clear(self) -> None:
        with self._lock:
            self._kept.clear()
            self._entries = self._documents = 0


#: This process's layers kept (see the module's docstring).
SCANNED_LAYERS = ScannedLayers()
