"""Figures of what layers store, what stays visible and who hid the rest.

Plots only read :class:`~helpers.analysis.Analysis` objects and the tables
of :mod:`helpers.breakdown`; every bar is a byte count those compute
(uncompressed regular-file bytes, as in :mod:`helpers.metrics`).

Each function returns a :class:`matplotlib.figure.Figure` built without
pyplot, so nothing is left open behind the caller's back and a notebook
shows it once, as the cell's value.  Size is set here (8 inches wide, about
4 high, taller for many bars); the dpi comes from ``rcParams`` (see
:func:`helpers.setup`).  Visible bytes are always :data:`VISIBLE_COLOR`,
reclaimable (hidden) bytes always :data:`HIDDEN_COLOR`.
"""

from __future__ import annotations

import io
from collections.abc import Callable, Mapping

import numpy as np
import pandas as pd
from matplotlib.figure import Figure
from matplotlib.patches import Patch
from matplotlib.ticker import FuncFormatter, MaxNLocator
from matplotlib.transforms import offset_copy

from .analysis import Analysis
from .breakdown import attribution, categorize, directory_sizes, layer_breakdown, top_paths
from .errors import LayerLabError
from .report import short_digests, shorten
from .sizes import format_bytes

#: Bytes the final image shows.
VISIBLE_COLOR = "#4c72b0"
#: Bytes a layer stores that no container can see (reclaimable, hidden by a later layer).
HIDDEN_COLOR = "#dd8452"

VISIBLE_LABEL = "visible in the final image"
HIDDEN_LABEL = "reclaimable: hidden by a later layer"
BYTES_LABEL = "bytes (uncompressed regular files)"

_WIDTH = 8.0
_LABEL_WIDTH = 40


class _Figure(Figure):
    """A figure outside pyplot that a notebook still shows, once, as PNG when it is a cell's value.

    (IPython's own PNG printer for figures only exists once pyplot has made one;
    a pyplot figure returned as a cell's value would show twice.)
    """

    def __repr__(self) -> str:
        return super().__repr__().replace(type(self).__name__, "Figure", 1)

    def _repr_png_(self) -> bytes:
        """The figure as a PNG with a palette of 256 colours: as sharp, about a third of the bytes.

        (Notebooks store their figures; flat charts need no more colours than that.)
        """
        from PIL import Image

        buffer = io.BytesIO()
        self.savefig(buffer, format="png", bbox_inches="tight")
        buffer.seek(0)
        with Image.open(buffer) as image:
            small = io.BytesIO()
            image.convert("RGB").quantize(colors=256, method=Image.Quantize.MEDIANCUT).save(small, "PNG", optimize=True)
        return small.getvalue()


class _BinaryLocator(MaxNLocator):
    """Ticks at round numbers of B, KiB, MiB, GiB… so that :func:`format_bytes` labels read cleanly."""

    def __init__(self) -> None:
        super().__init__(nbins=5, steps=[1, 2, 2.5, 5, 10])

    def tick_values(self, vmin: float, vmax: float) -> np.ndarray:
        top = max(abs(vmin), abs(vmax))
        unit = 1.0
        while top >= 1024 * unit and unit < 1024.0**4:
            unit *= 1024
        return super().tick_values(vmin / unit, vmax / unit) * unit


def _byte_axis(ax) -> None:
    ax.xaxis.set_major_locator(_BinaryLocator())
    ax.xaxis.set_major_formatter(FuncFormatter(lambda value, _position: format_bytes(value)))
    ax.set_xlim(left=0)


def _layer_label(index: int, instruction: str, width: int = _LABEL_WIDTH) -> str:
    return f"L{index} {shorten(short_digests(str(instruction)), width)}"


def _path_label(path: str, width: int = _LABEL_WIDTH) -> str:
    """Keep a path's end, the part that names it: ``…/site-packages/django/``."""
    return path if len(path) <= width else "…" + path[-(width - 1):]


def _height(bars: int, panels: int = 1) -> float:
    return float(min(12.0, max(3.0, 1.3 + 0.3 * bars + 0.5 * panels)))


def _legend(fig: Figure, visible: str = VISIBLE_LABEL, hidden: str = HIDDEN_LABEL) -> None:
    handles = [Patch(color=VISIBLE_COLOR, label=visible), Patch(color=HIDDEN_COLOR, label=hidden)]
    fig.legend(handles=handles, loc="outside lower center", ncols=2, frameon=False)


