"""One image, every way it can be stored: the per-file table and the figures must not change.

Each built fixture image is read

* straight from the engine (``read_image(tag)``, a streamed ``docker save``);
* from a ``docker save`` archive written by the engine (legacy layout on Engine 20.10, OCI form
  beside it from Engine 25);
* from OCI archives made from that archive by ``skopeo copy docker-archive:SAVED oci-archive:PATH``, with
  gzip layers (the default) and with ``--dest-compress-format zstd``;
* from an OCI layout directory (``oci:DIR``).

The figures count uncompressed regular-file bytes, so none of this may move them
by a byte (helpers/measuring/metrics.py).
"""

from __future__ import annotations

import subprocess

import pandas as pd
import pytest
from layerlab_fixtures import saved_format, tag_for

import helpers

pytestmark = pytest.mark.engine

COLUMNS = ["layer", "path", "kind", "size", "mode", "uid", "gid", "link", "visible", "hidden_by"]
FORMS = {
    # form -> (format string, layer media type)
    "docker-save": ("docker-archive", "tar+none"),
    "oci-gzip": ("oci-archive", "application/vnd.oci.image.layer.v1.tar+gzip"),
    "oci-zstd": ("oci-archive", "application/vnd.oci.image.layer.v1.tar+zstd"),
    "oci-dir": ("oci-layout", "application/vnd.oci.image.layer.v1.tar+gzip"),
    "engine": ("docker-engine/docker-archive", "tar+none"),
}
CASES = ["lab-multi-run", "opaque", "hardlinks", "symlinks"]


@pytest.fixture(scope="module")
def tags(built, lab):
    return {case: (lab[case].tag if case in lab else tag_for(case)) for case in CASES}


@pytest.fixture(scope="module")
def stored(tags, docker_client, skopeo, tmp_path_factory):
    """case -> form -> what to pass to read_image; made once per module."""
    result: dict[str, dict[str, str]] = {}
    for case, tag in tags.items():
        folder = tmp_path_factory.mktemp(case)
        saved = folder / "docker-save.tar"
        with saved.open("wb") as out:
            for chunk in docker_client.images.get(tag).save():
                out.write(chunk)
        targets = {
            "oci-gzip": ([], f"oci-archive:{folder / 'oci-gzip.tar'}"),
            "oci-zstd": (["--dest-compress-format", "zstd"], f"oci-archive:{folder / 'oci-zstd.tar'}"),
            "oci-dir": ([], f"oci:{folder / 'oci-dir'}"),
        }
        for options, destination in targets.values():
            subprocess.run(
                # From the engine's own docker save: skopeo's docker-daemon: transport would reach the default
                # engine, not the one that built the image, and speaks an API too old for Engine 25 and later.
                [skopeo, "--insecure-policy", "copy", "--quiet", *options, f"docker-archive:{saved}", destination],
                check=True, capture_output=True, timeout=300,
            )
        result[case] = {
            "docker-save": str(saved),
            "oci-gzip": str(folder / "oci-gzip.tar"),
            "oci-zstd": str(folder / "oci-zstd.tar"),
            "oci-dir": str(folder / "oci-dir"),
            "engine": tag,
        }
    return result


@pytest.fixture(scope="module")
def analyses(stored):
    return {
        (case, form): helpers.analyze(helpers.read_image(source))
        for case, forms in stored.items()
        for form, source in forms.items()
    }


def file_table(analysis) -> pd.DataFrame:
    table = analysis.files[COLUMNS].astype({"kind": str})
    return table.sort_values(["layer", "path", "kind"]).reset_index(drop=True)


@pytest.mark.parametrize("form", [f for f in FORMS if f != "docker-save"])
@pytest.mark.parametrize("case", CASES)
def test_same_files_and_figures_as_the_docker_save_archive(analyses, case, form):
    reference = analyses[(case, "docker-save")]
    other = analyses[(case, form)]
    pd.testing.assert_frame_equal(file_table(other), file_table(reference))
    assert other.summary() == reference.summary()
    assert [layer.created_by for layer in other.image.layers] == [
        layer.created_by for layer in reference.image.layers
    ]
    assert other.hidden.sort_values("path").reset_index(drop=True).equals(
        reference.hidden.sort_values("path").reset_index(drop=True)
    )


@pytest.mark.parametrize("form", list(FORMS))
@pytest.mark.parametrize("case", CASES)
def test_format_and_media_types(analyses, docker_client, case, form):
    analysis = analyses[(case, form)]
    fmt, media_type = FORMS[form]
    if form in ("docker-save", "engine"):  # the engine's own save: its OCI form from Engine 25 on
        fmt = fmt.replace("docker-archive", saved_format(docker_client))
    assert analysis.image.format == fmt
    assert {layer.media_type for layer in analysis.image.layers} == {media_type}


@pytest.mark.parametrize("case", CASES)
def test_reference_is_the_built_image(analyses, images_by_case, case):
    """The archive holds what the build measured: same table as helpers.build's own analysis."""
    pd.testing.assert_frame_equal(file_table(analyses[(case, "docker-save")]), file_table(images_by_case[case]))


@pytest.fixture(scope="module")
def images_by_case(built, lab):
    return {case: (lab[case] if case in lab else built[case]).analysis for case in CASES}


def test_compressed_blobs_differ_but_files_do_not(analyses):
    """Sanity: gzip and zstd really are different blobs (else the comparisons above prove nothing)."""
    gzip_digests = [layer.digest for layer in analyses[("lab-multi-run", "oci-gzip")].image.layers]
    zstd_digests = [layer.digest for layer in analyses[("lab-multi-run", "oci-zstd")].image.layers]
    plain_digests = [layer.digest for layer in analyses[("lab-multi-run", "docker-save")].image.layers]
    assert len(set(gzip_digests) | set(zstd_digests) | set(plain_digests)) == 3 * 4
    blob = [layer.blob_bytes for layer in analyses[("lab-multi-run", "docker-save")].image.layers]
    gz = [layer.blob_bytes for layer in analyses[("lab-multi-run", "oci-gzip")].image.layers]
    # The base's files compress; the stand-in's 16 MiB of random bytes do not: gzip adds its framing.
    assert gz[0] < 0.6 * blob[0]
    assert blob[1] > 16777216 and gz[1] >= 16777216
