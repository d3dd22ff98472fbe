"""What each layer did to the filesystem below it, as dive's file tree shows it.

For every tar entry of every layer, :func:`layer_changes` says whether the
layer *added* the path (nothing was there in the layers below), *modified* it
(something was) or *removed* it (a whiteout, or an opaque directory that
clears what the layers below held in it).  It restacks the layers with the
same :class:`~helpers.measuring.merge.Overlay` as :mod:`helpers.measuring.metrics`, asking before
each layer what the layers below it show, so the answers follow the same
rules (OCI image spec, "Representing Changes").

A regular file whose bytes no container can see carries ``hidden_by``, the
layer that hid it: those bytes are ``wasted`` (reclaimable; see
:func:`helpers.measuring.metrics.reclaimable_bytes`).
"""

from __future__ import annotations

import posixpath
from typing import TYPE_CHECKING

from ..ground.model import WHITEOUT_PREFIX
from .analysis import Analysis
from .merge import Overlay

if TYPE_CHECKING:  # only the tables need pandas
    import pandas as pd

#: Columns of :func:`layer_changes`, in order.
CHANGE_COLUMNS = ["layer", "change", "kind", "path", "size", "visible", "hidden_by", "wasted"]

#: What a layer can do to a path.
CHANGES = ["added", "modified", "removed"]


def _bytes_under(overlay: Overlay, path: str) -> int:
    """Regular-file bytes the merged layers show at ``path`` and under it (each inode once)."""
    inodes: set[int] = set()
    stack = [path]
    while stack:
        current = stack.pop()
        record = overlay.visible.get(current)
        if record is not None and record[1] >= 0:
            inodes.add(record[1])
        stack.extend(overlay.children.get(current, ()))
    return sum(overlay.result.inode_size[inode] for inode in inodes)


def layer_changes(analysis: Analysis) -> pd.DataFrame:
    """One row per tar entry of every layer: what it changed, how big it is, and whether its bytes are wasted.

    * ``change``: ``added`` when the layers below show nothing at ``path``,
      ``modified`` when they show something, ``removed`` for a whiteout (its
      ``path`` is the path it deletes) or an opaque marker (its ``path`` is the
      directory it clears, ``kind`` is ``opaque``).
    * ``size``: a file's bytes; for a removal, the regular-file bytes it takes
      out of sight (under the path, each inode once); 0 otherwise.
    * ``visible``, ``hidden_by``: as in :attr:`Analysis.files`.
    * ``wasted``: ``hidden_by`` is set, so ``size`` bytes ship but no
      container can see them.  ``Σ size`` over wasted rows is
      :attr:`Analysis.reclaimable_bytes`.

    Cost: one more pass over the entries, each path looked up once; a removal
    walks the subtree it removes, which then leaves the overlay, so every path
    is walked at most once per time it was added.
    """
    import pandas as pd

    files = analysis.files
    overlay = Overlay()
    change: list[str] = []
    path: list[str] = []
    size: list[int] = []
    for layer in analysis.image.layers:
        shown = overlay.visible
        for entry in layer.entries:
            if entry.kind == "whiteout":
                directory, base = posixpath.split(entry.path)
                target = posixpath.join(directory, base[len(WHITEOUT_PREFIX):])
                change.append("removed")
                path.append(target)
                size.append(_bytes_under(overlay, target) if target in shown or target in overlay.children else 0)
            elif entry.kind == "opaque":
                directory = posixpath.dirname(entry.path)
                change.append("removed")
                path.append(directory)
                below = overlay.children.get(directory, ())
                size.append(sum(_bytes_under(overlay, child) for child in below))
            else:
                change.append("modified" if entry.path in shown else "added")
                path.append(entry.path)
                size.append(entry.size if entry.kind == "file" else 0)
        overlay.apply(layer)
    table = pd.DataFrame({
        "layer": files["layer"].to_numpy(),
        "change": pd.Categorical(change, categories=CHANGES),
        "kind": files["kind"].to_numpy(),
        "path": path,
        "size": pd.array(size, dtype="int64"),
        "visible": files["visible"].to_numpy(),
        "hidden_by": files["hidden_by"].array,
        "wasted": files["hidden_by"].notna().to_numpy(),
    }, columns=CHANGE_COLUMNS)
    table["kind"] = table["kind"].astype(files["kind"].dtype)
    return table


def change_summary(changes: pd.DataFrame) -> pd.DataFrame:
    """Per layer: how many paths it added, modified and removed, and its wasted bytes (``Σ size`` of wasted rows)."""
    import pandas as pd

    counts = changes.pivot_table(index="layer", columns="change", values="path", aggfunc="count",
                                 fill_value=0, observed=False)
    counts = counts.reindex(columns=CHANGES, fill_value=0)
    wasted = changes.loc[changes["wasted"]].groupby("layer")["size"].sum()
    summary = pd.DataFrame({name: counts[name].astype("int64") for name in CHANGES})
    summary["wasted_bytes"] = wasted.reindex(summary.index, fill_value=0).astype("int64")
    summary.columns.name = None
    return summary
