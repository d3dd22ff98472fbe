"""Uncompressed layers scanned in order on one thread of their own, while the caller merges the ones before.

The compiled scan (:mod:`helpers.reading.compiled_scan`) reads a layer's headers without the
GIL, so on a second core it reads layer ``i + 1`` while the caller merges and scores layer ``i``.
One thread, started with :mod:`_thread` (``threading`` and ``concurrent.futures`` cost a report
more than they save here), takes the layers in the order they were asked for.  A layer's error
is raised when that layer is awaited; :meth:`ReadAhead.close` stops the thread after the layer
it is reading (an abandoned read's budget stops that one too) and waits for it.
"""

from __future__ import annotations

from _thread import allocate_lock, start_new_thread
from collections.abc import Callable

from .layer_stream import ScannedLayer
from .scan_budget import ScanStopped


class ReadAhead:
    """The thread and the layers it has to scan, scanning and has scanned (thread-safe)."""

    def __init__(self) -> None:
        self._lock = allocate_lock()
        self._queue: list[tuple[str, Callable[[], ScannedLayer]]] = []
        self._done: dict[str, object] = {}  # name -> a lock held until its scan ends
        self._results: dict[str, tuple[ScannedLayer | None, BaseException | None]] = {}
        self._running = False
        self._stopped = False
        self._idle = allocate_lock()  # held while the thread runs

    def add(self, name: str, scan: Callable[[], ScannedLayer]) -> None:
        """Scan layer ``name`` with ``scan`` after the layers added before it."""
        done = allocate_lock()
        done.acquire()
        with self._lock:
            if self._stopped:
                raise ScanStopped("the read was abandoned", "nothing to do: another error, or an interrupt, came first")
            self._queue.append((name, scan))
            self._done[name] = done
            start = not self._running
            if start:
                self._running = True
                self._idle.acquire()
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
                    self._running = False
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
        """Start no more scans, and wait for the thread to end (after the layer it is scanning)."""
        with self._lock:
            self._stopped = True
        with self._idle:
            pass
