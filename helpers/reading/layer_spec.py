"""An image before its layers are read: what its documents say each layer is, and where it comes from."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass
class LayerSpec:
    """A layer as the manifest describes it, before it is read."""

    name: str  # the member that holds it
    media_type: str | None  # None: named after the compression found (a docker save manifest has no types)
    expected: str | None  # the digest to check, when the manifest gives one
    size: int | None
    stargz: bool = False
    diff_id: object = None  # docker save: the config's diff_id, the digest of an uncompressed layer


@dataclass
class ImagePlan:
    """What a backend's documents say of one image: its format, layers (base first), config and tags."""

    format: str
    layers: list[LayerSpec]
    config: dict
    tags: list[str]
