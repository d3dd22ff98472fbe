"""Uncompressed layers past a MiB are read ahead, on a thread of their own, by the compiled scan.

* The same analysis as when every layer is read in the caller's thread, and the thread was used.
* A bad layer is one error naming it, raised when it is awaited; a consumer's error, or an
  interrupt, stops the read ahead, and no thread is left running.
"""

from __future__ import annotations

import _thread
import os
import time
from pathlib import Path

import pytest
from archives import docker_archive, files_layer
from layerlab_fixtures import current_settings, unavailable

from helpers.ground.errors import ArchiveError
from helpers.orchestration.sources import analyze_source
from helpers.reading import compiled_scan, parallel_scans, read_ahead
from helpers.reading.images import read_image

MIB = 1 << 20


@pytest.fixture(autouse=True)
def compiled() -> None:
    if not compiled_scan.AVAILABLE:
        unavailable(f"the compiled scan is {compiled_scan.STATE}")
    if (os.cpu_count() or 1) < 2:
        pytest.skip("one core: layers are read in the caller's thread")


def _layer(index: int) -> bytes:
    files = {f"srv/l{index}/big.bin": os.urandom(MIB + 4096)}
    files |= {f"srv/l{index}/pkg{i % 7}/f{i}.py": b"x" * i for i in range(300)}
    files |= {"var/lib/dpkg/status": f"Package: p{index}\nStatus: install ok installed\nVersion: 1\n\n".encode()}
    return files_layer(files)


def _archive(folder: Path, layers: list[bytes]) -> Path:
    path = folder / "image.tar"
    path.write_bytes(docker_archive(layers))
    return path


def _threads_settle(baseline: int) -> int:
    for _ in range(200):
        if _thread._count() <= baseline:
            break
        time.sleep(0.01)
    return _thread._count()


@pytest.mark.parametrize("workers", [1, 2, 3])
def test_read_ahead_gives_what_the_caller_s_thread_gives(tmp_path: Path, monkeypatch, workers: int) -> None:
    monkeypatch.setattr(read_ahead, "WORKERS", workers)
    path = _archive(tmp_path, [_layer(i) for i in range(4)])
    added: list[str] = []
    real_add = read_ahead.ReadAhead.add
    monkeypatch.setattr(read_ahead.ReadAhead, "add", lambda self, name, scan: (added.append(name),
                                                                               real_add(self, name, scan))[1])
    ahead = analyze_source(str(path), settings=current_settings())
    assert len(added) == 4
    monkeypatch.setattr(parallel_scans.compiled_scan, "AVAILABLE", False)
    inline = analyze_source(str(path), settings=current_settings())
    assert ahead.to_json() == inline.to_json()
    assert [layer.packages for layer in ahead.image.layers] == [layer.packages for layer in inline.image.layers]
    assert ahead.image.layers[2].packages.packages[0].name == "p2"


def test_a_bad_layer_read_ahead_is_one_error_naming_it(tmp_path: Path, monkeypatch) -> None:
    baseline = _thread._count()
    made = _spied(monkeypatch)
    bad = bytearray(_layer(2))
    bad[-3000] ^= 0xFF  # a header near the end: its checksum no longer holds
    path = _archive(tmp_path, [_layer(0), _layer(1), bytes(bad), _layer(3)])
    with pytest.raises(ArchiveError, match="layer l2/layer.tar"):
        analyze_source(str(path), settings=current_settings())
    assert len(made) == 1 and not made[0]._running
    assert _threads_settle(baseline) == baseline


def _spied(monkeypatch) -> list[read_ahead.ReadAhead]:
    made: list[read_ahead.ReadAhead] = []
    real_init = read_ahead.ReadAhead.__init__

    def init(self) -> None:
        real_init(self)
        made.append(self)

    monkeypatch.setattr(read_ahead.ReadAhead, "__init__", init)
    return made


def test_a_consumer_s_error_stops_the_read_ahead(tmp_path: Path, monkeypatch) -> None:
    baseline = _thread._count()
    path = _archive(tmp_path, [_layer(i) for i in range(6)])
    made = _spied(monkeypatch)

    def consumer(layer, prepared) -> None:
        raise KeyboardInterrupt  # what Ctrl-C raises in the caller while later layers are read ahead

    consumer.prepare = None  # type: ignore[attr-defined]
    with pytest.raises(KeyboardInterrupt):
        read_image(str(path), on_layer=consumer, settings=current_settings())  # type: ignore[arg-type]
    assert len(made) == 1
    assert not made[0]._running and made[0]._queue == []  # stopped and waited for, before the error came out
    assert _threads_settle(baseline) == baseline


def test_closing_starts_no_more_scans_and_ends_the_waits_of_those_never_started(monkeypatch) -> None:
    monkeypatch.setattr(read_ahead, "WORKERS", 1)  # the second scan waits for a thread
    ahead = read_ahead.ReadAhead()
    gate, closed, started = _thread.allocate_lock(), _thread.allocate_lock(), _thread.allocate_lock()
    gate.acquire()
    closed.acquire()
    started.acquire()
    ran: list[str] = []

    def first() -> str:
        started.release()
        with gate:
            ran.append("first")
        return "first's layer"

    ahead.add("first", first)  # type: ignore[arg-type]
    ahead.add("second", lambda: ran.append("second"))  # type: ignore[arg-type, return-value]
    started.acquire()  # the first scan is running
    _thread.start_new_thread(lambda: (ahead.close(), closed.release()), ())
    while not ahead._stopped:
        time.sleep(0.001)
    gate.release()  # the first scan ends only once close() has begun
    closed.acquire()
    assert ran == ["first"]
    assert ahead.result("first") == "first's layer"
    with pytest.raises(ArchiveError, match="abandoned"):
        ahead.result("second")


def test_two_layers_are_read_at_once(monkeypatch) -> None:
    """One large layer being read does not hold up the next: each thread takes the next layer asked for."""
    monkeypatch.setattr(read_ahead, "WORKERS", 2)
    ahead = read_ahead.ReadAhead()
    gate = _thread.allocate_lock()
    gate.acquire()
    started = [_thread.allocate_lock() for _ in range(2)]
    for lock in started:
        lock.acquire()

    def scan(index: int):
        def run() -> int:
            started[index].release()
            with gate:
                return index
        return run

    ahead.add("first", scan(0))  # type: ignore[arg-type]
    ahead.add("second", scan(1))  # type: ignore[arg-type]
    assert all(lock.acquire(timeout=30) for lock in started), "the second layer waited for the first"
    gate.release()
    assert (ahead.result("first"), ahead.result("second")) == (0, 1)
    ahead.close()
