"""Uncompressed layers scanned on threads of their own, in the order asked for, while the caller merges.

The compiled scan (:mod:`helpers.reading.compiled_scan`) reads a layer's headers without the
GIL, so on a second core it reads later layers while the caller merges and scores earlier
ones.  :data:`WORKERS` threads, started with :mod:`_thread` (``threading`` and
``concurrent.futures`` cost a report more than they save here), take the layers in the order
they were asked for: with two, the read of one large layer does not hold up the next large
one, which is ready by the time the caller has merged the first (measured on the
34,000-entry image: the caller waited 36 ms for its layers with one, about half with two).
A layer's error is raised when that layer is awaited; :meth:`ReadAhead.close` starts no more
scans (an abandoned read's budget stops those running too) and waits for the threads.
"""

from __future__ import annotations

from _thread import allocate_lock, start_new_thread
from collections.abc import Callable

from .layer_stream import ScannedLayer
from .scan_budget import ScanStopped

#: The threads that read ahead, at most.
WORKERS = 2


class ReadAhead:
    """The thread and the layers it has to scan, scanning and has scanned (thread-safe)."""

    def __init__(self) -> None:
        self._lock = allocate_lock()
        self._queue: list[tuple[str, Callable[[], ScannedLayer]]] = []
        self._done: dict[str, object] = {}  # name -> a lock held until its scan ends
        self._results: dict[str, tuple[ScannedLayer | None, BaseException | None]] = {}
        self._running = 0  # threads running
        self._stopped = False
        self._idle = allocate_lock()  # held while any thread runs

    def add(self, name: str, scan: Callable[[], ScannedLayer]) -> None:
        """Scan layer ``name`` with ``scan`` after the layers added before it."""
        done = allocate_lock()
        done.acquire()
        with self._lock:
            if self._stopped:
                raise ScanStopped("the read was abandoned", "nothing to do: another error, or an interrupt, came first")
            self._queue.append((name, scan))
            self._done[name] = done
            start = self._running < WORKERS
            if start:
                if not self._running:
                    self._idle.acquire()
                self._running += 1
        if start:
            start_new_thread(self._run, ())

    def _run(self) -> None:
        while True:
            with self._lock:
                if not self._queue or self._stopped:
                    for name, _ in self._queue:  # stopped: what was never started ends as stopped
                        self._results[name] = (None, ScanStopped("the read was abandoned", "nothing to do"))
                        self._done[name].release()  # type: ignore[attr-defined]
                    self._queue.clear()
                    self._running -= 1
                    if not self._running:
                        self._idle.release()
                    return
                name, scan = self._queue.pop(0)
            try:
                outcome: tuple[ScannedLayer | None, BaseException | None] = (scan(), None)
            except BaseException as exc:  # handed to the thread that awaits this layer
                outcome = (None, exc)
            self._results[name] = outcome
            self._done[name].release()  # type: ignore[attr-defined]

    def result(self, name: str) -> ScannedLayer:
        """Layer ``name``'s scan, once it has ended (an interrupt ends the wait); its error, raised here."""
        done = self._done[name]
        done.acquire()  # type: ignore[attr-defined]
        done.release()  # type: ignore[attr-defined]
        scanned, error = self._results[name]
        if error is not None:
            raise error
        return scanned  # type: ignore[return-value]

    def close(self) -> None:
        """Start no more scans, and wait for the threads to end (after the layers they are scanning)."""
        with self._lock:
            self._stopped = True
        with self._idle:
            pass
