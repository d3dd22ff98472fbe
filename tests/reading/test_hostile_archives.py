"""Broken and hostile archives: each gives one clear ArchiveError or a correct analysis, never a crash.

The archives are real tars, written here member by member, so each case holds
exactly the defect it names.  The reader never writes anything, so no case
can write outside a temporary directory; the CLI's own checks of that are in
edges/test_cli.py.
"""

from __future__ import annotations

import io
import json
import random
import tarfile

import pytest
from archives import FILE, HARDLINK, SYMLINK, TEN, docker_archive, make_layer, mutate, read_every_way, tar

import helpers
from helpers.ground.errors import ArchiveError
from helpers.ground.limits import Limits
from helpers.reading.files import read_path

MALFORMED = {
    "manifest.json is an object": docker_archive([TEN], manifest={"a": 1}),
    "manifest Config is a number": docker_archive([TEN], manifest=[{"Config": 5, "Layers": ["l0/layer.tar"]}]),
    "manifest Layers are numbers": docker_archive([TEN], manifest=[{"Config": "c.json", "Layers": [1, 2]}]),
    "manifest.json is not JSON": docker_archive([TEN], manifest=b"{not json"),
    "config is a list": docker_archive([TEN], config=[1, 2]),
    "a layer is missing": docker_archive([TEN], manifest=[{"Config": "c.json", "Layers": ["nope/layer.tar"]}]),
    "the config is missing": docker_archive([TEN], manifest=[{"Config": "nope.json", "Layers": ["l0/layer.tar"]}]),
    "no manifest at all": tar([]),
    "not a tar": b"hello world" * 100,
    "index.json manifests is a number": tar([("index.json", b'{"manifests": 5}', FILE, None)]),
    "index.json descriptor without digest": tar([("index.json", b'{"manifests": [{}]}', FILE, None)]),
    "index.json is a list": tar([("index.json", b"[1, 2]", FILE, None)]),
    "index.json platform is a string": tar(
        [("index.json", b'{"manifests": [{"digest": "sha256:00", "platform": "linux"}]}', FILE, None)]),
    "a truncated archive": docker_archive([TEN])[:700],
}


@pytest.mark.parametrize("case", MALFORMED)
def test_malformed_metadata_is_one_archive_error(case):
    with pytest.raises(ArchiveError):
        read_every_way(MALFORMED[case])


# case: (layers, expected stored_bytes, expected final_bytes)
ODD_BUT_VALID = {
    "history is not a list": ([TEN], {"history": 5}, 10, 10),
    "history entries are strings": ([TEN], {"history": ["a", "b"]}, 10, 10),
    "created_by is a number": ([TEN], {"history": [{"created_by": 5}]}, 10, 10),
    "rootfs is a string (so there are no diff_ids to check)": ([TEN], {"rootfs": "x"}, 10, 10),
    "names with .. and absolute paths stay inside the image": (
        [make_layer(("../../etc/passwd", b"x", FILE, None), ("/abs/file", b"yy", FILE, None))], None, 3, 3),
    "a hard link to a missing target": ([make_layer(("h", b"", HARDLINK, "nope"))], None, 0, 0),
    "a symlink out of the image": ([make_layer(("s", b"", SYMLINK, "../../../../etc/shadow"))], None, 0, 0),
    "devices and FIFOs": ([make_layer(("f", b"", tarfile.FIFOTYPE, None), ("c", b"", tarfile.CHRTYPE, None))],
                          None, 0, 0),
    "very long names and link targets": (
        [make_layer(("d/" * 400 + "f", b"x", FILE, None), ("s", b"", SYMLINK, "t" * 5000))], None, 1, 1),
    "the same path twice in one layer keeps the last": (
        [make_layer(("a", b"x" * 5, FILE, None), ("a", b"y" * 7, FILE, None))], None, 12, 7),
    "a whiteout with an empty name deletes nothing": ([TEN, make_layer((".wh.", b"", FILE, None))], None, 10, 10),
    "a whiteout and an opaque marker at the root": (
        [TEN, make_layer((".wh.a", b"", FILE, None), (".wh..wh..opq", b"", FILE, None))], None, 10, 0),
}


