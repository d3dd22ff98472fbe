"""dive's own test archives, measured to the byte.

Expected figures come from outside the helpers:

* ``test-docker-image.tar``: dive 0.13.1's published figures (size, inefficient
  bytes, efficiency, per-layer sizes; see ../shared/README.md), plus what
  ``tar tvf`` of each ``layer.tar`` shows;
* ``test-kaniko-image.tar``: computed by hand from ``tar tzvf`` of each layer
  blob (listings summarised in the comments below);
* the four OCI archives: one layer holding one file, README.md, 11189 bytes.
"""

from __future__ import annotations

import pandas as pd
import pytest
from layerlab_fixtures import DIVE_DOCKER_IMAGE

import helpers

pytestmark = pytest.mark.usefixtures("dive_testdata")

# ---------------------------------------------------------------- test-docker-image.tar
# tar tvf of the 14 layer.tar (base first):
#   0  415 entries: 6 files = 1154361 B, 17 dirs, 392 hard links      (busybox base)
#   1  somefile.txt 6405                                              ADD
#   2  root/ root/example/ root/example/really/ …/nested/             mkdir -p
#   3  root/ root/example/ root/example/somefile1.txt 6405            cp
#   4  root/ root/example/ root/example/somefile1.txt 6405 (r--r--r--) chmod 444: stored again
#   5  root/ root/example/ root/example/somefile2.txt 6405            cp
#   6  root/ root/example/ root/example/somefile3.txt 6405            cp
#   7  root/ root/example/ root/example/.wh.somefile3.txt root/saved.txt 6405   mv
#   8  root/ root/.saved.txt 6405                                     cp
#   9  root/ root/.wh.example                                         rm -rf /root/example/
#  10  root/ root/.data/ tag.sh 917, test.sh 1270                     ADD dir
#  11  tmp/ tmp/saved.again1.txt 6405                                 cp
#  12  root/ root/.data/ root/.data/saved.again2.txt 6405             cp
#  13  root/ root/saved.txt 6405 (rwxr-xr-x)                          chmod +x: stored again
# Hidden: somefile1 (3, shadowed by 4), somefile1 (4, deleted by 9), somefile2 (5, deleted by 9),
# somefile3 (6, deleted by 7), saved.txt (7, shadowed by 13): 5 x 6405 = 32025 reclaimable.
# dive: keys seen twice are somefile1 (6405+6405), somefile3 (6405+0 for its whiteout) and
# saved.txt (6405+6405) = 32025 wasted; efficiency = Σmin/Σcum = 1214193/1233408.
DOCKER_SIZES = [1154361, 6405, 0, 6405, 6405, 6405, 6405, 6405, 6405, 0, 2187, 6405, 6405, 6405]
DOCKER_HIDDEN = [
    (3, 4, "shadowed", "root/example/somefile1.txt", 6405),
    (4, 9, "deleted", "root/example/somefile1.txt", 6405),
    (5, 9, "deleted", "root/example/somefile2.txt", 6405),
    (6, 7, "deleted", "root/example/somefile3.txt", 6405),
    (7, 13, "shadowed", "root/saved.txt", 6405),
]

# ---------------------------------------------------------------- test-kaniko-image.tar
# The same Dockerfile built by kaniko: gzip layers named <hex>.tar.gz, each with a "/" entry
# (dropped: it is the root) and whiteouts listed first. README.md is 9249 bytes here.
#   0  421 entries: 6 files (bin/[ 1145088, bin/getconf 85736, etc/group 306, etc/localtime 127,
#      etc/passwd 340, etc/shadow 136 = 1231733 B), 17 dirs, 398 hard links
#   1..13 as above with 9249 instead of 6405, and .data/test-coverage.sh 1270 instead of test.sh.
# stored = 1231733 + 10 x 9249 + 917 + 1270 = 1326410; reclaimable = 5 x 9249 = 46245;
# final = 1326410 - 46245 = 1280165.
# dive: Σcum = 1231733 + 12 x 9249 + 2187 = 1344908 (somefile1, saved.txt twice; somefile3 9249+0;
# root/example's whiteout counts its subtree 9249+9249 once), Σmin = 1231733 + 9 x 9249 + 2187 = 1317161;
# wasted = somefile1 18498 + somefile3 9249 + saved.txt 18498 = 46245.
KANIKO_SIZES = [1231733, 9249, 0, 9249, 9249, 9249, 9249, 9249, 9249, 0, 2187, 9249, 9249, 9249]
KANIKO_HIDDEN = [(layer, by, how, path, 9249) for layer, by, how, path, _ in DOCKER_HIDDEN]

