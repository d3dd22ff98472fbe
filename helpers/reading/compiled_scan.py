"""The compiled fast path for an uncompressed layer in a file, when the install built it.

``pip install`` compiles ``_tar_scan.c`` where a C compiler is found (``setup.py``); without
one the package runs without it, reading every layer with :mod:`helpers.reading.tar_headers`.
The compiled scan reads the common case only and *declines* everything else (pax and GNU
records, names to normalise, anything malformed): then the Python reader reads the layer
from its start, as the authority on every error.  What it reads, it reads exactly as the
Python reader does (``tests/reading/test_compiled_scan.py`` holds the two equal).

A build is used only while it matches its source: the module carries the CRC-32 of the
``_tar_scan.c`` it was built from, and one left beside an edited source is stale and unused
(:data:`STATE` says so; the tests fail on it, with the command that rebuilds it).
"""

from __future__ import annotations

import os
import zlib

from ..ground.model import KINDS, Entry

#: The kinds, in the order the compiled scan numbers them.
_KINDS = tuple(KINDS)


def _load() -> tuple[object | None, str]:
    try:
        from . import _tar_scan  # type: ignore[attr-defined]
    except ImportError:
        return None, "not built (no C compiler at install time): layers are read in Python"
    source = os.path.join(os.path.dirname(__file__), "_tar_scan.c")
    try:
        with open(source, "rb") as f:
            crc = zlib.crc32(f.read())
    except OSError:  # installed without its source: nothing to be stale against
        return _tar_scan, "built"
    if crc != _tar_scan.SOURCE_CRC:
        return None, "stale (built from another _tar_scan.c): run `pip install -e .` again to rebuild it"
    return _tar_scan, "built"


_MODULE, STATE = _load()
#: True when the compiled scan is in use.
AVAILABLE = _MODULE is not None


def scan_file_range(fd: int, start: int, length: int, max_entries: int, meta_budget: int, kept: frozenset[str],
                    modes: dict[int, int]) -> tuple[list[Entry], list[tuple[str, int, int]]] | None:
    """The entries of the uncompressed tar at ``start`` (``length`` bytes) of ``fd``, or ``None``.

    ``None`` when the compiled scan is not available, or declines the layer (more than
    ``max_entries`` entries, or more than ``meta_budget`` bytes of
    pax records before one entry, included): read it with the Python reader then.  Otherwise the
    entries, and ``(path, data offset, stored bytes)`` of each regular file whose path is in
    ``kept``, in order, for the caller to read.
    """
    if _MODULE is None:
        return None
    return _MODULE.scan(fd, start, length, max_entries, meta_budget, kept, Entry, _KINDS, modes)  # type: ignore[attr-defined]
