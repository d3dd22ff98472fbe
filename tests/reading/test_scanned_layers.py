"""A layer blob read again in one process is answered from memory, as it was read, and only while it is the same file.

The layout is made of a real layer (Alpine 3.20.3's minirootfs, with its apk
database), gzipped and plain.  To prove a second read does not scan, every scan
is made to fail (an injected fault) before it.
"""

from __future__ import annotations

import gzip
import os
import tarfile
from pathlib import Path

import pytest
from archives import oci_archive
from layerlab_fixtures import ALPINE_TARBALLS

from helpers.ground.errors import ArchiveError
from helpers.ground.limits import Limits
from helpers.reading import oci_layout, scan_budget
from helpers.reading.files import read_path
from helpers.reading.layer_stream import scan_blob_range
from helpers.reading.oci_layout import layout_layer
from helpers.reading.scan_budget import EntryBudget
from helpers.reading.scanned_layers import SCANNED_LAYERS, ScannedLayers

ROOTFS = ALPINE_TARBALLS / "alpine-minirootfs-3.20.3-x86_64.tar.gz"


@pytest.fixture(autouse=True)
def nothing_kept():
    SCANNED_LAYERS.clear()
    yield
    SCANNED_LAYERS.clear()


def _layout(folder: Path, compression: str) -> Path:
    if not ROOTFS.is_file():
        pytest.skip(f"{ROOTFS} is not here")
    folder.mkdir(parents=True, exist_ok=True)
    archive = folder / "image.tar"
    archive.write_bytes(oci_archive([gzip.decompress(ROOTFS.read_bytes())], compression))
    layout = folder / "layout"
    with tarfile.open(archive) as tar:
        tar.extractall(layout, filter="data")  # the test's own archive, made just above
    return layout


def _blob(layout: Path) -> Path:
    return max((layout / "blobs" / "sha256").iterdir(), key=lambda path: path.stat().st_size)


def _no_scans(monkeypatch) -> None:
    def refuse(*args, **kwargs):
        raise AssertionError("the layer was scanned again")

    monkeypatch.setattr(oci_layout, "scan_blob_range", refuse)


@pytest.mark.parametrize("compression", ["gzip", "none"])
def test_a_layer_read_again_is_answered_as_it_was_read(tmp_path, monkeypatch, compression):
    layout = _layout(tmp_path, compression)
    first = read_path(layout).layers[0]
    assert len(first.entries) > 50 and first.packages is not None and first.packages.packages
    _no_scans(monkeypatch)
    again = read_path(layout).layers[0]
    assert again == first
    assert again.entries is not first.entries

    again.entries.clear()  # a reader's own list: what is kept is not touched
    assert read_path(layout).layers[0] == first


def test_a_blob_rewritten_in_place_with_its_old_times_is_read_again(tmp_path):
    layout = _layout(tmp_path, "none")
    first = read_path(layout).layers[0]
    blob = _blob(layout)
    before = blob.stat()
    with tarfile.open(blob) as tar:
        member = next(m for m in tar if m.isfile() and len(m.name) < 100)
    data = bytearray(blob.read_bytes())
    header = member.offset
    last = header + len(member.name) - 1
    data[last] = ord("X") if data[last] != ord("X") else ord("Y")  # one file renamed, nothing else moved
    data[header + 148:header + 156] = b" " * 8
    data[header + 148:header + 156] = b"%06o\0 " % sum(data[header:header + 512])
    with open(blob, "r+b") as out:  # in place: the same inode, the same size
        out.write(data)
    os.utime(blob, ns=(before.st_atime_ns, before.st_mtime_ns))  # and its modification time put back
    assert (blob.stat().st_ino, blob.stat().st_size, blob.stat().st_mtime_ns) == (
        before.st_ino, before.st_size, before.st_mtime_ns)
    renamed = member.name[:-1] + chr(data[last])
    again = read_path(layout).layers[0]
    assert {e.path for e in again.entries} ^ {e.path for e in first.entries} == {
        member.name.removeprefix("./"), renamed.removeprefix("./")}


@pytest.mark.parametrize("compression", ["gzip", "none"])
def test_a_layer_from_memory_is_held_to_the_reading_s_ceilings(tmp_path, compression):
    layout = _layout(tmp_path, compression)
    first = read_path(layout).layers[0]
    entries = len(first.entries)
    with pytest.raises(ArchiveError) as fresh:
        SCANNED_LAYERS.clear()
        read_path(layout, limits=Limits(entries=entries - 1))
    read_path(layout)
    with pytest.raises(ArchiveError) as remembered:
        read_path(layout, limits=Limits(entries=entries - 1))
    assert remembered.value.message == fresh.value.message
    if compression == "gzip":  # what it expands to is charged again too
        expanded = len(gzip.decompress(ROOTFS.read_bytes()))
        with pytest.raises(ArchiveError, match="decompresses past the ceiling"):
            read_path(layout, limits=Limits(expanded_bytes=expanded - 1))
    assert read_path(layout).layers[0] == first


def test_a_layer_whose_database_the_budget_kept_out_is_read_again(tmp_path, monkeypatch):
    layout = _layout(tmp_path, "gzip")
    with monkeypatch.context() as spent:
        spent.setattr(scan_budget, "MAX_DOCUMENT_BYTES", 0)  # an image whose databases used up the budget
        assert read_path(layout).layers[0].packages.packages is None
    assert read_path(layout).layers[0].packages.packages


def test_a_read_with_verify_is_not_answered_by_one_without(tmp_path, monkeypatch):
    layout = _layout(tmp_path, "none")
    assert read_path(layout).layers[0].digest is not None  # named by its descriptor, whether hashed or not
    _no_scans(monkeypatch)
    with pytest.raises(AssertionError, match="scanned again"):
        read_path(layout, verify=True)


def test_what_is_kept_is_bounded_least_recently_used_first(tmp_path):
    layouts = [_layout(tmp_path / name, "gzip") for name in ("a", "b")]  # two files, one content
    entries = len(read_path(layouts[0]).layers[0].entries)
    kept = ScannedLayers(entries=entries)  # room for one layer
    scans: list[Path] = []

    def read_into(layout: Path) -> None:
        blob = _blob(layout)
        with open(blob, "rb") as file:
            info = os.fstat(file.fileno())
            budget = EntryBudget()

            def scan(draw):
                scans.append(layout)
                return scan_blob_range(file.fileno(), 0, info.st_size, blob.name, draw)

            kept.scan(kept.key(blob.name, info, False, budget), budget, blob.name, scan)

    for layout in [layouts[0], layouts[0], layouts[1], layouts[1], layouts[0]]:
        read_into(layout)
    assert scans == [layouts[0], layouts[1], layouts[0]]  # the second file's layer pushed the first out

    too_small = ScannedLayers(entries=entries - 1)  # a layer bigger than all it may keep is not kept
    kept, scans[:] = too_small, []
    read_into(layouts[0])
    read_into(layouts[0])
    assert scans == [layouts[0], layouts[0]]


def test_a_layout_layer_is_read_by_digest_and_kept_for_the_image_s_read(tmp_path, monkeypatch):
    layout = _layout(tmp_path, "gzip")
    blob = _blob(layout)
    alone = layout_layer(layout, f"sha256:{blob.name}")
    _no_scans(monkeypatch)
    assert read_path(layout).layers[0].entries == alone.entries
    with pytest.raises(ArchiveError, match="is not in"):
        layout_layer(layout, "sha256:" + "0" * 64)
