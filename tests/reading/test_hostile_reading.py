"""Hostile archives against the reader's budgets: each test makes its own attack, small, and expects one clear error.

Every case here once cost minutes, gigabytes or a traceback (see helpers/README.md's
budgets).  The inputs are generated: a few KB that claim a negative size, an
index that fans out, a layer listed thousands of times, JSON nested past the
interpreter's stack, and so on.
"""

from __future__ import annotations

import gzip
import hashlib
import io
import json
import random
import subprocess
import sys
import tarfile
from pathlib import Path

import pytest
import zstandard
from archives import FILE, SYMLINK, TEN, docker_archive, make_layer, read_every_way, tar

import helpers
from helpers.ground.errors import ArchiveError
from helpers.ground.limits import Limits
from helpers.reading import blob_store, oci_index, oci_layout, parallel_scans, tar_archives
from helpers.reading.files import read_path
from helpers.views.report import text_report

ROOT = Path(__file__).resolve().parents[2]


def _pax_block(records: bytes) -> bytes:
    """A pax extended header (typeflag ``x``) holding exactly ``records``, padded to whole blocks."""
    info = tarfile.TarInfo("././@PaxHeader")
    info.type, info.size = tarfile.XHDTYPE, len(records)
    return info.tobuf(tarfile.USTAR_FORMAT) + records + bytes(-len(records) % 512)


def _record(key: str, value: str) -> bytes:
    body = f" {key}={value}\n".encode("utf-8", "surrogateescape")
    length = len(body) + 1
    while len(str(length)) + len(body) != length:
        length += 1
    return str(length).encode() + body


def _entry(name: str, data: bytes = b"x") -> bytes:
    info = tarfile.TarInfo(name)
    info.size = len(data)
    return info.tobuf(tarfile.USTAR_FORMAT) + data + bytes(-len(data) % 512)


def _raw_layer(*parts: bytes) -> bytes:
    return b"".join(parts) + bytes(1024)


# ---------------------------------------------------------------- tar headers


def test_a_negative_pax_size_is_refused_as_impossible_not_blamed_on_the_entry_ceiling():
    layer = _raw_layer(_pax_block(_record("size", "-1024")), _entry("a"), _entry("b"))
    with pytest.raises(ArchiveError) as raised:
        read_every_way(docker_archive([layer]))
    assert "negative" in str(raised.value) and "ceiling" not in str(raised.value)


def test_an_absurd_sparse_real_size_is_refused_not_reported():
    records = _record("GNU.sparse.major", "1") + _record("GNU.sparse.minor", "0") + _record(
        "GNU.sparse.realsize", str(10**20))
    layer = _raw_layer(_pax_block(records), _entry("sparse"))
    with pytest.raises(ArchiveError, match="corrupt tar header|impossible"):
        read_every_way(docker_archive([layer]))


def test_a_sparse_size_without_a_sparse_format_is_ignored_as_go_ignores_it():
    layer = _raw_layer(_pax_block(_record("GNU.sparse.realsize", str(10**20))), _entry("plain"))
    [entry] = read_every_way(docker_archive([layer])).image.layers[0].entries
    assert (entry.path, entry.size) == ("plain", 1)


def test_consecutive_pax_headers_are_one_budget_per_entry():
    """1,500 pax headers of just under 1 MiB each once piled up 1.6 GB; here four of 300 KB pass the 1 MiB budget."""
    headers = [_pax_block(_record("comment", "c" * 300_000)) for _ in range(4)]
    with pytest.raises(ArchiveError, match=r"before one entry .*LAYERLAB_MAX_METADATA_BYTES"):
        read_every_way(docker_archive([_raw_layer(*headers, _entry("a"))]))
    # the budget is per entry: the same headers spread over entries are fine
    spread = _raw_layer(*(header + _entry(f"f{i}") for i, header in enumerate(headers)))
    assert len(read_every_way(docker_archive([spread])).files) == 4


def test_global_pax_headers_count_against_the_same_budget():
    header = _record("comment", "g" * 300_000)
    info = tarfile.TarInfo("pax_global_header")
    info.type, info.size = tarfile.XGLTYPE, len(header)
    block = info.tobuf(tarfile.USTAR_FORMAT) + header + bytes(-len(header) % 512)
    with pytest.raises(ArchiveError, match="before one entry"):
        read_every_way(docker_archive([_raw_layer(block * 4, _entry("a"))]))


