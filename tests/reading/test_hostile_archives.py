"""Broken and hostile archives: each gives one clear ArchiveError or a correct analysis, never a crash.

The archives are real tars, written here member by member, so each case holds
exactly the defect it names.  The reader never writes anything, so no case
can write outside a temporary directory; the CLI's own checks of that are in
test_cli.py.
"""

from __future__ import annotations

import io
import json
import random
import tarfile
import tempfile
from pathlib import Path

import pytest

import helpers
from helpers.ground.errors import ArchiveError
from helpers.reading.archive import read_archive_stream, read_path

FILE, DIR, SYMLINK, HARDLINK = "file", tarfile.DIRTYPE, tarfile.SYMTYPE, tarfile.LNKTYPE


def _tar(members: list[tuple[str, bytes, object, str | None]]) -> bytes:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w", format=tarfile.PAX_FORMAT) as archive:
        for name, data, kind, link in members:
            info = tarfile.TarInfo(name)
            if kind == FILE:
                info.size = len(data)
                archive.addfile(info, io.BytesIO(data))
            else:
                info.type, info.linkname = kind, link or ""
                archive.addfile(info)
    return buffer.getvalue()


def _image(layers: list[bytes], config: object = None, manifest: object = None) -> bytes:
    members = [(f"l{i}/layer.tar", layer, FILE, None) for i, layer in enumerate(layers)]
    members.append(("c.json", json.dumps({} if config is None else config).encode(), FILE, None))
    manifest = [{"Config": "c.json", "Layers": [f"l{i}/layer.tar" for i in range(len(layers))]}] \
        if manifest is None else manifest
    members.append(("manifest.json", manifest if isinstance(manifest, bytes) else json.dumps(manifest).encode(),
                    FILE, None))
    return _tar(members)


def _layer(*entries) -> bytes:
    return _tar(list(entries))


TEN = _layer(("a", b"x" * 10, FILE, None))


def _read(data: bytes) -> helpers.Analysis:
    """Read ``data`` every way the reader can: as a stream, and as a file, seeking and verifying.

    Each way must give an analysis or one ArchiveError.  The stream and the
    verifying file read hash every blob, so they must agree exactly; the
    seeking read skips file contents, so it may read an archive whose contents
    (not headers) were damaged.  The stream's outcome is returned or raised.
    (They read in a different order, so two defects may be met in a different order.)
    """
    outcomes = []
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "case.tar"
        path.write_bytes(data)
        readers = [
            lambda: read_archive_stream(io.BytesIO(data), "case"),
            lambda: read_path(path, verify=True),
            lambda: read_path(path, verify=False),
        ]
        for read in readers:
            try:
                analysis = helpers.analyze(read())
                analysis.summary(), analysis.files, analysis.layers, analysis.hidden  # everything a report touches
                outcomes.append(analysis)
            except ArchiveError as exc:
                outcomes.append(exc)
    streamed, verified, _ = outcomes
    assert isinstance(streamed, ArchiveError) == isinstance(verified, ArchiveError)  # the first defect met may differ
    if isinstance(streamed, helpers.Analysis):
        assert streamed.summary() == verified.summary()  # type: ignore[union-attr]
        return streamed
    raise streamed


MALFORMED = {
    "manifest.json is an object": _image([TEN], manifest={"a": 1}),
    "manifest Config is a number": _image([TEN], manifest=[{"Config": 5, "Layers": ["l0/layer.tar"]}]),
    "manifest Layers are numbers": _image([TEN], manifest=[{"Config": "c.json", "Layers": [1, 2]}]),
    "manifest.json is not JSON": _image([TEN], manifest=b"{not json"),
    "config is a list": _image([TEN], config=[1, 2]),
    "a layer is missing": _image([TEN], manifest=[{"Config": "c.json", "Layers": ["nope/layer.tar"]}]),
    "the config is missing": _image([TEN], manifest=[{"Config": "nope.json", "Layers": ["l0/layer.tar"]}]),
    "no manifest at all": _tar([]),
    "not a tar": b"hello world" * 100,
    "index.json manifests is a number": _tar([("index.json", b'{"manifests": 5}', FILE, None)]),
    "index.json descriptor without digest": _tar([("index.json", b'{"manifests": [{}]}', FILE, None)]),
    "index.json is a list": _tar([("index.json", b"[1, 2]", FILE, None)]),
    "index.json platform is a string": _tar(
        [("index.json", b'{"manifests": [{"digest": "sha256:00", "platform": "linux"}]}', FILE, None)]),
    "a truncated archive": _image([TEN])[:700],
}


@pytest.mark.parametrize("case", MALFORMED)
def test_malformed_metadata_is_one_archive_error(case):
    with pytest.raises(ArchiveError):
        _read(MALFORMED[case])


