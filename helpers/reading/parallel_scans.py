"""Layer scans, awaited in order: compressed ones past a MiB run on threads as soon as they are asked for."""

from __future__ import annotations

import os
import sys
from _thread import allocate_lock  # threading.Lock itself, without importing threading (a small report starts none)
from collections.abc import Callable

from ..ground.limits import Limits
from ..ground.model import Entry
from . import compiled_scan
from .blob_store import ConsumerFailed
from .layer_stream import ScannedLayer, scan_blob_range
from .raw_bytes import sniff_compression
from .read_ahead import ReadAhead
from .scan_budget import EntryBudget

TYPE_CHECKING = False  # typing's own flag would import typing, which a report does not need

if TYPE_CHECKING:
    from concurrent.futures import Future, ThreadPoolExecutor

#: The interpreter's thread switch interval while layers are scanned (seconds).
SCAN_SWITCH_INTERVAL = 0.0005

#: Layers up to this size are scanned in the caller's thread, when awaited: a thread pool (and
#: ``concurrent.futures``, which loads ``logging``) costs a small image's report more than its
#: scans gain.
INLINE_SCAN_BYTES = 1 << 20


_switch_lock = allocate_lock()


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


def _uncompressed(fd: int, start: int, length: int) -> bool:
    """True when the blob at ``start`` of ``fd`` starts as no compressed stream does (or cannot be read here)."""
    try:
        return sniff_compression(os.pread(fd, 4, start) if length >= 4 else b"") == "none"
    except OSError:  # the scan meets the same error, and reports it as its own
        return True


class ParallelScans:
    """Layer scans, awaited in order: on a thread pool as soon as they are asked for, or when awaited.

    Decompression and hashing release the GIL, so compressed layers scan in
    parallel, and a caller can merge layer ``i`` while later layers are still
    being read.  Small layers, and uncompressed ones read without ``verify``
    (Python parsing headers, holding the GIL), are scanned in the caller's
    thread when awaited (:data:`INLINE_SCAN_BYTES`).  Errors surface when the failing layer is awaited, so the
    message names the first bad layer whichever thread met it first.
    """

    def __init__(self, verify: bool, limits: Limits) -> None:
        self._verify = verify
        self._budget = EntryBudget(limits)
        #: Each layer asked for: its scan on the pool, or, for a small one, the scan to run when it is
        #: awaited, and then what it found.
        self._futures: dict[str, Future[ScannedLayer] | Callable[[], ScannedLayer] | ScannedLayer | ReadAhead] = {}
        self._lowered = False
        self._pool: ThreadPoolExecutor | None = None
        self._ahead: ReadAhead | None = None

    def _submit(
        self, name: str, fd: int, start: int, length: int, prepare: Callable[[list[Entry]], object] | None
    ) -> None:
        if (length > INLINE_SCAN_BYTES and not self._verify and compiled_scan.AVAILABLE and (os.cpu_count() or 1) > 1
                and _uncompressed(fd, start, length)):
            # Read compiled, without the GIL, on a thread of its own (:mod:`~helpers.reading.read_ahead`)
            # while the caller merges the layers before.
            if self._ahead is None:
                self._ahead = ReadAhead()
                self._lower()
            self._ahead.add(name, lambda: self._scan_range(fd, start, length, name))
            self._futures[name] = self._ahead
            return
        if length <= INLINE_SCAN_BYTES or (not self._verify and _uncompressed(fd, start, length)):
            # Scanned when awaited, and the consumer makes what ``prepare`` would.  An uncompressed
            # layer read without ``verify`` is header parsing and seeks, Python holding the GIL
            # throughout: a thread would only take turns with the caller's merge.
            self._futures[name] = lambda: self._scan_range(fd, start, length, name)
            return
        if self._pool is None:
            from concurrent.futures import ThreadPoolExecutor  # loaded for the first large layer only

            self._pool = ThreadPoolExecutor(max(1, min(os.cpu_count() or 1, 4)), thread_name_prefix="layerlab-scan")
        self._lower()
        self._futures[name] = self._pool.submit(self._scan, fd, start, length, name, prepare)

    def _lower(self) -> None:
        if not self._lowered:
            # A thread back from decompressing waits for the GIL up to the switch interval
            # (5 ms) while another parses headers; a shorter one keeps both cores busy.  The
            # setting is process-wide: readers that overlap share it, counted, under a lock.
            _lower_switch_interval()
            self._lowered = True

    def _scan_range(self, fd: int, start: int, length: int, name: str) -> ScannedLayer:
        """Layer ``name``'s scan; a backend may answer it from memory (:mod:`~helpers.reading.oci_layout`)."""
        return scan_blob_range(fd, start, length, name, self._budget, self._verify)

    def _scan(
        self, fd: int, start: int, length: int, name: str, prepare: Callable[[list[Entry]], object] | None
    ) -> ScannedLayer:
        scanned = self._scan_range(fd, start, length, name)
        if prepare is not None and scanned.compression != "none":
            # Beside another thread's decompression, this Python work is nearly free.  Beside
            # another uncompressed scan (Python too) it is not, and its results would wait for
            # the layers below: the consumer prepares those itself, one at a time.
            try:
                scanned.prepared = prepare(scanned.entries)
            except Exception as exc:
                raise ConsumerFailed(exc) from exc
        return scanned

    def _await(self, name: str) -> ScannedLayer | None:
        future = self._futures.get(name)
        if future is None or isinstance(future, ScannedLayer):
            return future
        if isinstance(future, ReadAhead):
            self._futures[name] = scanned = future.result(name)
            return scanned
        if callable(future):
            self._futures[name] = future = future()
            return future
        return future.result()

    def close(self, abandon: bool = False) -> None:
        """Wait for the scans still running; with ``abandon`` (an interrupt, an error), stop them at their next chunk.

        Without it, a Ctrl-C during a large compressed layer would wait for the whole layer.
        """
        if abandon:
            self._budget.stop()
        if self._ahead is not None:
            self._ahead.close()
        if self._pool is not None:
            self._pool.shutdown(wait=True, cancel_futures=True)
        if self._lowered:
            self._lowered = False
            _restore_switch_interval()

    def __enter__(self):
        return self

    def __exit__(self, exc_type: object, *exc: object) -> None:
        self.close(abandon=exc_type is not None)
