"""What a builder commits by itself: entries of a layer that its step did not change.

BuildKit (0.8 in Engine 20.10 and the one in Engine 28.5 alike, measured) commits the folder
``etc`` in every ``RUN`` layer: it makes the mount points of ``/etc/hosts`` and
``/etc/resolv.conf`` there for the ``RUN``, and the folder's change is recorded even when the
``RUN`` changed nothing in it (``RUN true`` commits a layer holding ``etc`` alone).  The
classic builder and the embedded builder commit only what a step changed.
"""

from __future__ import annotations

from ..ground.history import by_buildkit, instruction

TYPE_CHECKING = False  # typing's own flag would import typing, which a report does not need
if TYPE_CHECKING:
    import pandas as pd

#: The folder BuildKit commits in every ``RUN`` layer.
BUILDKIT_RUN_FOLDER = "etc"


def builder_entries(files: pd.DataFrame) -> pd.DataFrame:
    """The rows of ``files`` (an :attr:`~helpers.measuring.analysis.Analysis.files` table) its builder added by itself.

    A row is BuildKit's own when its layer's history entry is a BuildKit ``RUN``
    (``created_by`` ends ``# buildkit``), it is the folder ``etc``, and its layer holds
    nothing under ``etc/``: a ``RUN`` that wrote into ``/etc`` changed the folder itself,
    as it would with any builder.
    """
    steps = files[["layer", "created_by"]].drop_duplicates("layer")  # one row a layer: its history entry
    runs = [int(layer) for layer, text in zip(steps.layer, steps.created_by, strict=True)
            if isinstance(text, str) and by_buildkit(text) and instruction(text).startswith("RUN ")]
    under = files.loc[files.layer.isin(runs) & files.path.str.startswith(BUILDKIT_RUN_FOLDER + "/"), "layer"]
    own = (files.layer.isin(runs) & ~files.layer.isin(set(under)) & (files.path == BUILDKIT_RUN_FOLDER)
           & (files.kind == "dir"))
    return files[own]
