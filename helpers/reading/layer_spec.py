"""An image before its layers are read: what its documents say each layer is, and where it comes from."""

from __future__ import annotations

from collections import namedtuple


class LayerSpec(namedtuple("LayerSpec", "name media_type expected size stargz diff_id", defaults=(False, None))):
    """A layer as the manifest describes it, before it is read.

    A :func:`~collections.namedtuple`, as the model's records are (:mod:`helpers.ground.model` says why).
    """

    __slots__ = ()
    name: str  # the member that holds it
    media_type: str | None  # None: named after the compression found (a docker save manifest has no types)
    expected: str | None  # the digest to check, when the manifest gives one
    size: int | None
    stargz: bool
    diff_id: object  # docker save: the config's diff_id, the digest of an uncompressed layer


class ImagePlan(namedtuple("ImagePlan", "format layers config tags")):
    """What a backend's documents say of one image: its format, layers (base first), config and tags."""

    __slots__ = ()
    format: str
    layers: list[LayerSpec]
    config: dict
    tags: list[str]