@pytest.mark.parametrize("records", [
    b"0" * 20_000 + b"30 path=x\n",  # thousands of leading zeros: once quadratic
    b"99999999999999999999999 path=x\n",  # a length longer than any header
    b"5 a=b\n",  # a length that does not cover its own fields
    b"12 path=xyz",  # no newline
    b"11 pathxyz\n",  # no =
], ids=["leading zeros", "huge length", "short length", "no newline", "no equals"])
def test_malformed_pax_records_are_refused_in_linear_time(records):
    with pytest.raises(ArchiveError, match="malformed pax header|corrupt tar header"):
        read_every_way(docker_archive([_raw_layer(_pax_block(records), _entry("a"))]))


# ---------------------------------------------------------------- indexes and manifests


def _blob(members: list, document: object) -> str:
    data = json.dumps(document).encode()
    digest = hashlib.sha256(data).hexdigest()
    members.append((f"blobs/sha256/{digest}", data, FILE, None))
    return f"sha256:{digest}"


def _oci(index_for: callable) -> bytes:
    """An OCI archive with one real image; ``index_for(members, manifest_descriptor)`` makes index.json's document."""
    members: list = []
    layer = TEN
    layer_digest = hashlib.sha256(layer).hexdigest()
    members.append((f"blobs/sha256/{layer_digest}", layer, FILE, None))
    config = _blob(members, {"os": "linux", "architecture": "amd64", "rootfs": {"diff_ids": []}})
    manifest = _blob(members, {
        "schemaVersion": 2, "config": {"digest": config, "size": 1},
        "layers": [{"mediaType": "application/vnd.oci.image.layer.v1.tar", "digest": f"sha256:{layer_digest}",
                    "size": len(layer)}],
    })
    descriptor = {"mediaType": "application/vnd.oci.image.manifest.v1+json", "digest": manifest,
                  "platform": {"os": "linux", "architecture": "amd64"}}
    members.append(("index.json", json.dumps(index_for(members, descriptor)).encode(), FILE, None))
    return tar(members)


NESTED = "application/vnd.oci.image.index.v1+json"


def test_nested_indexes_that_fan_out_are_each_read_once():
    """300 references a level, 5 levels: 300**5 expansions once; now each distinct index is read once."""

    def fan_out(members, descriptor):
        level = {"manifests": [descriptor]}
        for _ in range(5):
            digest = _blob(members, level)
            level = {"manifests": [{"mediaType": NESTED, "digest": digest}] * 300}
        return level

    analysis = read_every_way(_oci(fan_out))
    assert list(analysis.files.path) == ["a"]


def test_a_cycle_of_indexes_ends():
    def cycle(members, descriptor):
        # an index cannot name its own digest, but two that point at each other can be faked by listing
        # the same nested digest at every level: the reader must not expand it again
        inner = _blob(members, {"manifests": [descriptor]})
        middle = _blob(members, {"manifests": [{"mediaType": NESTED, "digest": inner}] * 2})
        return {"manifests": [{"mediaType": NESTED, "digest": middle}, {"mediaType": NESTED, "digest": inner}]}

    assert list(read_every_way(_oci(cycle)).files.path) == ["a"]


def test_an_index_past_the_descriptor_budget_is_refused():
    def wide(members, descriptor):
        return {"manifests": [descriptor] * (oci_index.MAX_INDEX_DESCRIPTORS + 1)}

    with pytest.raises(ArchiveError, match="more than 10,000 descriptors"):
        read_every_way(_oci(wide))


def test_a_layer_listed_thousands_of_times_is_refused_before_it_is_read():
    manifest = [{"Config": "c.json", "Layers": ["l0/layer.tar"] * 2_000}]
    with pytest.raises(ArchiveError, match="lists 2,000 layers"):
        read_every_way(docker_archive([TEN], manifest=manifest))


def test_the_entry_ceiling_counts_every_reference_to_a_layer():
    layer = make_layer(*((f"f{i}", b"", FILE, None) for i in range(3_000)))
    twice = [{"Config": "c.json", "Layers": ["l0/layer.tar", "l0/layer.tar"]}]
    with pytest.raises(ArchiveError, match="counting every layer each time the manifest lists it"):
        read_every_way(docker_archive([layer], manifest=twice), Limits(entries=5_000))
    both = read_every_way(docker_archive([layer], manifest=twice), Limits(entries=6_000))
    assert len(both.files) == 6_000  # a row per entry of each layer


DEEP = b"[" * 200_000 + b"]" * 200_000