# case: (layers, expected stored_bytes, expected final_bytes)
ODD_BUT_VALID = {
    "history is not a list": ([TEN], {"history": 5}, 10, 10),
    "history entries are strings": ([TEN], {"history": ["a", "b"]}, 10, 10),
    "created_by is a number": ([TEN], {"history": [{"created_by": 5}]}, 10, 10),
    "rootfs is a string (so there are no diff_ids to check)": ([TEN], {"rootfs": "x"}, 10, 10),
    "names with .. and absolute paths stay inside the image": (
        [_layer(("../../etc/passwd", b"x", FILE, None), ("/abs/file", b"yy", FILE, None))], None, 3, 3),
    "a hard link to a missing target": ([_layer(("h", b"", HARDLINK, "nope"))], None, 0, 0),
    "a symlink out of the image": ([_layer(("s", b"", SYMLINK, "../../../../etc/shadow"))], None, 0, 0),
    "devices and FIFOs": ([_layer(("f", b"", tarfile.FIFOTYPE, None), ("c", b"", tarfile.CHRTYPE, None))],
                          None, 0, 0),
    "very long names and link targets": (
        [_layer(("d/" * 400 + "f", b"x", FILE, None), ("s", b"", SYMLINK, "t" * 5000))], None, 1, 1),
    "the same path twice in one layer keeps the last": (
        [_layer(("a", b"x" * 5, FILE, None), ("a", b"y" * 7, FILE, None))], None, 12, 7),
    "a whiteout with an empty name deletes nothing": ([TEN, _layer((".wh.", b"", FILE, None))], None, 10, 10),
    "a whiteout and an opaque marker at the root": (
        [TEN, _layer((".wh.a", b"", FILE, None), (".wh..wh..opq", b"", FILE, None))], None, 10, 0),
}


@pytest.mark.parametrize("case", ODD_BUT_VALID)
def test_odd_but_valid_archives_are_measured_correctly(case):
    layers, config, stored, final = ODD_BUT_VALID[case]
    analysis = _read(_image(layers, config=config))
    assert (analysis.stored_bytes, analysis.final_bytes) == (stored, final)


def test_a_member_listed_twice_reads_as_its_last_copy_every_way():
    """tar's own rule: a later member of the same name replaces the earlier one (as extraction would)."""
    seven = _layer(("b", b"x" * 7, FILE, None))
    members = [("l0/layer.tar", TEN, FILE, None), ("l0/layer.tar", seven, FILE, None),
               ("c.json", b"{}", FILE, None), ("manifest.json", b"[]", FILE, None),
               ("manifest.json", json.dumps([{"Config": "c.json", "Layers": ["l0/layer.tar"]}]).encode(), FILE, None)]
    analysis = _read(_tar(members))
    assert analysis.stored_bytes == 7
    assert list(analysis.files.path) == ["b"]


def test_paths_are_kept_inside_the_image():
    analysis = _read(_image([_layer(("../../etc/passwd", b"x", FILE, None), ("/abs/file", b"yy", FILE, None))]))
    assert sorted(analysis.files.path) == ["abs/file", "etc/passwd"]


def test_a_bounded_fuzz_run_never_crashes(dive_testdata, capsys):
    """Random bit flips, truncations, zeroed and duplicated blocks of dive's real archives."""
    rng = random.Random(20261128)
    originals = [path.read_bytes() for path in sorted(dive_testdata.glob("*.tar"))]
    tried = errors = 0
    for _ in range(300):
        data = bytearray(rng.choice(originals))
        operation = rng.choice(["flip", "truncate", "zero", "duplicate"])
        if operation == "flip":
            for _ in range(rng.randint(1, 20)):
                data[rng.randrange(len(data))] ^= 1 << rng.randrange(8)
        elif operation == "truncate":
            del data[rng.randrange(len(data)):]
        elif operation == "zero":
            start = rng.randrange(len(data))
            data[start:start + 4096] = bytes(len(data[start:start + 4096]))
        else:
            start = rng.randrange(len(data))
            data[start:start] = data[rng.randrange(len(data)):][:512]
        tried += 1
        try:
            _read(bytes(data))
        except ArchiveError:
            errors += 1
    with capsys.disabled():
        print(f"\nfuzz: {tried} mutated archives tried, {errors} clear errors, {tried - errors} read, 0 crashes")
    assert tried == 300


def _many_entries(layers: int, per_layer: int) -> bytes:
    def layer(index: int) -> bytes:
        buffer = io.BytesIO()
        with tarfile.open(fileobj=buffer, mode="w") as archive:
            for i in range(per_layer):
                info = tarfile.TarInfo(f"l{index}/pkg{i % 100}/module_{i}.py")
                archive.addfile(info)  # empty files: millions of tiny entries, in small
        return buffer.getvalue()

    return _image([layer(i) for i in range(layers)])


def test_an_image_past_the_entry_ceiling_is_one_clear_error(monkeypatch):
    data = _many_entries(layers=2, per_layer=3_000)
    monkeypatch.setenv("LAYERLAB_MAX_ENTRIES", "5000")
    with pytest.raises(ArchiveError, match="past the ceiling of 5,000 tar entries"):
        _read(data)
    monkeypatch.setenv("LAYERLAB_MAX_ENTRIES", "6000")
    assert len(_read(data).files) == 6_000


def test_a_report_keeps_memory_near_the_documented_cost(tmp_path):
    """The documented peak is about 500 bytes an entry for a whole report (read, merge, dive, JSON)."""
    import tracemalloc

    path = tmp_path / "many.tar"
    path.write_bytes(_many_entries(layers=2, per_layer=10_000))
    tracemalloc.start()
    try:
        analysis = helpers.analyze(read_path(path))
        analysis.to_json()
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert sum(len(layer.entries) for layer in analysis.image.layers) == 20_000
    assert peak < 500 * 20_000
