"""Analyse an image: per-file table, per-layer summary, metrics, and who hides what.

Plots and reports only read an :class:`Analysis`; nothing downstream touches
archives again.
"""

from __future__ import annotations

from collections import namedtuple
from functools import cached_property

from ..ground.errors import LayerLabError
from ..ground.history import instruction
from ..ground.model import KINDS, Image, Layer
from . import metrics, overlay_core
from .builder_entries import builder_entries
from .dive_score import DiveScore, dive_figures, dive_leaves
from .merge import MergeResult, Overlay, merge_layers
from .overlay_core import NAMES, compiled_for

TYPE_CHECKING = False  # typing's own flag would import typing, which a report does not need
if TYPE_CHECKING:  # pandas costs half a second to import: only the tables need it, not the CLI's report
    import pandas as pd

#: Columns of :attr:`Analysis.files`, in order.
FILE_COLUMNS = [
    "layer", "instruction", "created_by", "path", "kind", "size", "mode", "uid", "gid", "link",
    "visible", "hidden_by",
]


class LayerFigures(namedtuple("LayerFigures", "layer instruction entries stored_bytes visible_bytes "
                                            "reclaimable_bytes hides_bytes whiteouts")):
    """One filesystem layer's figures.

    * ``stored_bytes``: regular-file bytes in the layer;
    * ``reclaimable_bytes``: of those, the bytes invisible in the final image;
    * ``visible_bytes = stored_bytes - reclaimable_bytes``;
    * ``hides_bytes``: bytes of *lower* layers that this layer makes invisible;
    * ``entries``: tar entries (files, dirs, links, whiteouts…); ``whiteouts``: of those, whiteouts and opaque markers.
    """

    __slots__ = ()
    layer: int
    instruction: str
    entries: int
    stored_bytes: int
    visible_bytes: int
    reclaimable_bytes: int
    hides_bytes: int
    whiteouts: int