def _check_analyses(analyses: Mapping[str, Analysis]) -> None:
    if not analyses:
        raise LayerLabError("there is no image to plot", "pass a mapping of names to analyses, e.g. {'multi-RUN': a}")


def _no_bars(ax, text: str) -> None:
    ax.text(0.5, 0.5, text, transform=ax.transAxes, ha="center", va="center", color="0.4")
    ax.set_yticks([])
    _byte_axis(ax)
    ax.set_xlim(0, 1024)


def layer_bars(analyses: Mapping[str, Analysis]) -> Figure:
    """One panel per image, one bar per layer (base at top): its visible bytes, then its reclaimable bytes.

    Each bar is the layer's ``stored_bytes`` from :attr:`Analysis.layers`,
    split into ``visible_bytes`` (:data:`VISIBLE_COLOR`) and
    ``reclaimable_bytes`` (:data:`HIDDEN_COLOR`).  All panels share one byte
    scale, so the images compare at a glance.
    """
    _check_analyses(analyses)
    counts = [len(analysis.layers) for analysis in analyses.values()]
    fig = _Figure(figsize=(_WIDTH, _height(sum(counts), len(counts))), layout="constrained")
    axes = fig.subplots(len(counts), 1, sharex=True, squeeze=False, height_ratios=[n + 1.0 for n in counts])[:, 0]
    for ax, (name, analysis) in zip(axes, analyses.items(), strict=True):
        table = analysis.layers
        rows = np.arange(len(table))
        ax.barh(rows, table["visible_bytes"], color=VISIBLE_COLOR, label="visible")
        ax.barh(rows, table["reclaimable_bytes"], left=table["visible_bytes"], color=HIDDEN_COLOR, label="reclaimable")
        ax.set_yticks(rows, [_layer_label(i, text) for i, text in zip(table.index, table["instruction"], strict=True)])
        ax.set_ylim(len(table) - 0.5, -0.5)  # base at top
        ax.set_ylabel("layer")
        ax.set_title(
            f"{name}: stores {format_bytes(analysis.stored_bytes)}, "
            f"{format_bytes(analysis.reclaimable_bytes)} of it reclaimable",
            loc="left", fontsize="medium",
        )
        _byte_axis(ax)
    axes[-1].set_xlabel(BYTES_LABEL)
    fig.suptitle("What each layer stores: visible vs reclaimable bytes")
    _legend(fig)
    return fig


def stored_vs_visible(analyses: Mapping[str, Analysis]) -> Figure:
    """Per image, the bytes it ships (``stored``) next to the bytes a container sees (``visible``).

    The ``stored`` bar is :attr:`Analysis.stored_bytes` split by source: the
    visible part (:attr:`Analysis.final_bytes`), then one segment per
    (layer storing → layer hiding) pair of :func:`~helpers.breakdown.attribution`,
    biggest first, each annotated ``L1 → hidden by L3: 16.0 MiB``.  The
    ``visible`` bar is :attr:`Analysis.final_bytes`.  Panels share one byte scale.
    """
    _check_analyses(analyses)
    pairs = {name: attribution(analysis) for name, analysis in analyses.items()}
    fig = _Figure(
        figsize=(_WIDTH, _height(sum(max(2, len(p)) for p in pairs.values()), len(analyses))), layout="constrained"
    )
    axes = fig.subplots(
        len(analyses), 1, sharex=True, squeeze=False, height_ratios=[max(2, len(p)) + 1.0 for p in pairs.values()]
    )[:, 0]
    widest = max(analysis.stored_bytes for analysis in analyses.values()) or 1024
    for ax, (name, analysis) in zip(axes, analyses.items(), strict=True):
        table = pairs[name]
        ax.barh([0], [analysis.final_bytes], color=VISIBLE_COLOR, label="stored: visible")
        left = analysis.final_bytes
        notes = []
        for row in table.itertuples(index=False):
            text = f"L{row.layer} → hidden by L{row.hidden_by}: {format_bytes(row.bytes)}"
            ax.barh([0], [row.bytes], left=left, color=HIDDEN_COLOR, edgecolor="white", linewidth=0.8, label=text)
            notes.append((left + row.bytes / 2, text))
            left += row.bytes
        ax.barh([1], [analysis.final_bytes], color=VISIBLE_COLOR, label="visible")
        for k, (center, text) in enumerate(notes):
            # Notes stacked 11 points apart beside the stored bar's end, each with a line to its segment.
            place = offset_copy(ax.transData, fig=fig, x=8, y=-11 * (k - (len(notes) - 1) / 2), units="points")
            ax.annotate(
                text, xy=(center, 0), xytext=(left, 0), textcoords=place, ha="left", va="center", fontsize="small",
                arrowprops={  # from the note's left edge to the segment's centre
                    "arrowstyle": "-", "color": "0.35", "linewidth": 0.7, "shrinkA": 1, "shrinkB": 0,
                    "relpos": (0, 0.5),
                },
            )
        if not notes:
            ax.annotate("nothing reclaimable", xy=(left, 0), xytext=(8, 0), textcoords="offset points",
                        ha="left", va="center", fontsize="small")
        ax.annotate(format_bytes(analysis.final_bytes), xy=(analysis.final_bytes, 1), xytext=(8, 0),
                    textcoords="offset points", ha="left", va="center", fontsize="small")
        ax.set_yticks([0, 1], ["stored", "visible"])
        ax.set_ylim(1.6, -0.6)
        ax.set_ylabel("counted")
        ax.set_title(
            f"{name}: ships {format_bytes(analysis.stored_bytes)}, shows {format_bytes(analysis.final_bytes)}",
            loc="left", fontsize="medium",
        )
        _byte_axis(ax)
        ax.set_xlim(0, widest * 1.6)  # room for the notes
    axes[-1].set_xlabel(BYTES_LABEL)
    fig.suptitle("Stored vs visible: where the reclaimable bytes are, and who hid them")
    _legend(fig)
    return fig


