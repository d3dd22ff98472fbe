"""What a build reports as it goes: one :class:`BuildStep` per instruction, to a :data:`Progress` callback."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass


@dataclass
class BuildStep:
    """One step of a build, as it lands (``Step k/n`` of the classic builder, ``[k/n]`` of BuildKit).

    ``layer_bytes`` is the size of the layer the step committed, where the builder reports a
    step as it lands (the classic and embedded builders); BuildKit reports each step as it
    starts, so ``None`` there: the image's layers are measured once it is built.  ``base`` is,
    for a ``FROM`` step that brings in an image, its provenance in words
    (:func:`helpers.building.bases.label`).
    """

    number: int
    total: int
    instruction: str
    layer_bytes: int | None = None
    base: str | None = None


#: A build calls it with the variant's name and each step as it lands.
Progress = Callable[[str, BuildStep], None]
