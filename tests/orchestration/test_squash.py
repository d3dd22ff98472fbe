"""Squashing with docker-squash, measured: the waste goes, and so does the shared base layer."""

from __future__ import annotations

import pytest
from layerlab_fixtures import BASE, current_settings

from helpers.orchestration.squash import squash


@pytest.mark.engine
def test_squashing_everything_drops_the_waste_and_the_shared_base(lab, docker_client):
    multi = lab["lab-multi-run"].analysis
    squashed = squash(lab["lab-multi-run"].tag, "layerlab-test/squashed-all:latest", settings=current_settings())
    assert len(squashed.image.layers) == 1
    assert squashed.stored_bytes == squashed.final_bytes == multi.final_bytes == BASE + 85
    assert squashed.reclaimable_bytes == 0
    base = docker_client.images.get("alpine:3.20.3").attrs["RootFS"]["Layers"]
    assert squashed.image.layers[0].digest not in base


@pytest.mark.engine
def test_squashing_from_the_base_keeps_the_base_layer_shared(lab, docker_client):
    base = docker_client.images.get("alpine:3.20.3")
    squashed = squash(lab["lab-multi-run"].tag, "layerlab-test/squashed-on-base:latest", from_layer=base.id,
                      settings=current_settings())
    assert [layer.digest for layer in squashed.image.layers][:1] == base.attrs["RootFS"]["Layers"]
    assert squashed.layers.stored_bytes.tolist() == [BASE, 85]
    assert squashed.reclaimable_bytes == 0


@pytest.mark.engine
def test_squashing_onto_an_image_it_is_not_built_on_is_one_clear_error(lab, docker_client, debian):
    from helpers.ground.errors import LayerLabError

    with pytest.raises(LayerLabError, match=f"it is not built on {debian}") as caught:
        squash(lab["lab-multi-run"].tag, "layerlab-test/never:latest", from_layer=debian,
               settings=current_settings())
    assert "squash onto the image" in caught.value.hint
    with pytest.raises(LayerLabError, match="docker-squash could not squash"):
        squash(lab["lab-multi-run"].tag, "layerlab-test/never:latest", from_layer="no-such-image:0",
               settings=current_settings())


def test_squashing_a_missing_image_is_one_clear_error(docker_client):
    from helpers.ground.errors import LayerLabError

    with pytest.raises(LayerLabError, match="docker-squash could not squash no-such-image:0"):
        squash("no-such-image:0", "layerlab-test/never:latest", settings=current_settings())


@pytest.mark.engine
def test_unshared_bytes_count_what_a_machine_with_the_base_must_still_fetch(lab, docker_client):
    import helpers
    from helpers.views.tables import unshared_bytes

    base = helpers.analyze(helpers.read_image("alpine:3.20.3"))
    assert unshared_bytes(lab["lab-multi-run"].analysis, base) == 16777216 + 85
    assert unshared_bytes(lab["lab-single-run"].analysis, base) == 85
    assert unshared_bytes(base, base) == 0
