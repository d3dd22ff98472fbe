"""The model is plain frozen data: an image read is never changed, only replaced."""

from __future__ import annotations

import pytest

from helpers.ground.model import Entry, HistoryStep, Image, Layer, Package, PackageDatabase


def test_every_value_of_the_model_is_frozen():
    layer = Layer(0, [Entry("etc/hosts", "file", 10, 0o644, 0, 0, "")], "sha256:0", "tar+none")
    image = Image("case", "docker-archive", [layer], [HistoryStep(0, "ADD", False, 0)])
    database = PackageDatabase("apk", "lib/apk/db/installed", [])
    for value, field in ((image, "source"), (layer, "digest"), (image.history[0], "created_by"),
                         (database, "note")):
        with pytest.raises(AttributeError):
            setattr(value, field, "changed")
        with pytest.raises(AttributeError):
            value.something_new = "added"  # no __dict__ to add to
    assert image._replace(source="elsewhere").source == "elsewhere" and image.source == "case"
    assert all(issubclass(kind, tuple) for kind in (Entry, Package, PackageDatabase, Layer, HistoryStep, Image))


def test_an_image_made_without_lists_gets_its_own():
    one, other = Image("one", "oci", []), Image("other", "oci", [])
    assert one.history == one.tags == one.bases == [] and one.config == {}
    assert one.history is not other.history and one.tags is not other.tags and one.config is not other.config
