"""The model is plain frozen data: an image read is never changed, only replaced."""

from __future__ import annotations

import dataclasses

import pytest

from helpers.ground.model import Entry, HistoryStep, Image, Layer, Package, PackageDatabase


def test_every_value_of_the_model_is_frozen():
    layer = Layer(0, [Entry("etc/hosts", "file", 10, 0o644, 0, 0, "")], "sha256:0", "tar+none")
    image = Image("case", "docker-archive", [layer], [HistoryStep(0, "ADD", False, 0)])
    database = PackageDatabase("apk", "lib/apk/db/installed", [])
    for value, field in ((image, "source"), (layer, "digest"), (image.history[0], "created_by"),
                         (database, "note")):
        with pytest.raises(dataclasses.FrozenInstanceError):
            setattr(value, field, "changed")
    assert dataclasses.replace(image, source="elsewhere").source == "elsewhere" and image.source == "case"
    assert issubclass(Entry, tuple) and issubclass(Package, tuple)  # named tuples: immutable too
