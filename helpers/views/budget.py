"""A size budget for CI pipelines, on this package's exact definitions (like dive's CI mode).

Rules (each optional):

* ``max_reclaimable``: ``reclaimable_bytes <= max_reclaimable``;
* ``min_efficiency``: ``efficiency >= min_efficiency``.

An image within budget breaks no rule; each broken rule gives one line saying
the measured figure, the limit as it was written, and the layer that stores
the biggest share of the reclaimable bytes.
"""

from __future__ import annotations

from collections import namedtuple

from ..ground.errors import LayerLabError
from ..ground.sizes import format_bytes, format_limit, format_ratio, parse_size
from ..measuring.analysis import Analysis
from .report import short_digests


def parse_budget_size(text: str) -> int:
    """``5MB`` → 5,000,000; ``512KiB`` → 524,288; ``1000`` → 1000 (decimal and binary units, as written)."""
    if text.strip().startswith("-"):
        raise LayerLabError(f"{text!r} is not a size: a size cannot be negative",
                            "write it like 5MB, 512KiB or 1000 (0 allows no reclaimable bytes at all)")
    try:
        return parse_size(text)
    except ValueError as exc:
        raise LayerLabError(f"{text!r} is not a size", "write it like 5MB, 512KiB or 1000") from exc


def parse_ratio(text: str) -> float:
    """A ratio between 0 and 1, such as ``0.9``."""
    try:
        ratio = float(text)
    except ValueError as exc:
        raise LayerLabError(f"{text!r} is not a ratio", "write it like 0.9") from exc
    if not 0 <= ratio <= 1:
        raise LayerLabError(f"{text!r} is not between 0 and 1", "write it like 0.9")
    return ratio


class Budget(namedtuple("Budget", "max_reclaimable min_efficiency", defaults=(None, None))):
    """The limits an image must keep: at most ``max_reclaimable`` bytes, at least ``min_efficiency``.

    A :func:`~collections.namedtuple`, as the model's records are (:mod:`helpers.ground.model` says why).
    """

    __slots__ = ()
    max_reclaimable: int | None
    min_efficiency: float | None

    def broken(self, analysis: Analysis) -> list[str]:
        """One line per broken rule (empty when the image is within budget)."""
        lines = []
        worst = _worst_layer(analysis) if self.max_reclaimable is not None or self.min_efficiency is not None else ""
        if self.max_reclaimable is not None and analysis.reclaimable_bytes > self.max_reclaimable:
            measured = analysis.reclaimable_bytes
            lines.append(
                f"over budget: reclaimable bytes {format_bytes(measured)} ({measured:,} bytes)"
                f" > {format_limit(self.max_reclaimable)} ({format_bytes(self.max_reclaimable)}){worst}"
            )
        if self.min_efficiency is not None and analysis.efficiency < self.min_efficiency:
            lines.append(f"over budget: efficiency {format_ratio(analysis.efficiency)}"
                         f" < {format_ratio(self.min_efficiency)}{worst}")
        return lines


def _worst_layer(analysis: Analysis) -> str:
    """Where the reclaimable bytes are: the layer storing the most, and its share of them.

    ``share = reclaimable_bytes(layer) / Σ reclaimable_bytes``; "most of it" only when the share is over half.
    """
    reclaimable = [lost for _, lost in analysis.layer_bytes]
    total = sum(reclaimable)
    if not total:
        return ""
    layer = reclaimable.index(max(reclaimable))
    made_by = short_digests(analysis.instructions[layer])[:60]  # a digest, cut to 8
    share = reclaimable[layer] / total
    amount = f"{format_bytes(reclaimable[layer])}, {format_ratio(share)}"
    if share > 0.5:
        return f"; most of it, {amount}, is in layer {layer} ({made_by})"
    return f"; the biggest share, {amount}, is in layer {layer} ({made_by})"
