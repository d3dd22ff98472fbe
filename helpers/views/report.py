"""The readable per-layer report the CLI prints (``--json`` prints :meth:`Analysis.to_json`)."""

from __future__ import annotations

import re

from ..ground.sizes import format_bytes
from ..measuring.analysis import Analysis

_DIGEST = re.compile(r"\b([0-9a-f]{8})[0-9a-f]{56}\b")


def short_digests(text: str) -> str:
    """Cut every 64-hex digest in ``text`` to its first 8 characters and ``…``."""
    return _DIGEST.sub(lambda match: match.group(1) + "…", text)


def shorten(text: str, width: int) -> str:
    """Cut ``text`` to ``width`` characters, marking the cut with ``…``."""
    text = " ".join(text.split())
    return text if len(text) <= width else text[: width - 1] + "…"


def text_report(analysis: Analysis, width: int = 100) -> str:
    """A plain-text report: the image's figures, then one row per layer.

    Always valid Unicode: text the image carries (a history line holding a lone
    surrogate, say) is shown with backslash escapes where it is not printable.
    """
    s = analysis.summary()
    lines = [
        f"source      {analysis.image.source}",
        f"format      {analysis.image.format}",
        f"layers      {s['layers']}",
        f"stored      {s['stored_bytes']:>14,} B  ({format_bytes(s['stored_bytes'])})",
        f"final       {s['final_bytes']:>14,} B  ({format_bytes(s['final_bytes'])})",
        f"reclaimable {s['reclaimable_bytes']:>14,} B  ({format_bytes(s['reclaimable_bytes'])})",
        f"efficiency  {s['efficiency']:.4f}   (dive: {s['dive_efficiency']:.4f}, "
        f"wasted {format_bytes(s['dive_wasted_bytes'])})",
        "",
    ]
    header = f"{'layer':>5}  {'stored':>10}  {'reclaimable':>11}  {'entries':>7}  instruction"
    lines.append(header)
    room = max(20, width - len(header) + len("instruction"))
    for row in analysis.layer_figures:
        lines.append(
            f"{row.layer:>5}  {format_bytes(row.stored_bytes):>10}  {format_bytes(row.reclaimable_bytes):>11}  "
            f"{row.entries:>7}  {shorten(row.instruction, room)}"
        )
    lines += _reclaimable_lines(analysis, width)
    return "\n".join(lines).encode("utf-8", "backslashreplace").decode("utf-8")


#: How many reclaimable files the text report lists, biggest first.
TOP_RECLAIMABLE = 10
#: How a later layer hid a file: it wrote the path again, deleted it (a whiteout), or made its folder opaque.
_HOW = {"shadowed": "replaced", "deleted": "deleted", "opaque": "opaque"}


def _reclaimable_lines(analysis: Analysis, width: int) -> list[str]:
    """The biggest reclaimable files: each one's size, the layer that stores it, and the layer that hides it."""
    hidden = sorted(analysis.merged.hidden, key=lambda h: (-h.size, h.layer, h.path))
    hidden = [h for h in hidden if h.size > 0]
    if not hidden:
        return []
    lines = ["", f"top reclaimable files ({min(len(hidden), TOP_RECLAIMABLE)} of {len(hidden):,}; "
                 "stored in one layer, hidden by a later one)",
             f"{'size':>10}  {'stored in':>9}  {'hidden by':>9}  {'how':<8}  path"]
    room = max(20, width - 47)
    for item in hidden[:TOP_RECLAIMABLE]:
        path = item.path if len(item.path) <= room else "…" + item.path[-(room - 1):]  # the name matters most
        lines.append(f"{format_bytes(item.size):>10}  {'layer ' + str(item.layer):>9}  "
                     f"{'layer ' + str(item.hidden_by):>9}  {_HOW.get(item.how, item.how):<8}  {path}")
    return lines
