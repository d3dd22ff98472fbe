"""A layer measured once is not compressed again: what gzip made of it is remembered, and checked by its hash."""

from __future__ import annotations

import gzip
import hashlib
import io
from pathlib import Path

import pytest
from archives import docker_archive, files_layer

from helpers.ground.errors import DigestMismatch
from helpers.reading.files import read_archive_stream
from helpers.reading.gzip_sizes import GzipSizes
from helpers.reading.raw_bytes import RawReader

LEVEL = 6
#: Layers of real text, which compresses as a real layer's files do: the project's own source.
SOURCES = sorted(Path(__file__).resolve().parents[2].joinpath("helpers").rglob("*.py"))
BASE = files_layer({f"src/{path.name}": path.read_bytes() for path in SOURCES[:20]})
OTHER = files_layer({f"src/{path.name}": path.read_bytes() for path in SOURCES[20:40]})


def _diff_id(layer: bytes) -> str:
    return "sha256:" + hashlib.sha256(layer).hexdigest()


def _read(archive: bytes, sizes: GzipSizes, layers: frozenset[str]):
    return read_archive_stream(io.BytesIO(archive), "saved", gzip_level=LEVEL, gzip_sizes=sizes, layers=layers)


def _refuse_to_compress(monkeypatch) -> None:
    def refuse(self, level, already_read):
        raise AssertionError("a layer whose gzip size is known was compressed again")

    monkeypatch.setattr(RawReader, "measure_gzip", refuse)


def test_a_layer_two_images_share_is_compressed_once(monkeypatch):
    sizes = GzipSizes()
    first = _read(docker_archive([BASE]), sizes, frozenset({_diff_id(BASE)}))
    assert first.layers[0].gzip_bytes == len(gzip.compress(BASE, LEVEL, mtime=0))
    _refuse_to_compress(monkeypatch)  # from here on, compressing a layer fails the read
    second = _read(docker_archive([BASE]), sizes, frozenset({_diff_id(BASE)}))
    assert second.layers[0].gzip_bytes == first.layers[0].gzip_bytes
    assert second.layers[0].digest == _diff_id(BASE)


def test_a_name_the_image_does_not_list_is_measured_afresh():
    sizes = GzipSizes()
    _read(docker_archive([BASE]), sizes, frozenset({_diff_id(BASE)}))
    # The same member name (l0/layer.tar) now holds other bytes, and the engine says so: measured, not trusted.
    image = _read(docker_archive([OTHER]), sizes, frozenset({_diff_id(OTHER)}))
    assert image.layers[0].gzip_bytes == len(gzip.compress(OTHER, LEVEL, mtime=0))


def test_a_name_that_now_holds_other_bytes_fails_once_then_is_measured_afresh():
    sizes = GzipSizes()
    _read(docker_archive([BASE]), sizes, frozenset({_diff_id(BASE)}))
    lying = frozenset({_diff_id(BASE), _diff_id(OTHER)})  # an engine that lists the old layer but sends another
    with pytest.raises(DigestMismatch, match=r"layer `l0/layer.tar` holds sha256:\w+, not sha256:\w+.*measured "
                                             r"afresh") as raised:
        _read(docker_archive([OTHER]), sizes, lying)
    assert "\n" not in str(raised.value.args[0])
    image = _read(docker_archive([OTHER]), sizes, lying)
    assert image.layers[0].gzip_bytes == len(gzip.compress(OTHER, LEVEL, mtime=0))


def test_without_a_level_nothing_is_compressed_or_remembered(monkeypatch):
    sizes = GzipSizes()
    _refuse_to_compress(monkeypatch)
    image = read_archive_stream(io.BytesIO(docker_archive([BASE])), "saved", gzip_sizes=sizes,
                                layers=frozenset({_diff_id(BASE)}))
    assert image.layers[0].gzip_bytes is None
    assert sizes.expect("l0/layer.tar", LEVEL, frozenset({_diff_id(BASE)})) is None


def test_a_level_remembers_only_its_own_sizes():
    sizes = GzipSizes()
    sizes.learn("l0/layer.tar", LEVEL, _diff_id(BASE), 100)
    assert sizes.expect("l0/layer.tar", LEVEL, frozenset({_diff_id(BASE)})) == (_diff_id(BASE), 100)
    assert sizes.expect("l0/layer.tar", 9, frozenset({_diff_id(BASE)})) is None


def test_memory_is_bounded_and_forgets_the_oldest_first():
    sizes = GzipSizes(most=8)
    everything = frozenset(f"sha256:{n}" for n in range(100))
    for n in range(100):
        sizes.learn(f"l{n}/layer.tar", LEVEL, f"sha256:{n}", n)
    kept = [n for n in range(100) if sizes.expect(f"l{n}/layer.tar", LEVEL, everything) is not None]
    assert 0 < len(kept) <= 8
    assert kept == list(range(100 - len(kept), 100))  # the newest stay


@pytest.mark.engine
def test_an_engine_image_read_again_is_not_compressed_again_and_measures_the_same(docker_client, alpine,
                                                                                    monkeypatch):
    import json
    import tarfile

    from helpers.building.engine import PULL_GZIP_LEVEL
    from helpers.reading.daemon import read_engine_image, save_stream

    first = read_engine_image(alpine, docker_client, gzip_level=PULL_GZIP_LEVEL)
    _refuse_to_compress(monkeypatch)  # the engine's own names and diff IDs must find the remembered size
    again = read_engine_image(alpine, docker_client, gzip_level=PULL_GZIP_LEVEL)
    with tarfile.open(fileobj=io.BytesIO(save_stream(alpine, docker_client).read())) as archive:
        [entry] = json.load(archive.extractfile("manifest.json"))
        layer = archive.extractfile(entry["Layers"][0]).read()
    real = len(gzip.compress(layer, PULL_GZIP_LEVEL, mtime=0))
    assert [first.layers[0].gzip_bytes, again.layers[0].gzip_bytes] == [real, real]
