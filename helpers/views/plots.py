"""Figures of what layers store, what stays visible and who hid the rest.

Plots only read :class:`~helpers.measuring.analysis.Analysis` objects and the tables
of :mod:`helpers.views.tables`; every bar is a byte count those compute
(uncompressed regular-file bytes, as in :mod:`helpers.measuring.metrics`).

Each function returns a :class:`matplotlib.figure.Figure` built without
pyplot, so nothing is left open behind the caller's back and a notebook
shows it once, as the cell's value.  Size is set here (8 inches wide, about
4 high, taller for many bars); the dpi comes from ``rcParams`` (see
:func:`helpers.setup`).  Visible bytes are always :data:`VISIBLE_COLOR`,
reclaimable (hidden) bytes always :data:`HIDDEN_COLOR`.
"""

from __future__ import annotations

import io
import re
import textwrap
from collections.abc import Callable, Mapping

import numpy as np
import pandas as pd
from matplotlib.figure import Figure
from matplotlib.patches import Patch
from matplotlib.ticker import FuncFormatter, MaxNLocator

from ..ground.errors import LayerLabError
from ..ground.sizes import format_bytes
from ..measuring.analysis import Analysis
from ..measuring.prediction import PredictedLayer
from .report import short_digests, shorten
from .tables import attribution, categorize, directory_sizes, layer_breakdown, top_paths

#: Bytes the final image shows.
VISIBLE_COLOR = "#4c72b0"
#: Bytes a layer stores that no container can see (reclaimable, hidden by a later layer).
HIDDEN_COLOR = "#dd8452"
#: Compressed bytes: what a pull moves.
PULLED_COLOR = "#9bb7d4"
#: Bytes a step saved, in :func:`savings_waterfall`.
SAVED_COLOR = "#55a868"
#: Bytes a step added, in :func:`savings_waterfall`.
ADDED_COLOR = "#c44e52"
#: Bytes already on a machine that holds the base, in :func:`fetch_given_base`.
BASE_COLOR = "#b0b0b0"

#: Each colour above means one thing in every figure of the series.  Figures that
#: tell things apart by category (directories, fleets, the layers of :func:`treemap`)
#: take their colours from this list, which holds none of them.
CATEGORY_COLORS = ["#8172b3", "#937860", "#da8bc3", "#ccb974", "#64b5cd", "#2b8c8c", "#a65e9a", "#7a8c3a"]
_REST_COLOR = "#e4e4e4"  # "everything else" in a share

VISIBLE_LABEL = "visible in the final image"
HIDDEN_LABEL = "reclaimable: hidden by a later layer"
BYTES_LABEL = "bytes (uncompressed regular files)"

#: The look of every figure, set by :func:`helpers.setup` (tests and scripts may use it as they are).
STYLE = {
    "figure.dpi": 100,
    "font.size": 10,
    "axes.titlesize": "medium",
    "axes.spines.top": False,
    "axes.spines.right": False,
    "legend.frameon": False,
}

#: Figures show at :data:`STYLE`'s dpi, drawn with this many times the pixels (sharp on high-resolution screens).
PIXEL_RATIO = 2

_WIDTH = 8.0
_LABEL_WIDTH = 40
_MAX_LABEL_LINES = 6  # a 10 KB instruction makes a label of six lines, not a figure a metre high


