"""apk's ``X:value`` paragraphs, as its indexes and its ``installed`` database write them.

A module of its own: a report reads a layer's apk database with it, and must not load what reads
apk's printed output (:mod:`helpers.reading.apk_output`, whose plan types cost a report a third of
the interpreter's start-up to import).
"""

from __future__ import annotations

import io
import itertools
from collections.abc import Iterator


def paragraphs(text: str) -> Iterator[dict[str, str]]:
    """The ``X:value`` paragraphs of an apk index or database, one dict each (the first value of each key kept)."""
    fields: dict[str, str] = {}
    for line in itertools.chain(io.StringIO(text), [""]):  # line by line: never a list of every line
        line = line.rstrip("\r\n")
        if line.strip():
            key, _, value = line.partition(":")
            if len(key) == 1 and key not in fields:
                fields[key] = value.strip()
            continue
        if fields:
            yield fields
        fields = {}