def biggest_paths(analysis: Analysis, layer: int, top: int = 15, depth: int | None = None) -> Figure:
    """The biggest files (or, with ``depth=N``, directories) of ``layer``, biggest at top.

    Each bar is a row of :func:`~helpers.breakdown.top_paths`: its
    ``visible_bytes``, then its ``hidden_bytes``.
    """
    table = top_paths(analysis, layer, top=top, depth=depth)
    fig = _Figure(figsize=(_WIDTH, _height(len(table))), layout="constrained")
    ax = fig.subplots()
    rows = np.arange(len(table))
    what = "files" if depth is None else f"directories (first {depth} path component{'s' * (depth > 1)})"
    if table.empty:
        _no_bars(ax, f"layer {layer} stores no regular files")
    else:
        ax.barh(rows, table["visible_bytes"], color=VISIBLE_COLOR, label="visible")
        ax.barh(rows, table["hidden_bytes"], left=table["visible_bytes"], color=HIDDEN_COLOR, label="hidden")
        ax.set_yticks(rows, [_path_label(path) for path in table["path"]])
        ax.set_ylim(len(table) - 0.5, -0.5)
        _byte_axis(ax)
    ax.set_ylabel(what.split(" (")[0])
    ax.set_xlabel(BYTES_LABEL)
    ax.set_title(f"L{layer} {_title_instruction(analysis, layer)}: biggest {what}", loc="left", fontsize="medium")
    _legend(fig, hidden="hidden by a later layer")
    return fig