class Analysis:
    """Everything measured about one image.  Build it with :func:`analyze`."""

    image: Image
    merged: MergeResult

    def __init__(self, image: Image, merged: MergeResult) -> None:
        self.image = image
        self.merged = merged

    def __repr__(self) -> str:
        return f"Analysis(image={self.image!r})"

    # ---------------------------------------------------------- figures
    @cached_property
    def stored_bytes(self) -> int:
        """See :func:`helpers.measuring.metrics.stored_bytes`."""
        return metrics.stored_bytes(self.image.layers)

    @cached_property
    def final_bytes(self) -> int:
        """See :func:`helpers.measuring.metrics.final_bytes`."""
        return metrics.final_bytes(self.merged)

    @property
    def reclaimable_bytes(self) -> int:
        """See :func:`helpers.measuring.metrics.reclaimable_bytes`."""
        return metrics.reclaimable_bytes(self.stored_bytes, self.final_bytes)

    @property
    def efficiency(self) -> float:
        """See :func:`helpers.measuring.metrics.efficiency`."""
        return metrics.efficiency(self.final_bytes, self.stored_bytes)

    @property
    def compressed_bytes(self) -> int | None:
        """``Σ pull_bytes`` over the layers (see :attr:`helpers.ground.model.Layer.pull_bytes`), or ``None``.

        That is what a registry sends for the whole image: the blobs when they
        are stored compressed (gzip or zstd), else the gzip size measured while
        reading them.  ``None`` when some layer is stored uncompressed and was
        read without measuring it (as the classic Docker store saves them).
        """
        sizes = [layer.pull_bytes for layer in self.image.layers]
        if not sizes or any(size is None for size in sizes):
            return None
        return sum(sizes)  # type: ignore[arg-type]

    @cached_property
    def _dive(self) -> tuple[float, int]:
        return dive_figures(self.image.layers)

    @property
    def dive_efficiency(self) -> float:
        """dive 0.13's efficiency score; see :mod:`helpers.measuring.dive_score`."""
        return self._dive[0]

    @property
    def dive_wasted_bytes(self) -> int:
        """dive 0.13's wasted bytes; see :mod:`helpers.measuring.dive_score`."""
        return self._dive[1]

    # ---------------------------------------------------------- tables
    @cached_property
    def instructions(self) -> list[str]:
        """Each layer's instruction as a learner reads it, base first.

        A layer of a base image the build started ``FROM`` is named by that image
        (``FROM alpine:3.20.3``, or ``FROM python:3.12 (2/5)`` for the 2nd of its 5
        layers), not by its history's ``ADD file:2373b71a… in /``.  A base's layers are
        known by their digests as the reader sees them (the base's ``layers``, else its
        ``rootfs`` diff IDs, which are the same for an uncompressed save): the longest
        base whose layers all begin the image wins.  Every other layer is
        :func:`~helpers.ground.history.instruction` of its ``created_by``.
        """
        digests = [layer.digest for layer in self.image.layers]
        names = [instruction(layer.created_by) for layer in self.image.layers]
        best: tuple[str, int] | None = None
        for base in self.image.bases:
            known = [d for d in (base.get("layers") or base.get("rootfs") or []) if isinstance(d, str)]
            name = base.get("image")
            if (isinstance(name, str) and known and digests[: len(known)] == known
                    and (best is None or len(known) > best[1])):
                best = (name, len(known))
        if best is not None:
            name, count = best
            for index in range(count):
                names[index] = f"FROM {name}" if count == 1 else f"FROM {name} ({index + 1}/{count})"
        return names

    @cached_property
    def files(self) -> pd.DataFrame:
        """One row per tar entry of every layer (see :data:`FILE_COLUMNS`).

        ``visible`` is true when the entry is what the merged filesystem shows at
        its path.  ``hidden_by`` is, for a regular file whose bytes end up
        invisible, the layer that hid them (``<NA>`` otherwise).

        Memory: about 150 bytes a row (measured on a 34,000-entry image), most
        of it the ``path`` string; the text columns that repeat (instruction,
        created_by, kind, link) are categorical and the numbers are 1 to 8
        byte integers.  It is built on first use: the command line's report
        never builds it.
        """
        import pandas as pd

        hidden_by = {h.inode: h.hidden_by for h in self.merged.hidden}
        columns: dict[str, list] = {name: [] for name in FILE_COLUMNS}
        inode = 0
        for layer in self.image.layers:
            step = self.instructions[layer.index]
            last = {entry.path: position for position, entry in enumerate(layer.entries)}
            for position, entry in enumerate(layer.entries):
                columns["layer"].append(layer.index)
                columns["instruction"].append(step)
                columns["created_by"].append(layer.created_by)
                columns["path"].append(entry.path)
                columns["kind"].append(entry.kind)
                columns["size"].append(entry.size)
                columns["mode"].append(entry.mode)
                columns["uid"].append(entry.uid)
                columns["gid"].append(entry.gid)
                columns["link"].append(entry.link)
                shown = self.merged.visible.get(entry.path)
                columns["visible"].append(
                    shown is not None
                    and shown[2] == layer.index
                    and last[entry.path] == position  # a path listed twice in a layer keeps its last copy
                    and entry.kind not in ("whiteout", "opaque")
                )
                if entry.kind == "file":
                    columns["hidden_by"].append(hidden_by.get(inode))
                    inode += 1
                else:
                    columns["hidden_by"].append(None)
        frame = pd.DataFrame(columns)
        return frame.astype({
            "layer": "int32",
            "instruction": "category",
            "created_by": "category",
            "kind": pd.CategoricalDtype(KINDS),
            "link": "category",
            "size": "int64",
            "mode": "int32",
            "uid": "int32",
            "gid": "int32",
            "visible": "bool",
            "hidden_by": "Int32",
        })

    @cached_property
    def builder_entries(self) -> pd.DataFrame:
        """The rows of :attr:`files` that the builder committed by itself, not a step's change.

        BuildKit's folder ``etc`` in each ``RUN`` layer whose ``RUN`` wrote nothing under it (see
        :mod:`helpers.measuring.builder_entries`); empty for an image of the classic or the embedded builder.
        """
        return builder_entries(self.files)

    @cached_property
    def hidden(self) -> pd.DataFrame:
        """One row per regular file whose bytes end up invisible: where they are stored, who hid them, how."""
        import pandas as pd

        rows = [(h.layer, h.hidden_by, h.how, h.path, h.size) for h in self.merged.hidden]
        return pd.DataFrame(rows, columns=["layer", "hidden_by", "how", "path", "size"]).astype(
            {"layer": "int32", "hidden_by": "int32", "size": "int64"}
        )

    @cached_property
    def reclaimable_matrix(self) -> pd.DataFrame:
        """Reclaimable bytes attributed: rows are the layer storing them, columns the layer hiding them."""
        import pandas as pd

        if self.hidden.empty:
            return pd.DataFrame(dtype="int64")
        return self.hidden.pivot_table(index="layer", columns="hidden_by", values="size", aggfunc="sum", fill_value=0)

    @cached_property
    def layer_figures(self) -> list[LayerFigures]:
        """One :class:`LayerFigures` per filesystem layer, base first: computed once, read by every view."""
        lost = [0] * len(self.image.layers)
        hides = [0] * len(self.image.layers)
        for hidden in self.merged.hidden:
            lost[hidden.layer] += hidden.size
            if hidden.hidden_by != hidden.layer:
                hides[hidden.hidden_by] += hidden.size
        figures = []
        for layer in self.image.layers:
            stored = whiteouts = 0
            if compiled_for(layer.entries):  # the loop below, compiled
                stored, markers = overlay_core.CORE.totals(layer.entries, NAMES)  # type: ignore[union-attr]
                whiteouts = len(markers)
            else:
                for entry in layer.entries:  # one pass: this runs once per entry of the image
                    kind = entry.kind
                    if kind == "file":
                        stored += entry.size
                    elif kind == "whiteout" or kind == "opaque":
                        whiteouts += 1
            figures.append(LayerFigures(
                layer=layer.index,
                instruction=self.instructions[layer.index],
                entries=len(layer.entries),
                stored_bytes=stored,
                visible_bytes=stored - lost[layer.index],
                reclaimable_bytes=lost[layer.index],
                hides_bytes=hides[layer.index],
                whiteouts=whiteouts,
            ))
        return figures

    @cached_property
    def layers(self) -> pd.DataFrame:
        """:attr:`layer_figures` as a table, indexed by ``layer`` (see :class:`LayerFigures` for each column)."""
        import pandas as pd

        return pd.DataFrame(self.layer_figures, columns=LayerFigures._fields).set_index("layer")

    def layer_of(self, text: str) -> int:
        """The index of the first layer whose instruction contains ``text`` (a clear error if none does)."""
        for layer in self.image.layers:
            if text in self.instructions[layer.index] or text in instruction(layer.created_by):
                return layer.index
        raise LayerLabError(f"no layer of {self.image.source} was made by an instruction containing {text!r}",
                            "check the instruction's text against analysis.layers")

    # ---------------------------------------------------------- outputs
    def summary(self) -> dict:
        """The image-level figures, as in the CLI's ``--json`` ``image`` object."""
        return {
            "layers": len(self.image.layers),
            "stored_bytes": self.stored_bytes,
            "final_bytes": self.final_bytes,
            "reclaimable_bytes": self.reclaimable_bytes,
            "efficiency": self.efficiency,
            "dive_efficiency": self.dive_efficiency,
            "dive_wasted_bytes": self.dive_wasted_bytes,
        }

    @property
    def layer_bytes(self) -> list[tuple[int, int]]:
        """``(stored_bytes, reclaimable_bytes)`` per layer, from :attr:`layer_figures`."""
        return [(figures.stored_bytes, figures.reclaimable_bytes) for figures in self.layer_figures]

    def to_json(self) -> dict:
        """The CLI's ``report --json`` object (``built_by`` only for an image just built: see :class:`Image`)."""
        per_layer = self.layer_bytes
        return {
            "source": self.image.source,
            "format": self.image.format,
            **({"built_by": self.image.built_by} if self.image.built_by is not None else {}),
            "image": self.summary(),
            "layers": [
                {
                    "index": layer.index,
                    "created_by": layer.created_by,
                    "stored_bytes": per_layer[layer.index][0],
                    "reclaimable_bytes": per_layer[layer.index][1],
                    "entries": len(layer.entries),
                }
                for layer in self.image.layers
            ],
        }


def analyze(image: Image) -> Analysis:
    """Merge the layers of ``image`` and return its :class:`Analysis`."""
    return Analysis(image, merge_layers(image.layers))


class MergeAndScore:
    """Merges and scores each layer as it arrives; dive's per-layer leaves are made on the reading threads."""

    def __init__(self) -> None:
        self.overlay = Overlay()
        self.score = DiveScore()

    @staticmethod
    def prepare(entries: list) -> object:
        return dive_leaves(entries)

    def __call__(self, layer: Layer, prepared: object) -> None:
        self.overlay.apply(layer)
        self.score.add(layer, prepared)  # type: ignore[arg-type]
