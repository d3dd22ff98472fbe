"""Measure every layer of a container image: what each stores, what stays visible, and what is wasted.

Start with :func:`read_image` (an archive, an OCI layout, or an image in the
engine) and :func:`analyze`; build Dockerfiles side by side with
:func:`build_variants`.  ``python -m helpers --help`` is the command line.
"""

from .analysis import Analysis, analyze
from .errors import LayerLabError
from .notebook import headline, layer_table, setup, show_dockerfiles, side_by_side
from .sizes import format_bytes
from .sources import read_image, save_stream

__all__ = [
    "Analysis",
    "LayerLabError",
    "analyze",
    "build",
    "build_variants",
    "format_bytes",
    "headline",
    "layer_table",
    "read_image",
    "save_stream",
    "setup",
    "show_dockerfiles",
    "side_by_side",
]


def build(*args, **kwargs):
    """Build one Dockerfile with the engine; see :func:`helpers.engine.build`."""
    from .engine import build as _build

    return _build(*args, **kwargs)


def build_variants(*args, **kwargs):
    """Build several Dockerfiles side by side; see :func:`helpers.engine.build_variants`."""
    from .engine import build_variants as _build_variants

    return _build_variants(*args, **kwargs)
