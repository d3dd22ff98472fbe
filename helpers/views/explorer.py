"""dive's file tree, in the notebook: per layer, what it added, modified and removed, and what is wasted.

:func:`explore` returns a :class:`LayerExplorer`.  In JupyterLab and in
exported HTML it shows one collapsible section per layer (``<details>``),
each a table of the layer's paths, biggest first, under two headings that
open and close: *wasted files only* (the layers with waste, and only their
wasted rows) and *every file*.  Nothing but ``<details>`` does the
filtering: no script, no style rule, no form control, so it works on first
open wherever the HTML shows, even where a notebook's stored outputs are
sanitized (JupyterLab, for a notebook not yet trusted) or styles are stripped
(GitHub's notebook view).  As text (a terminal, or a
notebook's plain-text output) it is one line per layer and its biggest
wasted files.

The rows are :func:`helpers.measuring.changes.layer_changes`; the HTML shows at most
``rows`` of them per layer (biggest first; the table says how many it left
out), so an image of a million files is still a page a browser can open.
"""

from __future__ import annotations

from html import escape

import pandas as pd

from ..ground.sizes import format_bytes
from ..measuring.analysis import Analysis
from ..measuring.changes import CHANGES, change_summary, layer_changes
from .report import short_digests

_STYLE = """
.layerlab-explorer details {{margin: 0.2em 0}}
.layerlab-explorer summary {{cursor: pointer}}
.layerlab-explorer table {{border-collapse: collapse; margin: 0.3em 0 0.6em 1.2em; font-size: 90%}}
.layerlab-explorer td, .layerlab-explorer th {{padding: 0.1em 0.6em; text-align: left}}
.layerlab-explorer td.size {{text-align: right; font-variant-numeric: tabular-nums}}
.layerlab-explorer tr.wasted td {{background: rgba(221, 132, 82, 0.18)}}
.layerlab-explorer .added {{color: #2b7a3d}} .layerlab-explorer .modified {{color: #8a6d00}}
.layerlab-explorer .removed {{color: #b03030}}
.layerlab-explorer details details {{margin-left: 1.2em}}
"""


class LayerExplorer:
    """Every layer's changes, shown as collapsible tables (HTML) or as a summary (text).

    ``changes`` is the whole :func:`~helpers.measuring.changes.layer_changes` table and
    ``summary`` its :func:`~helpers.measuring.changes.change_summary`: filter them in
    pandas for anything the view leaves out.
    """

    def __init__(self, analysis: Analysis, rows: int = 200, wasted_only: bool = False) -> None:
        self.analysis = analysis
        self.rows = rows
        self.wasted_only = wasted_only
        self.changes = layer_changes(analysis)
        self.summary = change_summary(self.changes)

    def _layer_rows(self, layer: int) -> pd.DataFrame:
        rows = self.changes.loc[self.changes["layer"] == layer]
        return rows.sort_values(["wasted", "size", "path"], ascending=[False, False, True], kind="mergesort")

    def _title(self, layer: int) -> str:
        instruction = " ".join(short_digests(str(self.analysis.layers.at[layer, "instruction"])).split())
        counts = self.summary.loc[layer]
        parts = [f"{int(counts[name]):,} {name}" for name in CHANGES]
        stored = format_bytes(int(self.analysis.layers.at[layer, "stored_bytes"]))
        wasted = int(counts["wasted_bytes"])
        return (f"L{layer} {instruction} · stores {stored} · {', '.join(parts)}"
                + (f" · {format_bytes(wasted)} wasted" if wasted else ""))

    def _layer_html(self, layer: int, rows: pd.DataFrame) -> str:
        """One layer: its title, and a table of ``rows`` (at most :attr:`rows` of them), wasted ones marked."""
        parts = [f"<details><summary>{escape(self._title(layer))}</summary>",
                 "<table><tr><th>change</th><th>kind</th><th>path</th><th>size</th><th>hidden by</th></tr>"]
        for row in rows.head(self.rows).itertuples(index=False):
            hidden = "" if pd.isna(row.hidden_by) else f"L{int(row.hidden_by)}"
            mark = "wasted" if row.wasted else "kept"
            parts.append(
                f"<tr class='{mark}'><td class='{row.change}'>{row.change}</td><td>{escape(str(row.kind))}</td>"
                f"<td><code>/{escape(row.path)}</code></td><td class='size'>{format_bytes(int(row.size))}</td>"
                f"<td>{hidden}{' (wasted)' if row.wasted else ''}</td></tr>"
            )
        if len(rows) > self.rows:
            parts.append(f"<tr><td colspan='5'>… and {len(rows) - self.rows:,} more: "
                         f"see <code>.changes</code></td></tr>")
        parts.append("</table></details>")
        return "".join(parts)

    def _repr_html_(self) -> str:
        wasted = self.changes.loc[self.changes["wasted"]]
        layers = [int(layer) for layer in self.analysis.layers.index]
        with_waste = [layer for layer in layers if self.summary.at[layer, "wasted_bytes"]]
        named = ", ".join(f"L{layer}" for layer in with_waste)
        files = f"{len(wasted):,} file" + ("" if len(wasted) == 1 else "s")
        heading = (f"wasted files only: {files}, {format_bytes(int(wasted['size'].sum()))}"
                   + (f", in {named}" if with_waste else ""))
        parts = [f"<div class='layerlab-explorer'><style>{_STYLE.format()}</style>",
                 f"<details{' open' if self.wasted_only else ''}><summary><b>{escape(heading)}</b></summary>"]
        parts += [self._layer_html(layer, self._wasted_rows(layer)) for layer in with_waste]
        parts.append("</details>")
        if not self.wasted_only:
            parts.append("<details open><summary><b>every file</b>, layer by layer</summary>")
            parts += [self._layer_html(layer, self._layer_rows(layer)) for layer in layers]
            parts.append("</details>")
        parts.append("</div>")
        return "".join(parts)

    def _wasted_rows(self, layer: int) -> pd.DataFrame:
        rows = self._layer_rows(layer)
        return rows.loc[rows["wasted"]]

    def __repr__(self) -> str:
        lines = []
        for layer in self.analysis.layers.index:
            lines.append(self._title(int(layer)))
            wasted = self._wasted_rows(int(layer)).head(5)
            for row in wasted.itertuples(index=False):
                size = format_bytes(int(row.size))
                lines.append(f"    wasted {size:>10}  /{row.path}  (hidden by L{int(row.hidden_by)})")
        return "\n".join(lines)


def explore(analysis: Analysis, rows: int = 200, wasted_only: bool = False) -> LayerExplorer:
    """dive's per-layer file tree for ``analysis``: see :class:`LayerExplorer`."""
    return LayerExplorer(analysis, rows=rows, wasted_only=wasted_only)