OCI_README = 11189

EXPECTED = {
    "test-docker-image.tar": {
        "format": "docker-archive",
        **DIVE_DOCKER_IMAGE,
        "layer_stored": DOCKER_SIZES,
        "layer_reclaimable": [0, 0, 0, 6405, 6405, 6405, 6405, 6405, 0, 0, 0, 0, 0, 0],
        "layer_entries": [415, 1, 4, 3, 3, 3, 3, 4, 2, 2, 4, 2, 3, 2],
        "hidden": DOCKER_HIDDEN,
    },
    "test-kaniko-image.tar": {
        "format": "docker-archive",
        "layers": 14,
        "stored_bytes": 1326410,
        "final_bytes": 1280165,
        "reclaimable_bytes": 46245,
        "efficiency": 1280165 / 1326410,
        "dive_efficiency": 1317161 / 1344908,
        "dive_wasted_bytes": 46245,
        "layer_stored": KANIKO_SIZES,
        "layer_reclaimable": [0, 0, 0, 9249, 9249, 9249, 9249, 9249, 0, 0, 0, 0, 0, 0],
        "layer_entries": [421, 1, 4, 3, 3, 3, 3, 4, 2, 2, 4, 2, 3, 2],
        "hidden": KANIKO_HIDDEN,
    },
    **{
        f"test-oci-{flavour}-image.tar": {
            "format": "oci-archive",
            "layers": 1,
            "stored_bytes": OCI_README,
            "final_bytes": OCI_README,
            "reclaimable_bytes": 0,
            "efficiency": 1.0,
            "dive_efficiency": 1.0,
            "dive_wasted_bytes": 0,
            "layer_stored": [OCI_README],
            "layer_reclaimable": [0],
            "layer_entries": [1],
            "hidden": [],
        }
        for flavour in ("gzip", "zstd", "uncompressed", "estargz")
    },
}

OCI_ARCHIVES = [name for name in EXPECTED if name.startswith("test-oci-")]
FILE_IDENTITY = ["path", "kind", "size", "mode", "uid", "gid"]


@pytest.fixture(scope="module")
def analyses(dive_testdata):
    return {name: helpers.analyze(helpers.read_image(dive_testdata / name)) for name in EXPECTED}


def test_every_archive_in_dive_testdata_has_expected_figures(dive_testdata):
    assert sorted(p.name for p in dive_testdata.glob("*.tar")) == sorted(EXPECTED)


@pytest.mark.parametrize("name", list(EXPECTED))
def test_image_figures(analyses, name):
    expected = EXPECTED[name]
    analysis = analyses[name]
    assert analysis.image.format == expected["format"]
    assert analysis.summary() == {
        key: expected[key]
        for key in (
            "layers", "stored_bytes", "final_bytes", "reclaimable_bytes", "efficiency", "dive_efficiency",
            "dive_wasted_bytes",
        )
    }
    assert analysis.stored_bytes - analysis.final_bytes == analysis.reclaimable_bytes


@pytest.mark.parametrize("name", list(EXPECTED))
def test_per_layer_figures(analyses, name):
    expected = EXPECTED[name]
    table = analyses[name].layers
    assert list(table.index) == list(range(expected["layers"]))
    assert list(table.stored_bytes) == expected["layer_stored"]
    assert list(table.reclaimable_bytes) == expected["layer_reclaimable"]
    assert list(table.visible_bytes) == [
        s - r for s, r in zip(expected["layer_stored"], expected["layer_reclaimable"], strict=True)
    ]
    assert list(table.entries) == expected["layer_entries"]


