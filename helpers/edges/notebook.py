"""What the notebooks share: one setup call, side-by-side tables, and builds that say when they were replayed."""

from __future__ import annotations

import os
from collections.abc import Mapping

import pandas as pd

from ..ground.apk_plan import ApkResolution
from ..ground.errors import BuildFailed, LayerLabError
from ..ground.settings import BUILDER_LABELS, Settings
from ..ground.sizes import format_bytes, format_ratio
from ..ground.steps import Progress
from ..measuring.analysis import Analysis
from ..orchestration import lab as orchestration_lab
from ..orchestration.apk import resolve as resolve_apk
from ..orchestration.builds import require_built
from ..orchestration.lab import needs_for
from ..reading.daemon import docker_client
from ..views.plots import STYLE
from ..views.report import short_digests, shorten
from .progress import print_progress


def _show_layerlab_error(shell, etype, value, tb, tb_offset=None):  # IPython's custom-exception signature
    """Report a LayerLabError as a one-line error: the cell still fails (Run All stops, nbval sees it)."""
    shell._showtraceback(etype, value, f"{etype.__name__}: {value}".splitlines())
    return None


#: Columns of byte counts that are not named ``bytes``, ``size`` or ``…_bytes``
#: (:func:`helpers.views.tables.layer_breakdown`'s).
_BYTE_COLUMNS = {"still_visible", "hidden_later"}


def is_byte_column(name: object) -> bool:
    """Whether a table's column holds byte counts: ``bytes``, ``size``, ``…_bytes``, or a known other name."""
    return isinstance(name, str) and (name in ("bytes", "size") or name.endswith("_bytes") or name in _BYTE_COLUMNS)


def readable(table: pd.DataFrame) -> pd.DataFrame:
    """``table`` as a learner reads it: every integer column of byte counts (:func:`is_byte_column`) in
    :func:`format_bytes`, a missing value left blank.  The numbers themselves are left alone: this
    is a copy, for display (``helpers.setup()`` shows every table so).
    """
    columns = [name for name in table.columns
               if is_byte_column(name) and pd.api.types.is_integer_dtype(table[name].dtype)]
    if not columns:
        return table
    return table.assign(**{name: table[name].map(lambda n: "" if pd.isna(n) else format_bytes(n))
                           for name in columns})


def _plain(table: pd.DataFrame, printer, cycle: bool) -> None:  # IPython's pretty-printer signature
    printer.text(repr(readable(table)))


def _html(table: pd.DataFrame) -> str | None:
    return readable(table)._repr_html_()


def setup() -> None:
    """Plot style, pandas display options, sizes people read, and readable errors instead of tracebacks.

    After this, a table shows its byte counts as sizes (``406697991`` as ``387.9 MiB``: see
    :func:`readable`); the table itself still holds the exact integers, for sums and
    comparisons.  A :class:`~helpers.ground.errors.LayerLabError` raised in a cell shows
    as one line naming the cause and the fix.
    """
    import matplotlib

    matplotlib.rcParams.update(STYLE)
    pd.set_option("display.width", 160)
    pd.set_option("display.max_colwidth", None)  # instructions, hints and lint messages are read whole
    pd.set_option("display.max_rows", 60)
    try:
        from IPython import get_ipython
    except ImportError:  # pragma: no cover - IPython ships with the notebooks' requirements
        return
    shell = get_ipython()
    if shell is not None:
        shell.set_custom_exc((LayerLabError,), _show_layerlab_error)
        formatters = shell.display_formatter.formatters
        formatters["text/plain"].for_type(pd.DataFrame, _plain)
        formatters["text/html"].for_type(pd.DataFrame, _html)


def _instruction(text: str, width: int | None) -> str:
    text = " ".join(short_digests(str(text)).split())  # a continued RUN's line breaks read as one space
    return text if width is None else shorten(text, width)


def layer_table(analysis: Analysis, width: int | None = None) -> pd.DataFrame:
    """A layer table for people: the whole instruction (or cut at ``width``), then stored and reclaimable sizes."""
    table = analysis.layers
    return pd.DataFrame({
        "instruction": [_instruction(text, width) for text in table.instruction],
        "stored": [format_bytes(n) for n in table.stored_bytes],
        "reclaimable": [format_bytes(n) for n in table.reclaimable_bytes],
    }, index=table.index)


