"""dive's own test archives, measured to the byte: the figures are in dive_figures.py, with where each comes from."""

from __future__ import annotations

import pandas as pd
import pytest
from dive_figures import EXPECTED, OCI_ARCHIVES, OCI_README

import helpers

pytestmark = pytest.mark.usefixtures("dive_testdata")

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
