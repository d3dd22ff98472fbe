"""The header reader and the seeking, parallel, bounded layer scan.

* Equivalence: :func:`helpers.reading.tar_headers.iter_entries` lists exactly what
  :mod:`tarfile` lists, on dive's real layers and on tars written here in every
  format tarfile writes (ustar, GNU, pax), with long names and links, base-256
  numbers, devices, V7 directories and non-ASCII names; by seeking in a file and
  by streaming, the same.
* Verification: an uncompressed layer whose contents were damaged is read by
  seeking (headers are intact) and refused with ``verify``, naming the layer.
* Volume: a decompression bomb stops at its ceiling with bounded memory; an
  absurd declared size and an oversized pax record are one clear error.
"""

from __future__ import annotations

import gzip
import io
import json
import subprocess
import sys
import tarfile
import tracemalloc
from pathlib import Path

import pytest
from archives import docker_archive, files_layer

import helpers
from helpers.ground.errors import ArchiveError, DigestMismatch
from helpers.ground.limits import Limits
from helpers.reading import parallel_scans
from helpers.reading.files import read_path
from helpers.reading.raw_bytes import FileRangeFeed, StreamFeed
from helpers.reading.tar_fields import normalize_path
from helpers.reading.tar_headers import iter_entries

ROOT = Path(__file__).resolve().parents[2]


def _expected(data: bytes) -> list[tuple]:
    """What tarfile makes of a tar: the fields an Entry keeps (kind refined by name as the reader does)."""
    rows = []
    with tarfile.open(fileobj=io.BytesIO(data), mode="r:") as tar:
        for info in tar:
            path = normalize_path(info.name)
            if not path:
                continue
            link = normalize_path(info.linkname) if info.islnk() else info.linkname
            rows.append((path, info.size, info.mode & 0o7777, info.uid, info.gid, link, info.type))
    return rows


def _entries_both_ways(data: bytes, tmp_path: Path) -> tuple[list, list]:
    path = tmp_path / "layer.tar"
    path.write_bytes(data)
    chunks = [data[i:i + 700] for i in range(0, len(data), 700)]  # odd-sized chunks cross every boundary
    streamed = list(iter_entries(StreamFeed(lambda: chunks.pop(0) if chunks else b""), "t"))
    with path.open("rb") as blob:
        seeked = list(iter_entries(FileRangeFeed(blob.fileno(), 0, len(data)), "t"))
    return streamed, seeked


def _as_rows(entries) -> list[tuple]:
    return [(e.path, e.size, e.mode, e.uid, e.gid, e.link) for e in entries]


def _written(fmt: int) -> bytes:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w", format=fmt) as tar:
        def add(name: str, kind: bytes = tarfile.REGTYPE, data: bytes = b"", **fields) -> None:
            info = tarfile.TarInfo(name)
            info.type = kind
            info.size = len(data) if kind == tarfile.REGTYPE else 0
            for key, value in fields.items():
                setattr(info, key, value)
            tar.addfile(info, io.BytesIO(data) if kind == tarfile.REGTYPE else None)

        add("usr", tarfile.DIRTYPE, mode=0o755)
        add("usr/bin/tool", data=b"x" * 1000, mode=0o4755, uid=1000, gid=1000)
        add("usr/" + "deep/" * 25 + "file.txt", data=b"y" * 513)  # past 100 characters: ustar's prefix field
        add("usr/lib/caf\u00e9-na\u00efve.so", data=b"z" * 7)
        if fmt != tarfile.USTAR_FORMAT:  # past what ustar can hold: GNU long names, pax records
            add("usr/" + "deeper/" * 60 + "file.txt", data=b"w" * 3)
            add("usr/bin/link", tarfile.SYMTYPE, linkname="../lib/" + "t" * 300)
        add("usr/bin/hard", tarfile.LNKTYPE, linkname="./usr/bin/tool")
        add("dev/null", tarfile.CHRTYPE, devmajor=1, devminor=3)
        add("run/fifo", tarfile.FIFOTYPE)
        add("etc/.wh.old", data=b"")
        add("etc/conf.d/.wh..wh..opq", data=b"")
        add("empty", data=b"")
        if fmt != tarfile.USTAR_FORMAT:  # ustar cannot hold these numbers
            add("big-ids", data=b"q", uid=3_000_000_000, gid=2_100_000_000)
    return buffer.getvalue()