@pytest.mark.parametrize("name", list(EXPECTED))
def test_who_hides_what(analyses, name):
    hidden = analyses[name].hidden
    rows = sorted(hidden[["layer", "hidden_by", "how", "path", "size"]].itertuples(index=False, name=None))
    assert rows == sorted(EXPECTED[name]["hidden"])
    assert int(hidden["size"].sum()) == EXPECTED[name]["reclaimable_bytes"]


@pytest.mark.parametrize("name", ["test-docker-image.tar", "test-kaniko-image.tar"])
def test_history_is_aligned_with_the_layers(analyses, name):
    layers = analyses[name].image.layers
    # 15 history entries, one of them the base's empty_layer CMD: every other entry owns a layer.
    assert [layer.step for layer in layers] == [0] + list(range(2, 15))
    assert "mkdir -p /root/example/really/nested" in layers[2].created_by
    assert layers[13].created_by.endswith("chmod +x /root/saved.txt")


@pytest.mark.parametrize("name", OCI_ARCHIVES)
def test_oci_archive_holds_only_readme(analyses, name):
    files = analyses[name].files
    # estargz: the layer's tar also holds stargz.index.json, which is not an image file.
    assert list(files["path"]) == ["README.md"]
    assert list(files["kind"]) == ["file"]
    assert list(files["size"]) == [OCI_README]
    assert not set(files["path"]) & {"stargz.index.json", ".prefetch.landmark"}


def test_the_four_oci_archives_have_identical_file_tables(analyses):
    tables = {
        name: analyses[name].files[FILE_IDENTITY].astype({"kind": str}).sort_values("path").reset_index(drop=True)
        for name in OCI_ARCHIVES
    }
    reference = tables["test-oci-uncompressed-image.tar"]
    assert reference.to_dict("records") == [
        {"path": "README.md", "kind": "file", "size": OCI_README, "mode": 0o644, "uid": 0, "gid": 0}
    ]
    for name, table in tables.items():
        pd.testing.assert_frame_equal(table, reference, obj=name)


@pytest.mark.parametrize(
    ("name", "media_type"),
    [
        ("test-oci-gzip-image.tar", "application/vnd.oci.image.layer.v1.tar+gzip"),
        ("test-oci-zstd-image.tar", "application/vnd.oci.image.layer.v1.tar+zstd"),
        ("test-oci-uncompressed-image.tar", "application/vnd.oci.image.layer.v1.tar"),
        ("test-oci-estargz-image.tar", "application/vnd.oci.image.layer.v1.tar+gzip"),
        ("test-docker-image.tar", "tar+none"),
        ("test-kaniko-image.tar", "tar+gzip"),
    ],
)
def test_layer_media_types(analyses, name, media_type):
    assert {layer.media_type for layer in analyses[name].image.layers} == {media_type}


def test_layer_of_finds_the_layer_an_instruction_made(dive_testdata):
    analysis = helpers.analyze(helpers.read_image(dive_testdata / "test-docker-image.tar"))
    assert analysis.layer_of("chmod 444") == 4
    assert analysis.layer_of("RUN cp /somefile.txt") == 3
    with pytest.raises(helpers.LayerLabError, match="apk add"):
        analysis.layer_of("apk add")


def test_compressed_bytes_are_the_blobs_when_every_layer_is_compressed(dive_testdata):
    gzip = helpers.analyze(helpers.read_image(dive_testdata / "test-oci-gzip-image.tar"))
    assert gzip.compressed_bytes == 4132  # the layer blob's size in the archive (tar tvf)
    zstd = helpers.analyze(helpers.read_image(dive_testdata / "test-oci-zstd-image.tar"))
    assert zstd.compressed_bytes == 4314
    for plain in ("test-oci-uncompressed-image.tar", "test-docker-image.tar"):
        assert helpers.analyze(helpers.read_image(dive_testdata / plain)).compressed_bytes is None
