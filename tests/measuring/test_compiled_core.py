"""The compiled loops of the merge and of dive's score give exactly what the Python loops give.

:mod:`helpers.measuring.overlay_core` runs the per-entry loops of the merge and of dive's score
in C when the install built them.  Each stack of layers here is measured both ways, and every
part of the result must be equal: what is visible (kind, inode, layer), every inode's size and
layer, every hidden file in order, and dive's figures.  The stacks: random ones (hypothesis,
with whiteouts, opaque markers, hard links and directories replaced by files) and the real
layers of dive's own test image.  The other merge tests run with the compiled loops when they
are built; these run the Python loops too.
"""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from layerlab_fixtures import SHARED, need, unavailable
from test_merge_properties import dive_stacks, layer_stacks

from helpers import analyze
from helpers.ground.model import Entry, Image, Layer, Source
from helpers.measuring import dive_score, merge, metrics, overlay_core
from helpers.reading.files import read_path


@pytest.fixture(scope="module", autouse=True)
def built() -> None:
    if overlay_core.STATE.startswith("stale"):
        pytest.fail(f"the compiled merge and score are {overlay_core.STATE}", pytrace=False)
    if overlay_core.CORE is None:
        unavailable(f"the compiled merge and score are {overlay_core.STATE}")


def _measured(layers: list[Layer]) -> tuple:
    result = merge.merge_layers(layers)
    analysis = analyze(Image(Source("path", "stack"), "docker-archive", layers, [], {}, [], {}, None, None))
    return (result.visible, result.inode_size, result.inode_layer, list(result.hidden),
            dive_score.dive_figures(layers), [dive_score.dive_leaves(layer.entries) for layer in layers],
            metrics.stored_bytes(layers), metrics.final_bytes(result), analysis.layer_figures, analysis.to_json())


def _both(layers: list[Layer], keys_by_prefix: bool = True) -> None:
    layers = [layer._replace(entries=list(layer.entries)) for layer in layers]
    saved = overlay_core.CORE, dive_score.PREFIX_TEST_KEYS
    if not keys_by_prefix:
        dive_score.PREFIX_TEST_KEYS = 0
    try:
        compiled = _measured(layers)
        overlay_core.CORE = None
        python = _measured(layers)
    finally:
        overlay_core.CORE, dive_score.PREFIX_TEST_KEYS = saved
    assert compiled == python


@settings(max_examples=500, deadline=None, derandomize=True)
@given(layer_stacks)
def test_random_stacks_measure_alike(layers):
    _both(layers)


@settings(max_examples=300, deadline=None, derandomize=True)
@given(dive_stacks)
def test_random_stacks_of_whiteouts_measure_alike(layers):
    _both(layers)
    _both(layers, keys_by_prefix=False)  # dive's whiteouts matched by their ancestors (past PREFIX_TEST_KEYS)


def test_names_that_are_not_utf_8_measure_alike() -> None:
    """A name's bytes that are not UTF-8 are read as surrogates: the compiled loops take any str."""
    def entry(path: str, kind: str = "file", size: int = 5) -> Entry:
        return Entry(path, kind, size, 0o644, 0, 0, "")

    _both([Layer(0, [entry("\udc80"), entry("d\udcff", "dir", 0), entry("d\udcff/.wh..wh.\udc80x")], "sha256:0", "tar"),
           Layer(1, [entry("d\udcff/.wh.f", "whiteout", 0), entry("\udc80", size=7)], "sha256:1", "tar")])


def test_dive_s_test_image_measures_alike() -> None:
    image = SHARED / "dive-testdata" / "test-docker-image.tar"
    need(image.exists(), f"{image} is missing")
    _both(read_path(image).layers)