@pytest.mark.parametrize("fmt", [tarfile.USTAR_FORMAT, tarfile.GNU_FORMAT, tarfile.PAX_FORMAT],
                         ids=["ustar", "gnu", "pax"])
def test_the_header_reader_lists_what_tarfile_lists(fmt, tmp_path):
    data = _written(fmt)
    expected = [row[:6] for row in _expected(data)]
    streamed, seeked = _entries_both_ways(data, tmp_path)
    assert _as_rows(streamed) == expected
    assert _as_rows(seeked) == expected
    kinds = {e.path: e.kind for e in streamed}
    assert kinds["usr"] == "dir" and kinds["usr/bin/hard"] == "hardlink" and kinds["dev/null"] == "other"
    assert kinds["etc/.wh.old"] == "whiteout" and kinds["etc/conf.d/.wh..wh..opq"] == "opaque"


def test_the_header_reader_agrees_with_tarfile_on_dives_real_layers(dive_testdata, tmp_path):
    """Every uncompressed layer inside dive's docker and kaniko archives, entry by entry."""
    checked = 0
    for archive in ("test-docker-image.tar", "test-kaniko-image.tar"):
        with tarfile.open(dive_testdata / archive) as outer:
            for member in outer:
                if not member.isreg() or member.size < 1024:
                    continue
                data = outer.extractfile(member).read()  # type: ignore[union-attr]
                if data[257:262] != b"ustar":
                    continue
                streamed, seeked = _entries_both_ways(data, tmp_path)
                expected = [row[:6] for row in _expected(data)]
                assert _as_rows(streamed) == expected == _as_rows(seeked), member.name
                checked += 1
    assert checked >= 10


def test_a_v7_directory_and_a_pax_size_override(tmp_path):
    v7 = bytearray(tarfile.TarInfo("old/").tobuf(tarfile.USTAR_FORMAT))
    v7[156:157] = b"\0"  # an old tar's regular type, for a name ending in /
    v7[148:156] = b"        "
    v7[148:155] = b"%06o\0" % (sum(v7) & 0o777777)
    data = bytes(v7) + bytes(1024)
    (entry,) = _entries_both_ways(data, tmp_path)[0]
    assert (entry.path, entry.kind) == ("old", "dir")


def test_damaged_contents_are_read_by_seeking_and_refused_with_verify(tmp_path):
    good = files_layer({"a": b"A" * 4000, "b": b"B" * 10})
    archive = bytearray(docker_archive([files_layer({"base": b"0"}), good], diff_ids=True))
    at = bytes(archive).index(b"A" * 4000) + 100
    archive[at] ^= 0xFF  # a flipped byte inside file contents: headers still intact
    path = tmp_path / "damaged.tar"
    path.write_bytes(bytes(archive))

    seeked = helpers.analyze(read_path(path, verify=False))
    assert seeked.stored_bytes == 4011  # the sizes are in the headers, which are intact
    with pytest.raises(DigestMismatch, match=r"layer 1 \(`l1/layer.tar`\)"):
        read_path(path, verify=True)
    cli = subprocess.run([sys.executable, "-m", "helpers", "report", "--verify", str(path)],
                         capture_output=True, text=True, cwd=ROOT)
    assert cli.returncode == 2
    assert cli.stderr.startswith("error: layer 1 (`l1/layer.tar`) has digest") and cli.stderr.count("\n") == 1
    assert subprocess.run([sys.executable, "-m", "helpers", "report", str(path)],
                          capture_output=True, cwd=ROOT).returncode == 0


