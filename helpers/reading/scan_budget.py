"""The ceilings one image's read shares across its layers: entries, expanded bytes, kept documents.

Every layer of an image draws on one :class:`EntryBudget`, from threads at once;
a read that is abandoned (an interrupt, an error in another layer) stops every
scan that shares it at its next chunk.
"""

from __future__ import annotations

from _thread import allocate_lock  # threading.Lock itself, without importing threading (a small report starts none)

from ..ground.errors import ArchiveError
from ..ground.limits import DEFAULT_LIMITS, MAX_ENTRIES, MAX_EXPANDED_BYTES, Limits

#: The most tar entries one image may hold (``LAYERLAB_MAX_ENTRIES``).  A report costs about
#: 500 bytes an entry at its peak (the entries, the merged tree, dive's per-path figures), so
#: at this default a report stays under 150 MB of memory (``benchmarks/reader.py`` measures it).
DEFAULT_MAX_ENTRIES = MAX_ENTRIES.default


#: The most decompressed bytes one image may expand to (``LAYERLAB_MAX_EXPANDED_BYTES``): 64 GiB.
DEFAULT_MAX_EXPANDED_BYTES = MAX_EXPANDED_BYTES.default


#: The most bytes of package databases kept for one image, all layers together.
MAX_DOCUMENT_BYTES = 64 << 20


class ScanStopped(ArchiveError):
    """A layer's scan stopped because the read it belongs to was abandoned (an interrupt, or an error elsewhere)."""


class EntryBudget:
    """The ceilings shared by every layer of one image, from ``limits`` (default: the documented ones; thread-safe).

    Entries and expanded bytes are counted for the whole image; ``metadata`` is
    the ceiling of pax and GNU long-name bytes before any one entry.
    """

    def __init__(self, limits: Limits = DEFAULT_LIMITS) -> None:
        self.entries = limits.entries
        self.expanded = limits.expanded_bytes
        self.metadata = limits.metadata_bytes
        self._ceiling_entries = self.entries
        self._ceiling_expanded = self.expanded
        self.documents = MAX_DOCUMENT_BYTES
        self._lock = allocate_lock()
        self._stopped = False

    def stop(self) -> None:
        """Make every scan that shares this budget stop at its next chunk or batch (the read was abandoned)."""
        self._stopped = True

    def _check_stopped(self) -> None:
        if self._stopped:
            raise ScanStopped("the read was abandoned", "nothing to do: another error, or an interrupt, came first")

    def take_document(self, n: int) -> bool:
        """Reserve ``n`` bytes for a kept document; False (and nothing reserved) past the image's budget."""
        with self._lock:
            if n > self.documents:
                return False
            self.documents -= n
            return True

    def entries_left(self) -> int:
        """How many more entries the image may hold."""
        return max(self.entries, 0)

    def take_entries(self, n: int, name: str) -> None:
        self._check_stopped()
        with self._lock:
            self.entries -= n
            if self.entries < 0:
                raise ArchiveError(
                    f"layer {name} takes the image past the ceiling of {self._ceiling_entries:,} tar entries",
                    "raise LAYERLAB_MAX_ENTRIES if the machine has the memory (about 500 bytes an entry)",
                )

    def take_expanded(self, n: int, name: str, what: str = "layer") -> None:
        self._check_stopped()
        with self._lock:
            self.expanded -= n
            if self.expanded < 0:
                raise ArchiveError(
                    f"{what} {name} decompresses past the ceiling of {self._ceiling_expanded:,} bytes per image"
                    " (a decompression bomb?)",
                    "raise LAYERLAB_MAX_EXPANDED_BYTES if the image really is that large",
                )


class LayerDraw(EntryBudget):
    """One layer's draw on its image's :class:`EntryBudget`: every ``take`` passes to it and is counted here.

    What a scan took is what a later read of the same layer must take again
    (:mod:`helpers.reading.scanned_layers`): the count of entries is the layer's
    own, the expanded bytes are counted here, and documents are taken one by one.
    """

    def __init__(self, image: EntryBudget) -> None:  # no ceilings of its own: every take goes to ``image``
        self._image = image
        self.metadata = image.metadata
        self.expanded_taken = 0

    def stop(self) -> None:
        self._image.stop()

    def take_document(self, n: int) -> bool:
        return self._image.take_document(n)

    def entries_left(self) -> int:
        return self._image.entries_left()

    def take_entries(self, n: int, name: str) -> None:
        self._image.take_entries(n, name)

    def take_expanded(self, n: int, name: str, what: str = "layer") -> None:
        self._image.take_expanded(n, name, what)
        self.expanded_taken += n
