"""What gzip makes of each layer, remembered while the process lives: a layer many images share is compressed once.

Measuring what a pull moves compresses every uncompressed layer as it is read, at zlib's
pace (level 6: a few seconds per 100 MB).  The variants of one notebook share their base's
layer, and each build's read would compress that layer again.  So each layer's gzip size is
kept here, under the sha256 of its bytes (its diff ID, which the stream's reader computes
anyway) and the level, with the name of the archive member that held it.

A later stream may then read a member of that name without compressing it, on two conditions
that a name alone cannot meet: the engine lists the remembered diff ID among the image's
layers (:meth:`GzipSizes.expect`), and the sha256 of the bytes read is that diff ID (the
reader checks it, and fails, forgetting the name, where it is not).  An engine names the
layers of its ``save`` output after their content (a legacy ``<v1 id>/layer.tar`` after its
chain of diff IDs, an OCI ``blobs/sha256/<digest>`` after its digest), so a name that held one
layer holds the same layer again.
"""

from __future__ import annotations

from _thread import allocate_lock

#: The most layers remembered; past it, the oldest half is forgotten (an entry is about 200 bytes).
MOST_REMEMBERED = 4096


class GzipSizes:
    """Layer name → (diff ID, gzip size), per gzip level: :meth:`learn` after a read, :meth:`expect` before one.

    Safe to share between threads: each call holds a lock.
    """

    def __init__(self, most: int = MOST_REMEMBERED) -> None:
        self._most = most
        self._known: dict[tuple[str, int], tuple[str, int]] = {}
        self._lock = allocate_lock()

    def expect(self, name: str, level: int, layers: frozenset[str]) -> tuple[str, int] | None:
        """``(diff ID, gzip size)`` remembered for member ``name`` at ``level``, if ``layers`` lists that diff ID."""
        with self._lock:
            known = self._known.get((name, level))
        return known if known is not None and known[0] in layers else None

    def learn(self, name: str, level: int, digest: str, gzip_bytes: int) -> None:
        """Remember that member ``name`` held the layer ``digest``, which gzip at ``level`` made ``gzip_bytes``."""
        with self._lock:
            if len(self._known) >= self._most:
                for key in list(self._known)[: self._most // 2]:  # insertion order: the oldest first
                    del self._known[key]
            self._known[(name, level)] = (digest, gzip_bytes)

    def forget(self, name: str, level: int) -> None:
        """Drop what ``name`` was remembered to hold (its bytes turned out to be another layer's)."""
        with self._lock:
            self._known.pop((name, level), None)