def breakdown(analysis: Analysis, layer: int, categorize: Callable[[str], str] = categorize) -> Figure:
    """What ``layer``'s bytes are, by category: still visible, then hidden later.

    Each bar is a row of :func:`~helpers.breakdown.layer_breakdown`; a bar
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
            ax.annotate(note, xy=(entry.bytes, row), xytext=(6, 0), textcoords="offset points",
                        ha="left", va="center", fontsize="small")
        _byte_axis(ax)
        ax.set_xlim(0, table["bytes"].max() * 1.45 or 1024)  # room for the notes
    ax.set_ylabel("category")
    ax.set_xlabel(BYTES_LABEL)
    ax.set_title(f"What L{layer} {_title_instruction(analysis, layer)} stores", loc="left", fontsize="medium")
    _legend(fig, visible="still visible", hidden="hidden by a later layer")
    return fig


def _title_instruction(analysis: Analysis, layer: int, width: int = 60) -> str:
    return shorten(short_digests(str(analysis.layers.at[layer, "instruction"])), width)


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

    The first bar is the first image's ``stored_bytes``; each next bar spans from
    the previous image's ``stored_bytes`` to this one's, in :data:`VISIBLE_COLOR`
    when it saved bytes and :data:`HIDDEN_COLOR` when it added some; the last
    bar is the last image's ``stored_bytes``.
    """
    _check_analyses(steps)
    names, sizes = list(steps), [analysis.stored_bytes for analysis in steps.values()]
    fig = _Figure(figsize=(_WIDTH, _height(len(names) + 1)), layout="constrained")
    ax = fig.subplots()
    ax.barh(0, sizes[0], color="0.6", label="start")
    labels = [f"{names[0]} (start)"]
    for row, (name, before, after) in enumerate(zip(names[1:], sizes, sizes[1:], strict=False), start=1):
        saved = before - after
        ax.barh(row, abs(saved), left=min(before, after), color=VISIBLE_COLOR if saved >= 0 else HIDDEN_COLOR,
                label=name)
        ax.annotate(("saved " if saved >= 0 else "added ") + format_bytes(abs(saved)), (max(before, after), row),
                    xytext=(4, 0), textcoords="offset points", va="center", fontsize="small")
        labels.append(name)
    ax.barh(len(names), sizes[-1], color="0.6", label="end")
    labels.append(f"{names[-1]} (end)")
    ax.set_yticks(np.arange(len(labels)), labels)
    ax.set_ylim(len(labels) - 0.5, -0.5)
    ax.set_xlabel(BYTES_LABEL)
    ax.set_ylabel("step")
    _byte_axis(ax)
    ax.set_xlim(right=max(sizes) * 1.25 or 1024)
    fig.suptitle(f"What each step saved: {format_bytes(sizes[0])} down to {format_bytes(sizes[-1])}")
    handles = [Patch(color=VISIBLE_COLOR, label="bytes saved"), Patch(color=HIDDEN_COLOR, label="bytes added")]
    fig.legend(handles=handles, loc="outside lower center", ncols=2, frameon=False)
    return fig


#: Colours of the directories in :func:`bases` (neither blue nor orange: every byte there is visible).
_DIRECTORY_COLORS = ["#55a868", "#8172b3", "#937860", "#da8bc3", "#8c8c8c", "#ccb974", "#64b5cd"]
_REST_COLOR = "#d9d9d9"
#: The colour of compressed bytes (what a pull moves) in :func:`bases`.
PULLED_COLOR = "#9bb7d4"


def bases(analyses: Mapping[str, Analysis], depth: int = 2, top: int = 6) -> Figure:
    """Base images side by side: how big each is, and what it is made of.

    Left, on one byte scale: each image's :attr:`Analysis.final_bytes` (what a
    container sees) and, lighter, its :attr:`Analysis.compressed_bytes` (what a
    pull moves), annotated with the file count.  Right: each image as 100%, split
    into the ``top`` directories (first ``depth`` path components, from
    :func:`~helpers.breakdown.directory_sizes`) with the largest shares summed
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
    for color, path in zip(_DIRECTORY_COLORS, chosen, strict=False):
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


#: One colour per base in :func:`fleet`; squashed fleets are drawn dashed.
_FLEET_COLORS = ["#55a868", "#c44e52", "#8172b3", "#937860"]


def fleet(growth: pd.DataFrame) -> Figure:
    """How a fleet's cost grows with its services: what the engine stores, and what pulls move.

    ``growth`` is :func:`helpers.fleet.fleet_growth`.  Two panels on one
    (logarithmic) byte scale: ``stored_bytes`` and ``pulled_bytes`` against the
    number of services, one line per fleet, the last value written at its end.
    A fleet whose name contains "squashed" is dashed, in its base's colour (the
    text before the comma).
    """
    if growth.empty:
        raise LayerLabError("there is no fleet to plot", "pass helpers.fleet.fleet_growth(...)")
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
            color = _FLEET_COLORS[families.index(str(name).split(",")[0]) % len(_FLEET_COLORS)]
            style = "--" if "squashed" in str(name) else "-"
            ax.plot(rows["services"], values, style, color=color, marker="o", markersize=3, label=name)
            ends.append((float(values.iloc[-1]), color, int(rows["services"].iloc[-1])))
        places = _spread([float(np.log2(end)) for end, _color, _x in ends], gap=0.22)
        for (end, color, x), place in zip(ends, places, strict=True):
            ax.annotate(format_bytes(end), (x, end), xytext=(x + 0.25, 2 ** place), textcoords="data",
                        va="center", fontsize="small", color=color)
        ax.set_yscale("log", base=2)
        ax.yaxis.set_major_formatter(FuncFormatter(lambda value, _position: format_bytes(value)))
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
