"""The optional compiled modules: loaded when the install built them and they match their source.

``pip install`` compiles each ``_*.c`` module where a C compiler is found (``setup.py``); without one
the package runs without them, at Python's speed, with the same results.  Each module carries
the CRC-32 of the source it was built from: one left beside an edited source is *stale* and not
used (the tests fail on it, naming the command that rebuilds it).
"""

from __future__ import annotations

import os
import zlib
from importlib import import_module


def load(package: str, name: str, folder: str) -> tuple[object | None, str]:
    """The compiled module ``package.name`` (built from ``folder/name.c``) and ``"built"``, or ``None`` and why not."""
    try:
        module = import_module(f"{package}.{name}")
    except ImportError:
        return None, "not built (no C compiler at install time): it runs in Python"
    try:
        with open(os.path.join(folder, name + ".c"), "rb") as f:
            crc = zlib.crc32(f.read())
    except OSError:  # installed without its source: nothing to be stale against
        return module, "built"
    if crc != getattr(module, "SOURCE_CRC", None):
        return None, f"stale (built from another {name}.c): run `pip install -e .` again to rebuild it"
    return module, "built"
