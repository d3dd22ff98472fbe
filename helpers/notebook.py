"""What the notebooks share: one setup call, and side-by-side tables."""

from __future__ import annotations

from collections.abc import Mapping

import pandas as pd

from .analysis import Analysis
from .errors import LayerLabError
from .report import short_digests, shorten
from .sizes import format_bytes


def _show_layerlab_error(shell, etype, value, tb, tb_offset=None):  # IPython's custom-exception signature
    """Report a LayerLabError as a one-line error: the cell still fails (Run All stops, nbval sees it)."""
    shell._showtraceback(etype, value, f"{etype.__name__}: {value}".splitlines())
    return None


def setup() -> None:
    """Plot style, pandas display options, and readable errors instead of tracebacks.

    After this, a :class:`~helpers.errors.LayerLabError` raised in a cell shows
    as one line naming the cause and the fix.
    """
    import matplotlib

    matplotlib.rcParams.update({"figure.dpi": 150, "savefig.dpi": 150, "figure.figsize": (8, 4)})
    pd.set_option("display.width", 160)
    pd.set_option("display.max_colwidth", 60)
    pd.set_option("display.max_rows", 60)
    try:
        from IPython import get_ipython
    except ImportError:  # pragma: no cover - IPython ships with the notebooks' requirements
        return
    shell = get_ipython()
    if shell is not None:
        shell.set_custom_exc((LayerLabError,), _show_layerlab_error)


def layer_table(analysis: Analysis, width: int = 36) -> pd.DataFrame:
    """A layer table for people: the instruction, then stored and reclaimable sizes."""
    table = analysis.layers
    return pd.DataFrame({
        "instruction": [shorten(short_digests(text), width) for text in table.instruction],
        "stored": [format_bytes(n) for n in table.stored_bytes],
        "reclaimable": [format_bytes(n) for n in table.reclaimable_bytes],
    }, index=table.index)


def side_by_side(analyses: Mapping[str, Analysis], width: int = 36) -> pd.DataFrame:
    """Layer tables of several images next to each other, one column group per image."""
    tables = {name: layer_table(analysis, width) for name, analysis in analyses.items()}
    combined = pd.concat(tables, axis=1).fillna("")
    combined.index.name = "layer"
    return combined


def headline(analyses: Mapping[str, Analysis]) -> pd.DataFrame:
    """The image-level figures of several images, one column per image, in exact bytes."""
    rows = ["layers", "stored_bytes", "final_bytes", "reclaimable_bytes", "efficiency"]
    columns = {name: [analysis.summary()[row] for row in rows] for name, analysis in analyses.items()}
    frame = pd.DataFrame(columns, index=rows, dtype=object)
    frame.loc["efficiency"] = [round(value, 4) for value in frame.loc["efficiency"]]
    return frame


def show_dockerfiles(dockerfiles: Mapping[str, str]):
    """Dockerfiles next to each other, each under its name (an HTML display object)."""
    from html import escape

    from IPython.display import HTML

    columns = "".join(
        f"<div style='flex:1;min-width:18em'><b>{escape(name)}</b><pre>{escape(text)}</pre></div>"
        for name, text in dockerfiles.items()
    )
    return HTML(f"<div style='display:flex;gap:1.5em'>{columns}</div>")
