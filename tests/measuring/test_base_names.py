"""A base's layers are named by the image a build started FROM, never by their history's ``ADD file:…``."""

from __future__ import annotations

import pytest

import helpers


@pytest.fixture(scope="module")
def dive(dive_testdata):
    return helpers.read_image(dive_testdata / "test-docker-image.tar")


def _named(image, bases) -> list[str]:
    return helpers.analyze(image._replace(bases=bases)).instructions


def test_a_one_layer_base_is_its_from_line_everywhere_a_learner_reads(dive):
    digests = [layer.digest for layer in dive.layers]
    analysis = helpers.analyze(dive._replace(bases=[{"image": "busybox:1.36", "layers": digests[:1]}]))
    assert analysis.instructions[0] == "FROM busybox:1.36"
    assert analysis.layers.at[0, "instruction"] == "FROM busybox:1.36"
    assert set(analysis.files.loc[analysis.files.layer == 0, "instruction"]) == {"FROM busybox:1.36"}
    assert analysis.instructions[1:] == _named(dive, [])[1:]  # the build's own steps keep their words


def test_a_base_of_several_layers_counts_them_and_the_longest_match_wins(dive):
    digests = [layer.digest for layer in dive.layers]
    named = _named(dive, [{"image": "short:1", "layers": digests[:1]},
                          {"image": "python:3.12", "rootfs": digests[:3]}])  # rootfs: a save's diff IDs
    assert named[:3] == ["FROM python:3.12 (1/3)", "FROM python:3.12 (2/3)", "FROM python:3.12 (3/3)"]


@pytest.mark.parametrize("bases", [
    [],
    [{"image": "elsewhere:1", "layers": ["sha256:" + "0" * 64]}],  # not this image's layers
    [{"image": "too-long:1", "layers": ["sha256:" + "0" * 64] * 99}],
    [{"layers": None, "rootfs": "not a list"}, {"image": 7, "layers": []}],  # a malformed recording
])
def test_an_image_whose_layers_match_no_base_keeps_its_history_s_words(dive, bases):
    assert _named(dive, bases)[0].startswith("ADD file:")