@pytest.mark.parametrize("scanned", ["in the caller's thread", "on the pool"])
def test_errors_name_the_first_bad_layer_whichever_thread_meets_it_first(scanned, tmp_path, monkeypatch):
    bad = files_layer({"x": b"x" * 5000})[:1200]  # ends inside x's data
    layers = [files_layer({"ok": b"1"}), bad, bad, bad]
    if scanned == "on the pool":  # compressed, and no layer small enough to scan inline
        monkeypatch.setattr(parallel_scans, "INLINE_SCAN_BYTES", 0)
        layers = [gzip.compress(layer, 1, mtime=0) for layer in layers]
    archive = docker_archive(layers)
    path = tmp_path / "bad.tar"
    path.write_bytes(archive)
    for _ in range(5):
        with pytest.raises(ArchiveError, match=r"layer l1/layer.tar ends inside the data of `x`"):
            read_path(path)


def _gzip_image(
    layer: bytes, tmp_path: Path, blob: bytes | None = None, media: str = "gzip", described: bytes | None = None
) -> Path:
    """An OCI archive holding one gzip layer (written by hand, so it can hold anything, ``blob`` included).

    ``described``: the blob the manifest describes, when it is not the one stored.
    """
    import hashlib

    blob = gzip.compress(layer, compresslevel=9) if blob is None else blob
    described = blob if described is None else described
    config = json.dumps({"os": "linux", "architecture": "amd64", "rootfs": {"type": "layers", "diff_ids": [
        "sha256:" + hashlib.sha256(layer).hexdigest()]}}).encode()

    def descriptor(media: str, data: bytes) -> dict:
        return {"mediaType": media, "digest": "sha256:" + hashlib.sha256(data).hexdigest(), "size": len(data)}

    manifest = json.dumps({"schemaVersion": 2, "mediaType": "application/vnd.oci.image.manifest.v1+json",
                           "config": descriptor("application/vnd.oci.image.config.v1+json", config),
                           "layers": [descriptor(f"application/vnd.oci.image.layer.v1.tar+{media}",
                                                 described)]}).encode()
    index = json.dumps({"schemaVersion": 2, "manifests": [
        descriptor("application/vnd.oci.image.manifest.v1+json", manifest)]}).encode()
    path = tmp_path / "image.tar"
    with tarfile.open(path, "w") as tar:
        for named, data in ((described, blob), (config, config), (manifest, manifest)):
            info = tarfile.TarInfo("blobs/sha256/" + hashlib.sha256(named).hexdigest())
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
        for name, data in (("oci-layout", b'{"imageLayoutVersion": "1.0.0"}'), ("index.json", index)):
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    return path


def test_a_decompression_bomb_costs_bounded_memory_and_stops_at_its_ceiling(tmp_path, monkeypatch):
    """64 MiB of zeros in one file gzip to about 64 KiB: read with bounded memory, refused past the ceiling."""
    layer = files_layer({"zeros": bytes(64 << 20)})
    path = _gzip_image(layer, tmp_path)
    del layer
    assert path.stat().st_size < 200_000

    tracemalloc.start()
    try:
        analysis = helpers.analyze(read_path(path))
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert analysis.stored_bytes == 64 << 20
    assert peak < 24 << 20  # a few decompressed chunks, never the whole 64 MiB

    with pytest.raises(ArchiveError, match="decompresses past the ceiling of 16,777,216 bytes"):
        read_path(path, limits=Limits(expanded_bytes=16 << 20))


def test_an_absurd_declared_size_is_one_clear_error(tmp_path):
    header = tarfile.TarInfo("huge")
    header.size = 10**12  # a terabyte, declared in an archive of a few kilobytes
    layer = header.tobuf(tarfile.GNU_FORMAT) + b"x" * 2048
    path = tmp_path / "absurd.tar"
    path.write_bytes(docker_archive([layer]))
    with pytest.raises(ArchiveError, match=r"ends inside the data of `huge` \(1,000,000,000,000 bytes declared\)"):
        read_path(path)
    gz = _gzip_image(layer, tmp_path)
    with pytest.raises(ArchiveError, match="ends inside the data of `huge`|truncated"):
        read_path(gz)


