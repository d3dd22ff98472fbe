"""A size budget for CI pipelines, on this package's exact definitions (like dive's CI mode).

Rules (each optional):

* ``max_reclaimable``: ``reclaimable_bytes <= max_reclaimable``;
* ``min_efficiency``: ``efficiency >= min_efficiency``.

An image within budget breaks no rule; each broken rule gives one line saying
the measured figure, the limit, and the biggest contributor.
"""

from __future__ import annotations

from dataclasses import dataclass

from .analysis import Analysis
from .errors import LayerLabError
from .history import instruction
from .sizes import format_bytes


def parse_budget_size(text: str) -> int:
    """``5MB`` → 5,000,000; ``512KiB`` → 524,288; ``1000`` → 1000 (decimal and binary units, as written)."""
    from humanfriendly import InvalidSize, parse_size  # on first use: a report without a budget never needs it

    if text.strip().startswith("-"):
        raise LayerLabError(f"{text!r} is not a size: a size cannot be negative",
                            "write it like 5MB, 512KiB or 1000 (0 allows no reclaimable bytes at all)")
    try:
        return int(parse_size(text))
    except InvalidSize as exc:
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


@dataclass
class Budget:
    """The limits an image must keep."""

    max_reclaimable: int | None = None
    min_efficiency: float | None = None

    def broken(self, analysis: Analysis) -> list[str]:
        """One line per broken rule (empty when the image is within budget)."""
        lines = []
        worst = _worst_layer(analysis) if self.max_reclaimable is not None or self.min_efficiency is not None else ""
        if self.max_reclaimable is not None and analysis.reclaimable_bytes > self.max_reclaimable:
            measured = analysis.reclaimable_bytes
            lines.append(
                f"over budget: reclaimable bytes {measured:,} ({format_bytes(measured)})"
                f" > {self.max_reclaimable:,} ({format_bytes(self.max_reclaimable)}){worst}"
            )
        if self.min_efficiency is not None and analysis.efficiency < self.min_efficiency:
            lines.append(f"over budget: efficiency {analysis.efficiency:.4f} < {self.min_efficiency}{worst}")
        return lines


def _worst_layer(analysis: Analysis) -> str:
    reclaimable = [lost for _, lost in analysis.layer_bytes]
    if not any(reclaimable):
        return ""
    layer = reclaimable.index(max(reclaimable))
    made_by = instruction(analysis.image.layers[layer].created_by)[:60]
    return f"; most of it in layer {layer} ({format_bytes(reclaimable[layer])}: {made_by})"
