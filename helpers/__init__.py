"""Measure every layer of a container image: what each stores, what stays visible, and what is wasted.

Start with :func:`read_image` (an archive, an OCI layout, or an image in the
engine) and :func:`analyze`; build Dockerfiles side by side with
:func:`build_variants`.  ``python -m helpers --help`` is the command line.
"""

from .ground.errors import LayerLabError
from .ground.sizes import format_bytes
from .measuring.analysis import Analysis, analyze
from .orchestration.sources import read_image, save_stream

#: Names imported on first use: they need pandas, which the command line's report does not.
_NOTEBOOK_NAMES = {"familiar_sizes", "headline", "layer_table", "ours_and_dives", "setup", "show_dockerfiles",
                   "side_by_side"}
_EXPLORER_NAMES = {"explore"}

__all__ = [
    "Analysis",
    "LayerLabError",
    "analyze",
    "build",
    "build_variants",
    "explore",
    "familiar_sizes",
    "format_bytes",
    "headline",
    "layer_table",
    "ours_and_dives",
    "read_image",
    "save_stream",
    "setup",
    "show_dockerfiles",
    "side_by_side",
]


def build(*args, **kwargs):
    """Build one Dockerfile with the engine; see :func:`helpers.building.engine.build`."""
    from .building.engine import build as _build

    return _build(*args, **kwargs)


def build_variants(*args, **kwargs):
    """Build several Dockerfiles side by side; see :func:`helpers.building.engine.build_variants`."""
    from .building.engine import build_variants as _build_variants

    return _build_variants(*args, **kwargs)


def __getattr__(name: str):
    if name in _NOTEBOOK_NAMES:
        from .edges import notebook

        return getattr(notebook, name)
    if name in _EXPLORER_NAMES:
        from .views import explorer

        return getattr(explorer, name)
    raise AttributeError(f"module 'helpers' has no attribute {name!r}")