class _Figure(Figure):
    """A figure outside pyplot that a notebook still shows, once, as PNG when it is a cell's value.

    (IPython's own PNG printer for figures only exists once pyplot has made one;
    a pyplot figure returned as a cell's value would show twice.)
    """

    def __repr__(self) -> str:
        return super().__repr__().replace(type(self).__name__, "Figure", 1)

    def _repr_png_(self) -> tuple[bytes, dict[str, int]]:
        """The figure as a PNG at :data:`PIXEL_RATIO` times its dpi, shown at its dpi, with 256 colours.

        The metadata tells the notebook the size to show it at, so each pixel of
        the screen gets ``PIXEL_RATIO**2`` of the image's.  A palette of 256
        colours keeps it as sharp at about a third of the bytes (notebooks store
        their figures; flat charts need no more colours than that).
        """
        from PIL import Image

        buffer = io.BytesIO()
        self.savefig(buffer, format="png", bbox_inches="tight", dpi=self.dpi * PIXEL_RATIO)
        buffer.seek(0)
        with Image.open(buffer) as image:
            width, height = image.size
            small = io.BytesIO()
            image.convert("RGB").quantize(colors=256, method=Image.Quantize.MEDIANCUT).save(small, "PNG", optimize=True)
        return small.getvalue(), {"width": width // PIXEL_RATIO, "height": height // PIXEL_RATIO}


class _BinaryLocator(MaxNLocator):
    """Ticks at round numbers of B, KiB, MiB, GiB… so that :func:`tick_bytes` labels read cleanly."""

    def __init__(self) -> None:
        super().__init__(nbins=5, steps=[1, 2, 2.5, 5, 10])

    def tick_values(self, vmin: float, vmax: float) -> np.ndarray:
        top = max(abs(vmin), abs(vmax))
        unit = 1.0
        while top >= 1024 * unit and unit < 1024.0**4:
            unit *= 1024
        return super().tick_values(vmin / unit, vmax / unit) * unit


def tick_bytes(value: float) -> str:
    """A tick's label: :func:`format_bytes` without a ``.0`` (``512 KiB``, ``1.5 MiB``)."""
    return format_bytes(value).replace(".0 ", " ")


def _byte_axis(ax) -> None:
    ax.xaxis.set_major_locator(_BinaryLocator())
    ax.xaxis.set_major_formatter(FuncFormatter(lambda value, _position: tick_bytes(value)))
    ax.set_xlim(left=0)
    ax.grid(axis="x", color="0.92")
    ax.set_axisbelow(True)


def wrap(text: str, width: int = _LABEL_WIDTH, lines: int = _MAX_LABEL_LINES) -> str:
    """``text`` on lines of at most ``width`` characters, whole; past ``lines`` lines the last ends in ``…``."""
    wrapped = textwrap.wrap(" ".join(text.split()), width, break_on_hyphens=False) or [""]  # runs of spaces as one
    if len(wrapped) > lines:
        wrapped = [*wrapped[:lines - 1], shorten(" ".join(wrapped[lines - 1:]), width)]
    return "\n".join(wrapped)


def wrap_path(path: str, width: int = _LABEL_WIDTH, lines: int = _MAX_LABEL_LINES) -> str:
    """``path`` on lines of at most ``width`` characters, broken after a ``/`` where it can be."""
    rows: list[str] = []
    for part in re.findall(r"[^/]*/|[^/]+$", path) or [path]:
        while len(part) > width:  # one component longer than a line
            if rows and len(rows[-1]) < width:
                room = width - len(rows[-1])
                rows[-1], part = rows[-1] + part[:room], part[room:]
            else:
                rows.append(part[:width])
                part = part[width:]
        if rows and len(rows[-1]) + len(part) <= width:
            rows[-1] += part
        elif part:
            rows.append(part)
    if len(rows) > lines:
        rows = [*rows[:lines - 1], shorten("".join(rows[lines - 1:]), width)]
    return "\n".join(rows)


def _layer_label(index: int, instruction: str, width: int = _LABEL_WIDTH) -> str:
    return wrap(f"L{index} {short_digests(str(instruction))}", width)


def _lines(labels: list[str]) -> int:
    return sum(label.count("\n") + 1 for label in labels)


def _height(bars: int, panels: int = 1, lines: int | None = None) -> float:
    extra = 0.17 * max(0, (lines or bars) - bars)  # wrapped labels need room of their own
    return float(min(14.0, max(3.0, 1.3 + 0.3 * bars + extra + 0.5 * panels)))


def _legend(fig: Figure, visible: str | None = VISIBLE_LABEL, hidden: str | None = HIDDEN_LABEL) -> None:
    """The figure's key, below it: only the colours it shows."""
    handles = [Patch(color=color, label=label)
               for color, label in ((VISIBLE_COLOR, visible), (HIDDEN_COLOR, hidden)) if label]
    fig.legend(handles=handles, loc="outside lower center", ncols=len(handles), frameon=False)


def _check_analyses(analyses: Mapping[str, Analysis]) -> None:
    if not analyses:
        raise LayerLabError("there is no image to plot", "pass a mapping of names to analyses, e.g. {'multi-RUN': a}")


def _no_bars(ax, text: str) -> None:
    ax.text(0.5, 0.5, text, transform=ax.transAxes, ha="center", va="center", color="0.4")
    ax.set_yticks([])
    _byte_axis(ax)
    ax.set_xlim(0, 1024)


def _value(ax, x: float, y: float, text: str, **style) -> None:
    """A value label just right of a bar's end."""
    ax.annotate(text, xy=(x, y), xytext=(4, 0), textcoords="offset points", ha="left", va="center",
                fontsize="small", **style)


def _room(ax, widest: float, share: float = 1.3) -> None:
    """Leave room right of the widest bar for its value label."""
    ax.set_xlim(0, (widest or 1024) * share)


def layer_bars(analyses: Mapping[str, Analysis]) -> Figure:
    """One panel per image, one bar per layer (base at top): its visible bytes, then its reclaimable bytes.

    Each bar is the layer's ``stored_bytes`` from :attr:`Analysis.layers`,
    split into ``visible_bytes`` (:data:`VISIBLE_COLOR`) and
    ``reclaimable_bytes`` (:data:`HIDDEN_COLOR`), and labelled with its
    ``stored_bytes`` (and reclaimable part), so that 85 B and 0 B read apart.
    Each layer is named by its whole instruction, wrapped.  All panels share one
    byte scale, so the images compare at a glance.
    """
    _check_analyses(analyses)
    labels = {name: [_layer_label(i, text) for i, text in zip(a.layers.index, a.layers["instruction"], strict=True)]
              for name, a in analyses.items()}
    weights = [max(_lines(rows) * 0.6, len(rows)) + 1.0 for rows in labels.values()]
    counts = [len(rows) for rows in labels.values()]
    fig = _Figure(figsize=(_WIDTH, _height(sum(counts), len(counts), sum(map(_lines, labels.values())))),
                  layout="constrained")
    axes = fig.subplots(len(counts), 1, sharex=True, squeeze=False, height_ratios=weights)[:, 0]
    widest = max(int(a.layers["stored_bytes"].max()) if len(a.layers) else 0 for a in analyses.values())
    for ax, (name, analysis) in zip(axes, analyses.items(), strict=True):
        table = analysis.layers
        rows = np.arange(len(table))
        ax.barh(rows, table["visible_bytes"], color=VISIBLE_COLOR, label="visible")
        ax.barh(rows, table["reclaimable_bytes"], left=table["visible_bytes"], color=HIDDEN_COLOR, label="reclaimable")
        for row, stored, reclaimable in zip(rows, table["stored_bytes"], table["reclaimable_bytes"], strict=True):
            if reclaimable and reclaimable == stored:
                note = f"{format_bytes(stored)}, all reclaimable"
            elif reclaimable:
                note = f"{format_bytes(stored)}, {format_bytes(reclaimable)} reclaimable"
            else:
                note = format_bytes(stored)
            _value(ax, stored, row, note)
        ax.set_yticks(rows, labels[name], fontsize="small")
        ax.set_ylim(len(table) - 0.5, -0.5)  # base at top
        ax.set_title(
            f"{name}: stores {format_bytes(analysis.stored_bytes)}, "
            f"{format_bytes(analysis.reclaimable_bytes)} of it reclaimable",
            loc="left", fontsize="medium",
        )
        _byte_axis(ax)
        _room(ax, widest, 1.45)
    axes[-1].set_xlabel(BYTES_LABEL)
    fig.supylabel("layer, base at top", fontsize="medium")
    fig.suptitle("What each layer stores: visible vs reclaimable bytes")
    _legend(fig)
    return fig


#: Pairs of (layer storing → layer hiding) drawn one per row in :func:`stored_vs_visible`; the rest share one.
_MAX_PAIRS = 8


def stored_vs_visible(analyses: Mapping[str, Analysis]) -> Figure:
    """Per image, the bytes it ships (``stored``), the bytes a container sees (``visible``), and who hid the rest.

    The ``stored`` bar is :attr:`Analysis.stored_bytes`: the visible part
    (:attr:`Analysis.final_bytes`), then one segment per (layer storing →
    layer hiding) pair of :func:`~helpers.views.tables.attribution`, biggest
    first.  The ``visible`` bar is :attr:`Analysis.final_bytes`.  Below them,
    each pair has a row of its own, ``L1 → hidden by L3``, its bar under its
    segment and labelled with its size; past :data:`_MAX_PAIRS` pairs the
    smallest share one row.  Panels share one byte scale.
    """
    _check_analyses(analyses)
    pairs = {name: attribution(analysis) for name, analysis in analyses.items()}
    rows_of = {name: 2 + min(len(p), _MAX_PAIRS) for name, p in pairs.items()}
    fig = _Figure(figsize=(_WIDTH, _height(sum(rows_of.values()), len(analyses))), layout="constrained")
    axes = fig.subplots(len(analyses), 1, sharex=True, squeeze=False,
                        height_ratios=[n + 1.0 for n in rows_of.values()])[:, 0]
    widest = max(analysis.stored_bytes for analysis in analyses.values()) or 1024
    for ax, (name, analysis) in zip(axes, analyses.items(), strict=True):
        table = pairs[name]
        segments = [(f"L{row.layer} → hidden by L{row.hidden_by}", int(row.bytes))
                    for row in table.itertuples(index=False)]
        if len(segments) > _MAX_PAIRS:
            rest = segments[_MAX_PAIRS - 1:]
            segments = [*segments[:_MAX_PAIRS - 1], (f"{len(rest)} more pairs", sum(n for _, n in rest))]
        final = analysis.final_bytes
        ax.barh([0], [final], color=VISIBLE_COLOR, label="stored: visible")
        lefts = list(np.cumsum([final] + [n for _, n in segments])[:-1])
        ax.barh([0] * len(segments), [n for _, n in segments], left=lefts, color=HIDDEN_COLOR,
                edgecolor="white", linewidth=0.8, label="stored: reclaimable")
        ax.barh([1], [final], color=VISIBLE_COLOR, label="visible")
        rows = list(range(2, 2 + len(segments)))
        ax.barh(rows, [n for _, n in segments], left=lefts, color=HIDDEN_COLOR, label="who hid what")
        _value(ax, analysis.stored_bytes, 0, format_bytes(analysis.stored_bytes)
               + ("" if segments else ", nothing reclaimable"))
        _value(ax, final, 1, format_bytes(final))
        for row, left, (_, nbytes) in zip(rows, lefts, segments, strict=True):
            _value(ax, left + nbytes, row, format_bytes(nbytes))
        ax.set_yticks([0, 1, *rows], ["stored", "visible", *(label for label, _ in segments)])
        ax.set_ylim(1.5 + len(segments), -0.6)
        ax.set_title(
            f"{name}: ships {format_bytes(analysis.stored_bytes)}, shows {format_bytes(final)}",
            loc="left", fontsize="medium",
        )
        _byte_axis(ax)
        _room(ax, widest, 1.2)
    axes[-1].set_xlabel(BYTES_LABEL)
    fig.suptitle("Stored vs visible: where the reclaimable bytes are, and who hid them")
    _legend(fig)
    return fig


def biggest_paths(analysis: Analysis, layer: int, top: int = 15, depth: int | None = None) -> Figure:
    """The biggest files (or, with ``depth=N``, directories) of ``layer``, biggest at top.

    Each bar is a row of :func:`~helpers.views.tables.top_paths`: its
    ``visible_bytes``, then its ``hidden_bytes``, labelled with its ``bytes``.
    Paths are whole, wrapped after a ``/``.
    """
    table = top_paths(analysis, layer, top=top, depth=depth)
    labels = [wrap_path(path) for path in table["path"]]
    fig = _Figure(figsize=(_WIDTH, _height(len(table), lines=_lines(labels))), layout="constrained")
    ax = fig.subplots()
    rows = np.arange(len(table))
    what = "files" if depth is None else f"directories (first {depth} path component{'s' * (depth > 1)})"
    if table.empty:
        _no_bars(ax, f"layer {layer} stores no regular files")
    else:
        ax.barh(rows, table["visible_bytes"], color=VISIBLE_COLOR, label="visible")
        ax.barh(rows, table["hidden_bytes"], left=table["visible_bytes"], color=HIDDEN_COLOR, label="hidden")
        for row, nbytes in zip(rows, table["bytes"], strict=True):
            _value(ax, nbytes, row, format_bytes(nbytes))
        ax.set_yticks(rows, labels, fontsize="small")
        ax.set_ylim(len(table) - 0.5, -0.5)
        _byte_axis(ax)
        _room(ax, int(table["bytes"].max()), 1.2)
    ax.set_ylabel(what.split(" (")[0])
    ax.set_xlabel(BYTES_LABEL)
    ax.set_title(f"L{layer} {_title_instruction(analysis, layer)}: biggest {what}", loc="left", fontsize="medium")
    _legend(fig, visible="visible" if table["visible_bytes"].any() else None,
            hidden="hidden by a later layer" if table["hidden_bytes"].any() else None)
    return fig


def breakdown(analysis: Analysis, layer: int, categorize: Callable[[str], str] = categorize) -> Figure:
    """What ``layer``'s bytes are, by category: still visible, then hidden later.

    Each bar is a row of :func:`~helpers.views.tables.layer_breakdown`; a bar
    with hidden bytes is annotated with the layers that hid them.
    """
    table = layer_breakdown(analysis, layer, categorize=categorize)
    fig = _Figure(figsize=(_WIDTH, _height(len(table))), layout="constrained")
    ax = fig.subplots()
    rows = np.arange(len(table))
    if table.empty:
        _no_bars(ax, f"layer {layer} stores no regular files")
    else:
        ax.barh(rows, table["still_visible"], color=VISIBLE_COLOR, label="still visible")
        ax.barh(rows, table["hidden_later"], left=table["still_visible"], color=HIDDEN_COLOR, label="hidden later")
        ax.set_yticks(rows, list(table["category"]))
        ax.set_ylim(len(table) - 0.5, -0.5)
        for row, entry in zip(rows, table.itertuples(index=False), strict=True):
            note = format_bytes(entry.bytes)
            if entry.hidden_later:
                note += f", hidden by L{entry.hidden_by.replace(', ', ', L')}"
            _value(ax, entry.bytes, row, note)
        _byte_axis(ax)
        _room(ax, int(table["bytes"].max()), 1.45)
    ax.set_ylabel("category")
    ax.set_xlabel(BYTES_LABEL)
    ax.set_title(f"What L{layer} {_title_instruction(analysis, layer)} stores", loc="left", fontsize="medium")
    _legend(fig, visible="still visible" if not table.empty and table["still_visible"].any() else None,
            hidden="hidden by a later layer" if not table.empty and table["hidden_later"].any() else None)
    return fig


def _title_instruction(analysis: Analysis, layer: int, width: int = 70) -> str:
    return wrap(short_digests(str(analysis.layers.at[layer, "instruction"])), width, lines=3)


def leaderboard(analyses: Mapping[str, Analysis]) -> Figure:
    """One bar per image, smallest ``stored_bytes`` at the top: its ``final_bytes``, then its ``reclaimable_bytes``.

    Each bar is labelled with the image's name and its layer count; bar length is
    ``stored_bytes = final_bytes + reclaimable_bytes``.
    """
    _check_analyses(analyses)
    ranked = sorted(analyses.items(), key=lambda item: (item[1].stored_bytes, item[0]))
    fig = _Figure(figsize=(_WIDTH, _height(len(ranked))), layout="constrained")
    ax = fig.subplots()
    rows = np.arange(len(ranked))
    final = [analysis.final_bytes for _, analysis in ranked]
    ax.barh(rows, final, color=VISIBLE_COLOR, label="final")
    ax.barh(rows, [analysis.reclaimable_bytes for _, analysis in ranked], left=final, color=HIDDEN_COLOR,
            label="reclaimable")
    ax.set_yticks(rows, [f"{name} ({len(analysis.image.layers)} layers)" for name, analysis in ranked])
    ax.set_ylim(len(ranked) - 0.5, -0.5)  # smallest at top
    for row, (_, analysis) in zip(rows, ranked, strict=True):
        ax.annotate(format_bytes(analysis.stored_bytes), (analysis.stored_bytes, row), xytext=(4, 0),
                    textcoords="offset points", va="center", fontsize="small")
    ax.set_xlabel(BYTES_LABEL)
    ax.set_ylabel("image")
    _byte_axis(ax)
    ax.set_xlim(right=max(a.stored_bytes for _, a in ranked) * 1.2 or 1024)
    fig.suptitle("The leaderboard: bytes each image stores")
    _legend(fig)
    return fig


def savings_waterfall(steps: Mapping[str, Analysis]) -> Figure:
    """From the first image to the last, in the given order: what each step saved in ``stored_bytes``.

    The first and last bars are those images' ``stored_bytes``, split into
    ``final_bytes`` (:data:`VISIBLE_COLOR`) and ``reclaimable_bytes``
    (:data:`HIDDEN_COLOR`).  Each bar between spans from the previous image's
    ``stored_bytes`` to this one's, :data:`SAVED_COLOR` when it saved bytes and
    :data:`ADDED_COLOR` when it added some.
    """
    _check_analyses(steps)
    names, images = list(steps), list(steps.values())
    sizes = [analysis.stored_bytes for analysis in images]
    fig = _Figure(figsize=(_WIDTH, _height(len(names) + 1)), layout="constrained")
    ax = fig.subplots()
    ends = [(0, images[0], f"{names[0]} (start)"), (len(names), images[-1], f"{names[-1]} (end)")]
    end_rows, end_images = [row for row, _, _ in ends], [analysis for _, analysis, _ in ends]
    ax.barh(end_rows, [a.final_bytes for a in end_images], color=VISIBLE_COLOR, label="visible")
    ax.barh(end_rows, [a.reclaimable_bytes for a in end_images], left=[a.final_bytes for a in end_images],
            color=HIDDEN_COLOR, label="reclaimable")
    for row, analysis in zip(end_rows, end_images, strict=True):
        _value(ax, analysis.stored_bytes, row, format_bytes(analysis.stored_bytes))
    labels = [ends[0][2]]
    used = set()
    for row, (name, before, after) in enumerate(zip(names[1:], sizes, sizes[1:], strict=False), start=1):
        saved = before - after
        used.add(saved >= 0)
        ax.barh(row, abs(saved), left=min(before, after), color=SAVED_COLOR if saved >= 0 else ADDED_COLOR,
                label=name)
        _value(ax, max(before, after), row, ("saved " if saved >= 0 else "added ") + format_bytes(abs(saved)))
        labels.append(name)
    labels.append(ends[1][2])
    ax.set_yticks(np.arange(len(labels)), [wrap(label, 32) for label in labels])
    ax.set_ylim(len(labels) - 0.5, -0.5)
    ax.set_xlabel(BYTES_LABEL)
    ax.set_ylabel("step")
    _byte_axis(ax)
    _room(ax, max(sizes), 1.3)
    fig.suptitle(f"What each step saved: {format_bytes(sizes[0])} down to {format_bytes(sizes[-1])}")
    handles = [Patch(color=VISIBLE_COLOR, label="visible"), Patch(color=HIDDEN_COLOR, label="reclaimable")]
    handles += [Patch(color=SAVED_COLOR, label="bytes saved")] if True in used else []
    handles += [Patch(color=ADDED_COLOR, label="bytes added")] if False in used else []
    fig.legend(handles=handles, loc="outside lower center", ncols=len(handles), frameon=False)
    return fig


def fetch_given_base(analyses: Mapping[str, Analysis], base: Analysis, base_name: str = "the base") -> Figure:
    """Per image, what a machine that already holds ``base`` has, what it must still store, and what a pull moves.

    Each bar is the image's ``stored_bytes``: first the ``stored_bytes`` of its
    layers that are layers of ``base`` (same digest; :data:`BASE_COLOR`), then
    those of the others, :func:`~helpers.views.tables.unshared_bytes`, split into
    their visible and reclaimable bytes.  Under it, where the pulls were measured
    (``measure_pull``), a thin bar of what a pull of those other layers moves:
    ``Σ pull_bytes`` over them (gzip, as a registry stores an uncompressed layer).
    """
    _check_analyses(analyses)
    shared = {layer.digest for layer in base.image.layers}
    names = list(analyses)
    fig = _Figure(figsize=(_WIDTH, _height(len(names))), layout="constrained")
    ax = fig.subplots()
    held, visible, hidden, pulled = [], [], [], []
    for name in names:
        analysis = analyses[name]
        table = analysis.layers
        own = [layer for layer in analysis.image.layers if layer.digest not in shared]
        indexes = [layer.index for layer in own]
        held.append(int(analysis.stored_bytes - table.loc[indexes, "stored_bytes"].sum()))
        visible.append(int(table.loc[indexes, "visible_bytes"].sum()))
        hidden.append(int(table.loc[indexes, "reclaimable_bytes"].sum()))
        moves = [layer.pull_bytes for layer in own]
        pulled.append(None if any(size is None for size in moves) else int(sum(moves)))  # type: ignore[arg-type]
    rows = np.arange(len(names))
    ax.barh(rows - 0.1, held, height=0.6, color=BASE_COLOR, label="on the machine")
    ax.barh(rows - 0.1, visible, height=0.6, left=held, color=VISIBLE_COLOR, label="to store: visible")
    ax.barh(rows - 0.1, hidden, height=0.6, left=np.add(held, visible), color=HIDDEN_COLOR,
            label="to store: reclaimable")
    measured = [row for row, size in enumerate(pulled) if size is not None]
    if measured:
        ax.barh(rows[measured] + 0.3, [pulled[row] for row in measured], height=0.18,
                left=[held[row] for row in measured], color=PULLED_COLOR, label="a pull moves")
    for row, name in enumerate(names):
        label = f"store {format_bytes(visible[row] + hidden[row])}"
        if pulled[row] is not None:
            label += f", pull {format_bytes(pulled[row])}"
        _value(ax, analyses[name].stored_bytes, row - 0.1, label)
    ax.set_yticks(rows, names)
    ax.set_ylim(len(names) - 0.5, -0.6)
    ax.set_xlabel(BYTES_LABEL)
    ax.set_ylabel("image")
    _byte_axis(ax)
    _room(ax, max(a.stored_bytes for a in analyses.values()), 1.45)
    fig.suptitle(f"What a machine that holds {base_name} must still store, and what a pull moves")
    handles = [Patch(color=BASE_COLOR, label=f"already there: {base_name}'s layers"),
               Patch(color=VISIBLE_COLOR, label="to store: visible"),
               Patch(color=HIDDEN_COLOR, label="to store: reclaimable")]
    if measured:
        handles.append(Patch(color=PULLED_COLOR, label="a pull moves (gzip)"))
    fig.legend(handles=handles, loc="outside lower center", ncols=len(handles), frameon=False)
    return fig


def bases(analyses: Mapping[str, Analysis], depth: int = 2, top: int = 6) -> Figure:
    """Base images side by side: how big each is, and what it is made of.

    Left, on one byte scale: each image's :attr:`Analysis.final_bytes` (what a
    container sees) and, lighter, its :attr:`Analysis.compressed_bytes` (what a
    pull moves), annotated with the file count.  Right: each image as 100%, split
    into the ``top`` directories (first ``depth`` path components, from
    :func:`~helpers.views.tables.directory_sizes`) with the largest shares summed
    over all the images, each in the same colour in every bar, then the rest in grey.
    """
    _check_analyses(analyses)
    names = list(analyses)
    tables = {name: directory_sizes(analysis, depth) for name, analysis in analyses.items()}
    totals = {name: max(1, int(table["bytes"].sum())) for name, table in tables.items()}
    shares = pd.concat([table.assign(share=table["bytes"] / totals[name]) for name, table in tables.items()])
    chosen = list(shares.groupby("path")["share"].sum().sort_values(ascending=False, kind="mergesort").index[:top])
    fig = _Figure(figsize=(_WIDTH * 1.45, _height(len(names) + 2)), layout="constrained")
    size_ax, mix_ax = fig.subplots(1, 2, sharey=True, width_ratios=[1, 1.1])
    rows = np.arange(len(names))
    final = np.array([analyses[name].final_bytes for name in names])
    pulled = [analyses[name].compressed_bytes for name in names]
    size_ax.barh(rows - 0.2, final, height=0.38, color=VISIBLE_COLOR, label="files a container sees")
    if all(p is not None for p in pulled):
        size_ax.barh(rows + 0.2, pulled, height=0.38, color=PULLED_COLOR, label="what a pull moves (gzip)")
    for row, name in enumerate(names):
        files = int(tables[name]["files"].sum())
        size_ax.annotate(f"{format_bytes(final[row])}, {files:,} files", (final[row], row - 0.2), xytext=(4, 0),
                         textcoords="offset points", va="center", fontsize="small")
        if pulled[row] is not None:
            size_ax.annotate(format_bytes(pulled[row]), (pulled[row], row + 0.2), xytext=(4, 0),
                             textcoords="offset points", va="center", fontsize="small", color="0.3")
    size_ax.set_yticks(rows, names)
    size_ax.set_ylim(len(names) - 0.5, -0.5)
    size_ax.set_xlabel(BYTES_LABEL)
    _byte_axis(size_ax)
    size_ax.set_xlim(right=float(final.max()) * 1.55 or 1024)
    size_ax.set_title("how big", loc="left", fontsize="medium")
    size_ax.legend(loc="upper center", bbox_to_anchor=(0.5, -0.18), ncols=2, frameon=False, fontsize="small")
    left = np.zeros(len(names))
    for color, path in zip(CATEGORY_COLORS, chosen, strict=False):
        part = np.array([tables[n].loc[tables[n]["path"] == path, "bytes"].sum() / totals[n] for n in names])
        mix_ax.barh(rows, part * 100, left=left * 100, color=color, label=path)
        left += part
    mix_ax.barh(rows, (1 - left) * 100, left=left * 100, color=_REST_COLOR, label="everything else")
    mix_ax.set_xlim(0, 100)
    mix_ax.xaxis.set_major_formatter(FuncFormatter(lambda value, _position: f"{value:.0f}%"))
    mix_ax.set_xlabel(f"share of the visible bytes, by path (first {depth} components)")
    mix_ax.set_title("what it is made of", loc="left", fontsize="medium")
    mix_ax.legend(loc="upper center", bbox_to_anchor=(0.5, -0.18), ncols=3, frameon=False, fontsize="small")
    fig.suptitle("Base images: their size, and where their bytes are")
    return fig


def _spread(values: list[float], gap: float) -> list[float]:
    """Label positions for ``values`` (log-scale units), at least ``gap`` apart, each moved up as little as it can."""
    order = sorted(range(len(values)), key=lambda i: values[i])
    placed = [0.0] * len(values)
    previous = None
    for i in order:
        placed[i] = values[i] if previous is None else max(values[i], previous + gap)
        previous = placed[i]
    return placed


def fleet(growth: pd.DataFrame) -> Figure:
    """How a fleet's cost grows with its services: what the engine stores, and what pulls move.

    ``growth`` is :func:`helpers.views.fleet.fleet_growth`.  Two panels on one
    (logarithmic) byte scale: ``stored_bytes`` and ``pulled_bytes`` against the
    number of services, one line per fleet, the last value written at its end.
    A fleet whose name contains "squashed" is dashed, in its base's colour (the
    text before the comma).
    """
    if growth.empty:
        raise LayerLabError("there is no fleet to plot", "pass helpers.views.fleet.fleet_growth(...)")
    fig = _Figure(figsize=(_WIDTH * 1.3, 4.8), layout="constrained")
    axes = fig.subplots(1, 2, sharey=True)
    families = list(dict.fromkeys(name.split(",")[0] for name in growth["fleet"]))
    panels = [("stored_bytes", "stored by the engine (a shared layer once)"),
              ("pulled_bytes", "moved by pulls (compressed, each layer once)")]
    for ax, (column, title) in zip(axes, panels, strict=True):
        ends: list[tuple[float, str, int]] = []
        for name, rows in growth.groupby("fleet", sort=False):
            values = rows[column].astype("float64")
            if values.isna().all():
                continue
            color = CATEGORY_COLORS[families.index(str(name).split(",")[0]) % len(CATEGORY_COLORS)]
            style = "--" if "squashed" in str(name) else "-"
            ax.plot(rows["services"], values, style, color=color, marker="o", markersize=3, label=name)
            ends.append((float(values.iloc[-1]), color, int(rows["services"].iloc[-1])))
        places = _spread([float(np.log2(end)) for end, _color, _x in ends], gap=0.22)
        for (end, color, x), place in zip(ends, places, strict=True):
            ax.annotate(format_bytes(end), (x, end), xytext=(x + 0.25, 2 ** place), textcoords="data",
                        va="center", fontsize="small", color=color)
        ax.set_yscale("log", base=2)
        ax.yaxis.set_major_formatter(FuncFormatter(lambda value, _position: tick_bytes(value)))
        ax.yaxis.set_minor_formatter(FuncFormatter(lambda _value, _position: ""))
        ax.set_xlabel("services on the machine")
        ax.set_xticks(sorted(growth["services"].unique()))
        ax.set_xlim(0.5, growth["services"].max() + 2)
        ax.set_title(title, loc="left", fontsize="medium")
        ax.grid(axis="y", which="major", color="0.9")
    axes[0].set_ylabel("bytes (log scale)")
    fig.suptitle("One image per service: what the base costs when layers are shared, and when they are not")
    handles, labels = axes[0].get_legend_handles_labels()
    fig.legend(handles, labels, loc="outside lower center", ncols=len(labels), frameon=False)
    return fig


def _directory_of(path: str, depth: int) -> str:
    parts = path.split("/")
    return "/".join(parts[:depth]) + "/" if len(parts) > depth else path


def _fit(text: str, width: float, char: float = 6.5) -> str:
    """``text`` if it fits ``width`` units of :func:`treemap`'s 1000-unit-wide canvas in small type, else ``""``."""
    return text if len(text) * char + 12 <= width else ""


def treemap(analysis: Analysis, name: str = "the image", depth: int = 2, top: int = 16) -> Figure:
    """Every stored byte of the image as area, grouped by path, coloured by the layer that stores it.

    Each rectangle is one of the ``top`` biggest paths (first ``depth`` path
    components, as :func:`~helpers.views.tables.directory_sizes` groups them; the
    rest share one), its area the regular-file bytes stored under it in all
    layers, ``Σ size`` of ``kind == "file"`` rows of :attr:`Analysis.files`
    (so the whole is :attr:`Analysis.stored_bytes`).  Inside, one tile per
    (layer storing, layer hiding) pair, in that layer's colour from
    :data:`CATEGORY_COLORS` (the seven layers that store most have one each,
    the rest share a light grey); reclaimable tiles are hatched in
    :data:`HIDDEN_COLOR` and, where they are big enough, say who hid them.
    Tiles are laid out with squarify.
    """
    import squarify
    from matplotlib.patches import Rectangle

    files = analysis.files
    rows = files.loc[files["kind"] == "file", ["layer", "path", "size", "hidden_by"]]
    fig = _Figure(figsize=(_WIDTH * 1.25, 6.0), layout="constrained")
    ax = fig.subplots()
    ax.set_axis_off()
    total = int(rows["size"].sum())
    fig.suptitle(f"Where {name}'s {format_bytes(total)} are: stored bytes by path, coloured by the layer storing them")
    if not total:
        ax.text(0.5, 0.5, "the image stores no file bytes", ha="center", va="center", color="0.4")
        return fig
    frame = pd.DataFrame({
        "group": rows["path"].map(lambda path: _directory_of(path, depth)),
        "layer": rows["layer"].astype("int64"),
        "hidden_by": rows["hidden_by"].fillna(-1).astype("int64"),
        "size": rows["size"].astype("int64"),
    })
    frame = frame.loc[frame["size"] > 0]
    sizes = frame.groupby("group")["size"].sum().sort_values(ascending=False, kind="mergesort")
    chosen = list(sizes.index[:top])
    others = len(sizes) - len(chosen)
    if others:
        frame.loc[~frame["group"].isin(chosen), "group"] = f"{others:,} other paths"
    groups = frame.groupby("group")["size"].sum().sort_values(ascending=False, kind="mergesort")
    width, height = 1000.0, 600.0
    boxes = squarify.squarify(squarify.normalize_sizes(list(groups), width, height), 0, 0, width, height)
    by_layer = frame.groupby("layer")["size"].sum().sort_values(ascending=False, kind="mergesort")
    colors = {int(layer): color for layer, color in zip(by_layer.index, CATEGORY_COLORS[:-1], strict=False)}
    layers_shown: set[int] = set()
    for group, box in zip(groups.index, boxes, strict=True):
        tiles = (frame.loc[frame["group"] == group].groupby(["layer", "hidden_by"])["size"].sum()
                 .sort_values(ascending=False, kind="mergesort"))
        inner = squarify.squarify(squarify.normalize_sizes(list(tiles), box["dx"], box["dy"]),
                                  box["x"], box["y"], box["dx"], box["dy"])
        for (layer, hidden_by), tile in zip(tiles.index, inner, strict=True):
            layers_shown.add(int(layer))
            color = colors.get(int(layer), _REST_COLOR)
            hidden = hidden_by >= 0
            ax.add_patch(Rectangle((tile["x"], tile["y"]), tile["dx"], tile["dy"], facecolor=color,
                                   edgecolor=HIDDEN_COLOR if hidden else "white", hatch="///" if hidden else None,
                                   linewidth=0.6, label=f"L{layer}" + (f" hidden by L{hidden_by}" if hidden else "")))
            if hidden and _fit(f"hidden by L{hidden_by}", tile["dx"]) and tile["dy"] > 40:
                ax.text(tile["x"] + tile["dx"] / 2, tile["y"] + tile["dy"] / 2, f"hidden by L{hidden_by}",
                        ha="center", va="center", fontsize="small", color="black",
                        bbox={"facecolor": "white", "edgecolor": "none", "alpha": 0.8, "pad": 1.5})
        ax.add_patch(Rectangle((box["x"], box["y"]), box["dx"], box["dy"], fill=False, edgecolor="white",
                               linewidth=2.0))
        label = _fit(f"/{group}", box["dx"]), _fit(format_bytes(int(groups[group])), box["dx"])
        if label[1] and box["dy"] > 32:
            ax.text(box["x"] + 4, box["y"] + 4, "\n".join(part for part in label if part), ha="left", va="top",
                    fontsize="small", bbox={"facecolor": "white", "edgecolor": "none", "alpha": 0.75, "pad": 1.5})
    ax.set_xlim(0, width)
    ax.set_ylim(0, height)
    ax.invert_yaxis()
    handles = [Patch(facecolor=colors[layer], edgecolor="white",
                     label=shorten(f"L{layer} {short_digests(str(analysis.layers.at[layer, 'instruction']))}", 34))
               for layer in sorted(layers_shown & set(colors))]
    if layers_shown - set(colors):
        handles.append(Patch(facecolor=_REST_COLOR, edgecolor="white", label=f"{len(layers_shown - set(colors))} "
                             "smaller layers"))
    if frame["hidden_by"].ge(0).any():
        handles.append(Patch(facecolor="white", edgecolor=HIDDEN_COLOR, hatch="///", label="reclaimable"))
    fig.legend(handles=handles, loc="outside lower center", ncols=min(4, len(handles)), frameon=False,
               fontsize="small")
    return fig


def predicted_layers(predictions: Mapping[str, list[PredictedLayer]],
                     measured: Mapping[str, Analysis] | None = None) -> Figure:
    """One panel per shape, one bar per predicted layer (base at top): the bytes it would store.

    Each bar is a :class:`~helpers.measuring.prediction.PredictedLayer`'s
    ``stored_bytes``, labelled with its size; a layer that only hides bytes says how
    many.  With ``measured`` (the same shapes, built), each layer's measured
    ``stored_bytes`` is drawn as a black tick on its bar.  All panels share one scale.
    """
    if not predictions:
        raise LayerLabError("nothing to draw: no predictions were given", "pass at least one shape")
    labels = {name: [_layer_label(i, layer.instruction) for i, layer in enumerate(layers)]
              for name, layers in predictions.items()}
    counts = [len(rows) for rows in labels.values()]
    weights = [max(_lines(rows) * 0.6, len(rows)) + 1.0 for rows in labels.values()]
    fig = _Figure(figsize=(_WIDTH, _height(sum(counts), len(counts), sum(map(_lines, labels.values())))),
                  layout="constrained")
    axes = fig.subplots(len(counts), 1, sharex=True, squeeze=False, height_ratios=weights)[:, 0]
    widest = max(layer.stored_bytes for layers in predictions.values() for layer in layers)
    for ax, (name, layers) in zip(axes, predictions.items(), strict=True):
        rows = np.arange(len(layers))
        stored = [layer.stored_bytes for layer in layers]
        ax.barh(rows, stored, color=[BASE_COLOR, *[VISIBLE_COLOR] * (len(layers) - 1)])
        for row, layer in zip(rows, layers, strict=True):
            note = format_bytes(layer.stored_bytes)
            if layer.hidden_bytes:
                note += f", hides {format_bytes(layer.hidden_bytes)}"
            _value(ax, layer.stored_bytes, row, note)
        if measured is not None and name in measured:
            built = measured[name].layers["stored_bytes"].tolist()
            ax.plot(built[: len(layers)], rows[: len(built)], "|", color="black", markersize=14, mew=2)
        ax.set_yticks(rows, labels[name], fontsize="small")
        ax.set_ylim(len(layers) - 0.5, -0.5)
        ax.set_title(f"{name}: would store {format_bytes(sum(stored))}", loc="left", fontsize="medium")
        _byte_axis(ax)
        _room(ax, widest, 1.45)
    axes[-1].set_xlabel(BYTES_LABEL)
    fig.supylabel("layer, base at top", fontsize="medium")
    fig.suptitle("Predicted layers, from apk's own figures and the real wheels"
                 + ("; black ticks: measured" if measured else ""))
    handles = [Patch(color=BASE_COLOR, label="the base image, measured"),
               Patch(color=VISIBLE_COLOR, label="predicted: apk's I: fields, the wheels' files")]
    fig.legend(handles=handles, loc="outside lower center", ncols=2, fontsize="small", frameon=False)
    return fig
