"""Turn a history entry's ``created_by`` into the Dockerfile instruction a learner wrote."""

from __future__ import annotations

import re

_CLASSIC_NOP = re.compile(r"^/bin/sh -c #\(nop\)\s+")
_CLASSIC_RUN = re.compile(r"^(?:\|\d+(?: \S+=\S*)* )?/bin/sh -c ")
_BUILDKIT_RUN = re.compile(r"^RUN (?:\|\d+(?: \S+=\S*)* )?/bin/sh -c ")
_BUILDKIT_SUFFIX = " # buildkit"


def by_buildkit(created_by: str | None) -> bool:
    """Whether a history entry is BuildKit's: BuildKit ends every ``created_by`` with ``# buildkit``."""
    return bool(created_by) and created_by.strip().endswith(_BUILDKIT_SUFFIX.strip())


def instruction(created_by: str | None) -> str:
    """``/bin/sh -c apk add x`` → ``RUN apk add x``; ``/bin/sh -c #(nop)  CMD …`` → ``CMD …``.

    Handles the classic builder's and BuildKit's spellings; ``None`` → ``(no history)``.
    """
    if not created_by:
        return "(no history)"
    text = created_by.strip()
    if by_buildkit(text):
        text = text[: -len(_BUILDKIT_SUFFIX.strip())].rstrip()
    if _CLASSIC_NOP.match(text):
        return _CLASSIC_NOP.sub("", text)
    if _CLASSIC_RUN.match(text):
        return "RUN " + _CLASSIC_RUN.sub("", text)
    if _BUILDKIT_RUN.match(text):
        return "RUN " + _BUILDKIT_RUN.sub("", text)
    return text