@pytest.mark.parametrize("where", ["manifest.json", "config", "index.json", "nested index"])
def test_json_nested_past_the_stack_is_one_clear_error(where):
    if where == "manifest.json":
        data = docker_archive([TEN], manifest=DEEP)
    elif where == "config":
        data = tar([("l0/layer.tar", TEN, FILE, None), ("c.json", DEEP, FILE, None),
                     ("manifest.json", b'[{"Config": "c.json", "Layers": ["l0/layer.tar"]}]', FILE, None)])
    elif where == "index.json":
        data = tar([("index.json", DEEP, FILE, None)])
    else:
        digest = hashlib.sha256(DEEP).hexdigest()
        index = {"manifests": [{"mediaType": NESTED, "digest": f"sha256:{digest}"}]}
        data = tar([(f"blobs/sha256/{digest}", DEEP, FILE, None), ("index.json", json.dumps(index).encode(), FILE,
                                                                         None)])
    with pytest.raises(ArchiveError, match="nests deeper|not valid JSON"):
        read_every_way(data)


# ---------------------------------------------------------------- merge and dive's score


def test_a_path_1100_components_deep_with_a_whiteout_and_an_opaque_directory_is_measured():
    """Merge and dive's score walk such paths without recursion, and give what a shallow copy of the image gives."""

    def image(deep: str) -> bytes:
        lower = make_layer((f"{deep}/f", b"x" * 100, FILE, None), (f"{deep}/g/h", b"y" * 10, FILE, None))
        upper = make_layer((f"{deep}/.wh.f", b"", FILE, None), (f"{deep}/g/.wh..wh..opq", b"", FILE, None))
        return docker_archive([lower, upper])

    summary = read_every_way(image("/".join(["d"] * 1_100))).summary()
    assert summary == read_every_way(image("d")).summary()
    assert summary["final_bytes"] == 0 and summary["reclaimable_bytes"] == 110


# ---------------------------------------------------------------- text


def test_a_lone_surrogate_in_the_history_is_reported_not_a_crash(tmp_path):
    data = docker_archive([TEN], config={"history": [{"created_by": "RUN echo \udc80 > a"}]})
    report = text_report(read_every_way(data))
    report.encode("utf-8")  # printable as UTF-8
    path = tmp_path / "surrogate.tar"
    path.write_bytes(data)
    done = subprocess.run([sys.executable, "-m", "helpers", "report", str(path)], capture_output=True, cwd=ROOT,
                          env={"PYTHONIOENCODING": "utf-8", "PATH": "/usr/bin:/bin"})
    assert done.returncode == 0, done.stderr


# ---------------------------------------------------------------- process-wide state


def test_overlapping_readers_restore_the_switch_interval(tmp_path):
    # Compressed layers past INLINE_SCAN_BYTES: the ones scanned on the pool, where the interval is lowered.
    noise = random.Random(0).randbytes(parallel_scans.INLINE_SCAN_BYTES + 4096)
    path = tmp_path / "image.tar"
    path.write_bytes(docker_archive([gzip.compress(make_layer(("a", noise, FILE, None)), 1, mtime=0),
                                     gzip.compress(make_layer(("b", noise, FILE, None)), 1, mtime=0)]))
    before = sys.getswitchinterval()
    first = tar_archives.IndexedArchive(path)
    second = tar_archives.IndexedArchive(path)
    names = ["l0/layer.tar", "l1/layer.tar"]
    first.prefetch(names)
    second.prefetch(names)
    assert sys.getswitchinterval() < before
    first.close()  # the first out must not restore while the second still scans
    assert sys.getswitchinterval() < before
    second.close()
    assert sys.getswitchinterval() == before


# ---------------------------------------------------------------- messages that name the cause


def test_metadata_past_the_limit_is_named_not_called_missing(monkeypatch):
    for module in (blob_store, tar_archives, oci_layout):
        monkeypatch.setattr(module, "METADATA_LIMIT", 1_000)
    big = json.dumps([{"Config": "c.json", "Layers": ["l0/layer.tar"], "pad": "p" * 2_000}]).encode()
    with pytest.raises(ArchiveError, match="past the 1,000-byte limit for metadata"):
        read_every_way(docker_archive([TEN], manifest=big))


def test_an_index_json_that_is_a_device_or_a_link_out_is_named():
    device = io.BytesIO()
    with tarfile.open(fileobj=device, mode="w") as archive:
        info = tarfile.TarInfo("index.json")
        info.type = tarfile.CHRTYPE
        archive.addfile(info)
    with pytest.raises(ArchiveError, match="a character device, not a regular file"):
        read_every_way(device.getvalue())
    with pytest.raises(ArchiveError, match="outside the archive"):
        read_every_way(tar([("index.json", b"", SYMLINK, "/etc/passwd")]))