@pytest.mark.parametrize("case", ODD_BUT_VALID)
def test_odd_but_valid_archives_are_measured_correctly(case):
    layers, config, stored, final = ODD_BUT_VALID[case]
    analysis = read_every_way(docker_archive(layers, config=config))
    assert (analysis.stored_bytes, analysis.final_bytes) == (stored, final)


def test_a_member_listed_twice_reads_as_its_last_copy_every_way():
    """tar's own rule: a later member of the same name replaces the earlier one (as extraction would)."""
    seven = make_layer(("b", b"x" * 7, FILE, None))
    members = [("l0/layer.tar", TEN, FILE, None), ("l0/layer.tar", seven, FILE, None),
               ("c.json", b"{}", FILE, None), ("manifest.json", b"[]", FILE, None),
               ("manifest.json", json.dumps([{"Config": "c.json", "Layers": ["l0/layer.tar"]}]).encode(), FILE, None)]
    analysis = read_every_way(tar(members))
    assert analysis.stored_bytes == 7
    assert list(analysis.files.path) == ["b"]


def test_paths_are_kept_inside_the_image():
    escaping = make_layer(("../../etc/passwd", b"x", FILE, None), ("/abs/file", b"yy", FILE, None))
    analysis = read_every_way(docker_archive([escaping]))
    assert sorted(analysis.files.path) == ["abs/file", "etc/passwd"]


def test_a_bounded_fuzz_run_never_crashes(dive_testdata, capsys):
    """Random bit flips, truncations, zeroed and duplicated blocks of dive's real archives."""
    rng = random.Random(20261128)
    originals = [path.read_bytes() for path in sorted(dive_testdata.glob("*.tar"))]
    tried = errors = 0
    for _ in range(300):
        data = mutate(rng.choice(originals), rng)
        tried += 1
        try:
            read_every_way(data)
        except ArchiveError:
            errors += 1
    with capsys.disabled():
        print(f"\nfuzz: {tried} mutated archives tried, {errors} clear errors, {tried - errors} read, 0 crashes")
    assert tried == 300


def _many_entries(layers: int, per_layer: int) -> bytes:
    def make_layer(index: int) -> bytes:
        buffer = io.BytesIO()
        with tarfile.open(fileobj=buffer, mode="w") as archive:
            for i in range(per_layer):
                info = tarfile.TarInfo(f"l{index}/pkg{i % 100}/module_{i}.py")
                archive.addfile(info)  # empty files: millions of tiny entries, in small
        return buffer.getvalue()

    return docker_archive([make_layer(i) for i in range(layers)])


def test_an_image_past_the_entry_ceiling_is_one_clear_error():
    data = _many_entries(layers=2, per_layer=3_000)
    with pytest.raises(ArchiveError, match="past the ceiling of 5,000 tar entries"):
        read_every_way(data, Limits(entries=5_000))
    assert len(read_every_way(data, Limits(entries=6_000)).files) == 6_000


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


def _deep(depth: int) -> tuple[str, list[tuple[str, bytes, object, str | None]]]:
    """A tree ``depth`` folders deep with one 7-byte file at the bottom, as a layer's members."""
    path = "/".join(["d"] * depth)
    return path, [("/".join(["d"] * level), b"", tarfile.DIRTYPE, None) for level in range(1, depth + 1)] + [
        (f"{path}/leaf", b"x" * 7, FILE, None)]


@pytest.mark.parametrize("how", ["whiteout", "opaque", "shadow"])
def test_a_tree_1100_folders_deep_hidden_at_its_top_is_measured_not_a_recursion_error(how):
    _, members = _deep(1100)
    upper = {"whiteout": [(".wh.d", b"", FILE, None)], "opaque": [("d/.wh..wh..opq", b"", FILE, None)],
             "shadow": [("d", b"y", FILE, None)]}[how]
    analysis = read_every_way(docker_archive([make_layer(*members), make_layer(*upper)]))
    assert analysis.reclaimable_bytes == 7
    assert analysis.dive_wasted_bytes >= 0 and 0 <= analysis.efficiency <= 1
