"""The compiled fast path for an uncompressed layer in a file, when the install built it.

``pip install`` compiles ``_tar_scan.c`` where a C compiler is found (``setup.py``); without
one the package runs without it, reading every layer with :mod:`helpers.reading.tar_headers`.
The compiled scan reads the common case only (ustar, GNU and V7 headers with octal numbers,
pax records) and *declines* everything else (GNU long names, sparse files, base-256 numbers,
anything malformed or past a ceiling): then the Python reader reads the layer from its start,
as the authority on every error.  What it reads, it reads exactly as the
Python reader does (``tests/reading/test_compiled_scan.py`` holds the two equal).

A build is used only while it matches its source (:mod:`helpers.ground.compiled`);
:data:`STATE` says whether it is in use.
"""

from __future__ import annotations

import os

from ..ground.compiled import load
from ..ground.model import KINDS, Entry

#: The kinds, in the order the compiled scan numbers them.
_KINDS = tuple(KINDS)

_MODULE, STATE = load(__package__, "_tar_scan", os.path.dirname(__file__))
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