def side_by_side(analyses: Mapping[str, Analysis], width: int | None = None) -> pd.DataFrame:
    """Layer tables of several images next to each other, one column group per image."""
    tables = {name: layer_table(analysis, width) for name, analysis in analyses.items()}
    combined = pd.concat(tables, axis=1).fillna("")
    combined.index.name = "layer"
    return combined


def headline(analyses: Mapping[str, Analysis]) -> pd.DataFrame:
    """The image-level figures of several images, one column per image, in sizes people read.

    ``stored``, ``visible`` and ``reclaimable`` are :func:`format_bytes` of
    ``stored_bytes``, ``final_bytes`` and ``reclaimable_bytes``; ``efficiency``
    is ``final_bytes / stored_bytes`` as :func:`format_ratio`.  The exact
    integers are :meth:`Analysis.summary` (and the report's ``--json``).
    """
    rows = {
        "layers": lambda a: f"{len(a.image.layers):,}",
        "stored": lambda a: format_bytes(a.stored_bytes),
        "visible": lambda a: format_bytes(a.final_bytes),
        "reclaimable": lambda a: format_bytes(a.reclaimable_bytes),
        "efficiency": lambda a: format_ratio(a.efficiency),
    }
    return pd.DataFrame({name: [show(analysis) for show in rows.values()] for name, analysis in analyses.items()},
                        index=list(rows))


def ours_and_dives(analyses: Mapping[str, Analysis]) -> pd.DataFrame:
    """Our efficiency and reclaimable bytes next to dive's efficiency score and wasted bytes, one row per image.

    Ratios as :func:`format_ratio`, bytes as :func:`format_bytes` (see
    :mod:`helpers.measuring.dive_score` for dive's rules).
    """
    return pd.DataFrame({
        "efficiency": [format_ratio(a.efficiency) for a in analyses.values()],
        "dive_efficiency": [format_ratio(a.dive_efficiency) for a in analyses.values()],
        "reclaimable": [format_bytes(a.reclaimable_bytes) for a in analyses.values()],
        "dive_wasted": [format_bytes(a.dive_wasted_bytes) for a in analyses.values()],
    }, index=list(analyses))


def show_dockerfiles(dockerfiles: Mapping[str, str]):
    """Dockerfiles next to each other, each under its name (an HTML display object)."""
    from html import escape

    from IPython.display import HTML

    wrap_at_spaces = "white-space:pre-wrap;word-break:normal;overflow-wrap:normal"  # never inside a word
    columns = "".join(
        f"<div style='flex:1;min-width:18em'><b>{escape(name)}</b>"
        f"<pre style='{wrap_at_spaces}'>{escape(text)}</pre></div>"
        for name, text in dockerfiles.items()
    )
    return HTML(f"<div style='display:flex;gap:1.5em'>{columns}</div>")


def _layer_list(layers: list[int]) -> str:
    names = [f"L{number}" for number in layers]
    return names[0] if len(names) == 1 else ", ".join(names[:-1]) + " and " + names[-1]


def builder_note(analysis: Analysis):
    """What built ``analysis``'s image, and what that builder committed by itself (a Markdown display object).

    The entries named are :attr:`Analysis.builder_entries`: BuildKit's folder ``etc`` in its ``RUN``
    layers; the classic and the embedded builders commit only what a step changed.
    """
    from IPython.display import Markdown

    built_by = analysis.image.built_by
    own = analysis.builder_entries
    if len(own):
        layers = sorted({int(layer) for layer in own.layer})
        return Markdown(
            f"**BuildKit** built this image (it is what `docker build` runs on a current Docker). Besides what "
            f"each `RUN` changed, it committed the folder `/etc` in {_layer_list(layers)}: BuildKit makes the "
            f"mount points of `/etc/hosts` and `/etc/resolv.conf` there for every `RUN`, and records the folder "
            f"even when the `RUN` changed nothing in it (so such a `RUN` commits a layer, where the classic "
            f"builder commits none). A folder stores no bytes, so no stored size changes; the classic builder "
            f"and the embedded builder commit only what each step changed."
        )
    if built_by is None:
        return Markdown("This image was read, not built here. None of its layers holds what BuildKit commits by "
                        "itself: the folder `/etc` of a `RUN` that changed nothing in it.")
    label = BUILDER_LABELS.get(built_by, built_by)
    buildkit = ("" if built_by == "docker+buildkit" else
                " BuildKit, what `docker build` runs on a current Docker, also commits the folder `/etc` in "
                "every `RUN` layer (where it makes the mount points of `/etc/hosts` and `/etc/resolv.conf`), "
                "even when the `RUN` changed nothing in it. A folder stores no bytes, so no stored size would change.")
    return Markdown(f"{label[0].upper()}{label[1:]} built this image: each layer holds only what its step "
                    f"changed.{buildkit}")