def test_a_symlinked_manifest_leading_out_of_a_layout_is_named(tmp_path):
    layout = tmp_path / "layout"
    layout.mkdir()
    (tmp_path / "outside.json").write_text("[]")
    (layout / "manifest.json").symlink_to(tmp_path / "outside.json")
    with pytest.raises(ArchiveError, match="symlink leading out of the layout"):
        read_path(layout)


# ---------------------------------------------------------------- compressed docker save


@pytest.mark.parametrize("compress", [gzip.compress, zstandard.ZstdCompressor().compress], ids=["gzip", "zstd"])
def test_a_compressed_docker_save_is_read(tmp_path, compress):
    plain = docker_archive([TEN, make_layer(("b", b"y" * 20, FILE, None))])
    path = tmp_path / "image.tar.z"
    path.write_bytes(compress(plain))
    assert helpers.analyze(read_path(path)).summary() == read_every_way(plain).summary()
    path.write_bytes(compress(plain)[:-40])  # truncated
    with pytest.raises(ArchiveError, match="truncated|not a readable"):
        read_path(path)


def test_a_compressed_docker_save_is_charged_to_the_expanded_budget(tmp_path):
    path = tmp_path / "bomb.tar.gz"
    path.write_bytes(gzip.compress(docker_archive([make_layer(("zeros", bytes(4 << 20), FILE, None))])))
    with pytest.raises(ArchiveError, match="LAYERLAB_MAX_EXPANDED_BYTES"):
        read_path(path, limits=Limits(expanded_bytes=1 << 20))


# ---------------------------------------------------------------- fuzz: pax, JSON and index shapes


def _random_json(rng: random.Random, depth: int = 0) -> object:
    choice = rng.randrange(9 if depth < 4 else 5)
    leaves = [None, True, rng.randint(-2**70, 2**70), "x" * rng.randrange(5), "sha256:" + "0" * 64]
    if choice < 5:
        return leaves[choice]
    if choice < 7:
        return [_random_json(rng, depth + 1) for _ in range(rng.randrange(4))]
    keys = ["manifests", "digest", "mediaType", "platform", "Config", "Layers", "config", "layers", "size",
            "annotations", "os", "architecture", "history", "rootfs", "diff_ids", "created_by", "empty_layer"]
    return {rng.choice(keys): _random_json(rng, depth + 1) for _ in range(rng.randrange(5))}


def test_a_bounded_fuzz_of_pax_records_json_shapes_and_indexes_never_crashes(capsys):
    rng = random.Random(20261202)
    keys = ["path", "linkpath", "size", "uid", "gid", "GNU.sparse.realsize", "GNU.sparse.size", "mtime", "comment"]
    values = ["-1", "0", "1", "99999999999999999999999", "1e5", " 3", "x", "", "a/../../b", "\udc80", "4096"]
    tried = errors = 0
    for _ in range(150):  # pax records, well formed or not
        records = b"".join(_record(rng.choice(keys), rng.choice(values))
                           if rng.random() < 0.8 else bytes(rng.randrange(256) for _ in range(rng.randrange(1, 30)))
                           for _ in range(rng.randrange(1, 5)))
        tried += 1
        try:
            layer = _raw_layer(_pax_block(records), _entry("a", b"z" * rng.randrange(600)), _entry("b"))
            read_every_way(docker_archive([layer]))
        except ArchiveError:
            errors += 1
    for _ in range(150):  # manifests, configs and indexes of random shapes
        where = rng.choice(["manifest", "config", "index", "nested"])
        document = json.dumps(_random_json(rng)).encode()
        if where == "manifest":
            data = docker_archive([TEN], manifest=document)
        elif where == "config":
            data = tar([("l0/layer.tar", TEN, FILE, None), ("c.json", document, FILE, None),
                         ("manifest.json", b'[{"Config": "c.json", "Layers": ["l0/layer.tar"]}]', FILE, None)])
        elif where == "index":
            data = tar([("index.json", document, FILE, None)])
        else:
            digest = hashlib.sha256(document).hexdigest()
            index = {"manifests": [{"mediaType": rng.choice([NESTED, ""]), "digest": f"sha256:{digest}"}] * 3}
            data = tar([(f"blobs/sha256/{digest}", document, FILE, None),
                         ("index.json", json.dumps(index).encode(), FILE, None)])
        tried += 1
        try:
            read_every_way(data)
        except ArchiveError:
            errors += 1
    with capsys.disabled():
        print(f"\nfuzz (pax, JSON, indexes): {tried} tried, {errors} clear errors, {tried - errors} read, 0 crashes")
    assert tried == 300