def test_an_oversized_pax_record_is_refused_before_it_is_read(tmp_path):
    record = tarfile.TarInfo("././@PaxHeader")
    record.type = tarfile.XHDTYPE
    record.size = 50 << 20
    layer = record.tobuf(tarfile.USTAR_FORMAT) + bytes(4096)
    path = tmp_path / "pax.tar"
    path.write_bytes(docker_archive([layer]))
    with pytest.raises(ArchiveError, match="52,428,800-byte tar metadata record"):
        read_path(path)


def test_a_consumers_own_error_is_not_relabelled_as_a_malformed_archive(tmp_path):
    """A fault injected on purpose: a consumer that fails must surface as itself (a bug is a bug)."""
    path = tmp_path / "ok.tar"
    path.write_bytes(docker_archive([files_layer({"a": b"1"})], diff_ids=True))

    class Failing:
        def prepare(self, entries):
            return None

        def __call__(self, layer, prepared):
            raise KeyError("a bug in the consumer")

    with pytest.raises(KeyError, match="a bug in the consumer"):
        read_path(path, on_layer=Failing())


def _compressed(layer: bytes, media: str) -> bytes:
    import zstandard

    return gzip.compress(layer) if media == "gzip" else zstandard.ZstdCompressor().compress(layer)


_SOME_FILES = {f"f{i}": bytes([i]) * 3000 + bytes(range(256)) * 20 for i in range(40)}


@pytest.mark.parametrize("media", ["gzip", "zstd"])
def test_a_corrupt_compressed_stream_is_one_clear_error_naming_the_layer(media, tmp_path):
    """The manifest describes the damaged blob exactly, so only the decompressor can notice."""
    layer = files_layer(_SOME_FILES)
    blob = _compressed(layer, media)
    middle = len(blob) // 2
    blob = blob[:middle] + bytes(b ^ 0x5A for b in blob[middle:middle + 64]) + blob[middle + 64:]
    path = _gzip_image(layer, tmp_path, blob=blob, media=media)
    for verify in (False, True):
        with pytest.raises(ArchiveError, match=rf"layer blobs/sha256/[0-9a-f]{{64}} is not a readable {media} tar"):
            read_path(path, verify=verify)
    with path.open("rb") as stream, pytest.raises(ArchiveError, match=f"readable {media} tar"):
        helpers.reading.files.read_archive_stream(stream, "case")


@pytest.mark.parametrize("media", ["gzip", "zstd"])
def test_a_truncated_compressed_layer_is_one_clear_error_naming_the_layer(media, tmp_path):
    """A cut-off download: the descriptor still describes the whole blob."""
    import hashlib

    layer = files_layer(_SOME_FILES)
    whole = _compressed(layer, media)
    path = _gzip_image(layer, tmp_path, blob=whole[: len(whole) // 2], media=media, described=whole)
    digest = hashlib.sha256(whole).hexdigest()
    for verify in (False, True):
        with pytest.raises(ArchiveError, match=rf"layer 0 \(`blobs/sha256/{digest}`\)|layer blobs/sha256/{digest}"):
            read_path(path, verify=verify)


def test_header_checksums_are_checked_exactly_and_old_signed_sums_accepted(tmp_path):
    info = tarfile.TarInfo("caf\u00e9")  # a non-ASCII name: its bytes sum differently signed and unsigned
    header = bytearray(info.tobuf(tarfile.USTAR_FORMAT))
    body = header[:148] + b" " * 8 + header[156:]
    signed = sum(b - 256 if b > 127 else b for b in body)
    header[148:156] = b"%06o\0 " % signed
    (entry,) = _entries_both_ways(bytes(header) + bytes(1024), tmp_path)[0]
    assert entry.path == "caf\u00e9"

    header[148:156] = b"%06o\0 " % (signed + 1)  # off by one
    with pytest.raises(ArchiveError, match="bad header checksum"):
        _entries_both_ways(bytes(header) + bytes(1024), tmp_path)