def familiar_sizes(analysis: Analysis) -> pd.DataFrame:
    """Per layer, our figure next to the ones other tools show: what a pull moves, and ``docker history``'s SIZE.

    * ``stored``: :attr:`Analysis.layers` ``stored_bytes``, regular-file bytes (hard links once);
    * ``pull``: :attr:`helpers.ground.model.Layer.pull_bytes`, the compressed blob a registry sends
      (``—`` when it was not measured);
    * ``docker history``: the SIZE the Docker Engine reports for the step that made the layer,
      which counts what its storage driver holds for the layer, written as ``docker history``
      writes it (:func:`docker_units`; ``—`` when the image is not in a Docker Engine, as with
      the embedded builder).
    """
    history = _docker_history_sizes(analysis)
    table = analysis.layers
    rows = []
    for layer in analysis.image.layers:
        pulled = layer.pull_bytes
        size = history.get(layer.step) if layer.step is not None else None
        rows.append({
            "instruction": _instruction(table.at[layer.index, "instruction"], 48),
            "stored": format_bytes(int(table.at[layer.index, "stored_bytes"])),
            "pull": "—" if pulled is None else format_bytes(pulled),
            "docker history": "—" if size is None else docker_units(size),
        })
    frame = pd.DataFrame(rows, index=table.index)
    frame.index.name = "layer"
    return frame


def _docker_history_sizes(analysis: Analysis) -> dict[int, int]:
    """History position → ``docker history`` SIZE, for an image the Docker Engine holds; else empty."""
    if not str(analysis.image.format).startswith("docker-engine/"):
        return {}
    try:
        steps = docker_client().api.history(str(analysis.image.source))
    except (LayerLabError, OSError):  # the engine went, or forgot the image (the SDK's errors are OSErrors): "—"
        return {}
    return {position: int(step.get("Size") or 0) for position, step in enumerate(reversed(steps))}


def docker_units(count: int) -> str:
    """A size as the docker CLI writes it: decimal units, three significant digits (``7792915`` → ``7.79MB``)."""
    value = float(count)
    for unit in ("B", "kB", "MB", "GB", "TB"):
        if value < 1000 or unit == "TB":
            return f"{value:.3g}{unit}"
        value /= 1000
    raise AssertionError("unreachable")


class Lab(orchestration_lab.Lab):
    """A notebook's :class:`helpers.orchestration.lab.Lab`: its settings read from the environment, once, when it is
    made (unless passed), and each build step printed as it lands."""

    def __init__(self, recording: str | os.PathLike, *, settings: Settings | None = None, **needs) -> None:
        super().__init__(recording, settings=settings or Settings.from_environment(), **needs)

    def attempt(self, variants, context=None, *, progress: Progress | None = None, **options):
        return super().attempt(variants, context, progress=progress or print_progress(), **options)

    def apk(self, image: str, commands) -> ApkResolution:
        """What Alpine's own apk says ``commands`` do on ``image`` (see :mod:`helpers.orchestration.apk`)."""
        return resolve_apk(self, image, commands)


def attempt_or_replay(
    variants: Mapping[str, str | os.PathLike],
    recording: str | os.PathLike,
    context: str | os.PathLike | None = None,
    *,
    needs_internet: bool = True,
    progress: Progress | None = None,
) -> dict[str, Analysis | BuildFailed]:
    """Each variant's outcome: built live where possible, else replayed from ``recording`` (and it says so).

    A :class:`Lab` for one set of builds; with ``LAYERLAB_RECORD=1`` a live run
    (re)writes ``recording``.
    """
    lab = Lab(recording, needs=needs_for(needs_internet))
    outcomes = lab.attempt(variants, context, progress=progress)
    note = lab.note()
    if note is not None:
        print(note)
    return outcomes


def build_or_replay(
    variants: Mapping[str, str | os.PathLike],
    recording: str | os.PathLike,
    context: str | os.PathLike | None = None,
    *,
    needs_internet: bool = True,
    progress: Progress | None = None,
) -> dict[str, Analysis]:
    """Like :func:`attempt_or_replay`, for variants that must all build: a failure raises it."""
    return require_built(attempt_or_replay(variants, recording, context, needs_internet=needs_internet,
                                           progress=progress))
