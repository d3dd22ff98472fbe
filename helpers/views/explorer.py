"""dive's file tree, in the notebook: per layer, what it added, modified and removed, and what is wasted.

:func:`explore` returns a :class:`LayerExplorer`.  In JupyterLab and in
exported HTML it shows one collapsible section per layer (``<details>``),
each a table of the layer's paths, biggest first, with a *wasted only*
switch made of a checkbox and a style rule, so it needs no script.  Where
styles are stripped too (GitHub's notebook view) the same tables show in
full, with the wasted rows still marked.  As text (a terminal, or a
notebook's plain-text output) it is one line per layer and its biggest
wasted files.

The rows are :func:`helpers.measuring.changes.layer_changes`; the HTML shows at most
``rows`` of them per layer (biggest first; the table says how many it left
out), so an image of a million files is still a page a browser can open.
"""

from __future__ import annotations

import hashlib
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
#{toggle}:checked ~ details tr.kept {{display: none}}
#{toggle}:checked ~ details.clean {{display: none}}
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
        if self.wasted_only:
            rows = rows.loc[rows["wasted"]]
        return rows.sort_values(["wasted", "size", "path"], ascending=[False, False, True], kind="mergesort")

    def _title(self, layer: int) -> str:
        instruction = " ".join(short_digests(str(self.analysis.layers.at[layer, "instruction"])).split())
        counts = self.summary.loc[layer]
        parts = [f"{int(counts[name]):,} {name}" for name in CHANGES]
        stored = format_bytes(int(self.analysis.layers.at[layer, "stored_bytes"]))
        wasted = int(counts["wasted_bytes"])
        return (f"L{layer} {instruction} · stores {stored} · {', '.join(parts)}"
                + (f" · {format_bytes(wasted)} wasted" if wasted else ""))

    def _repr_html_(self) -> str:
        # The switch's id comes from what the image holds, not where it was read or in which order its
        # tars list it: the same under either builder.
        seed = hashlib.sha256()
        rows = zip(self.changes["layer"], self.changes["path"], self.changes["size"], strict=True)
        for layer, path, size in sorted(rows):
            seed.update(f"{layer}\0{path}\0{size}\n".encode("utf-8", "surrogateescape"))
        toggle = f"layerlab-wasted-{seed.hexdigest()[:10]}"
        parts = [f"<div class='layerlab-explorer'><style>{_STYLE.format(toggle=toggle)}</style>"]
        if not self.wasted_only:
            parts.append(f"<input type='checkbox' id='{toggle}'> <label for='{toggle}'>wasted files only</label>")
        for layer in self.analysis.layers.index:
            rows = self._layer_rows(int(layer))
            clean = not bool(self.summary.at[layer, "wasted_bytes"])
            parts.append(f"<details class='{'clean' if clean else 'has-waste'}'>"
                         f"<summary>{escape(self._title(int(layer)))}</summary>")
            parts.append("<table><tr><th>change</th><th>kind</th><th>path</th><th>size</th><th>hidden by</th></tr>")
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
        parts.append("</div>")
        return "".join(parts)

    def __repr__(self) -> str:
        lines = []
        for layer in self.analysis.layers.index:
            lines.append(self._title(int(layer)))
            wasted = self._layer_rows(int(layer))
            wasted = wasted.loc[wasted["wasted"]].head(5)
            for row in wasted.itertuples(index=False):
                size = format_bytes(int(row.size))
                lines.append(f"    wasted {size:>10}  /{row.path}  (hidden by L{int(row.hidden_by)})")
        return "\n".join(lines)


def explore(analysis: Analysis, rows: int = 200, wasted_only: bool = False) -> LayerExplorer:
    """dive's per-layer file tree for ``analysis``: see :class:`LayerExplorer`."""
    return LayerExplorer(analysis, rows=rows, wasted_only=wasted_only)
