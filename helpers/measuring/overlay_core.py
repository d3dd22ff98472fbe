"""The compiled inner loops of the merge and of dive's score (``_overlay_core.c``), when the install built them.

They are the per-entry loops of :class:`helpers.measuring.merge.Overlay` and of
:mod:`helpers.measuring.dive_score`, on the same dicts, sets and lists, with the same results
(``tests/measuring/test_compiled_core.py``).  Without a build, the Python loops run.
"""

from __future__ import annotations

import os

from ..ground.compiled import load

CORE, STATE = load(__package__, "_overlay_core", os.path.dirname(__file__))

#: The names the compiled loops compare kinds with, and the way the merge hides a shadowed path.
NAMES = ("file", "dir", "hardlink", "whiteout", "opaque", "shadowed")


def compiled_for(entries: object) -> bool:
    """Whether the compiled loops can take ``entries`` (they take lists; the Python loops take any sequence)."""
    return CORE is not None and type(entries) is list
