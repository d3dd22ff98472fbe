"""Errors that the helpers raise on bad input, each with a cause and a fix.

Library code never prints and exits: it raises one of these.  The CLI turns
them into a single ``error: …`` line with exit status 2, and
:func:`helpers.setup` makes a notebook show them as one readable line instead
of a traceback.
"""

from __future__ import annotations


class LayerLabError(Exception):
    """Base class: a message that names the cause, and a hint that names the fix."""

    def __init__(self, message: str, hint: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint

    def __str__(self) -> str:
        return f"{self.message} ({self.hint})" if self.hint else self.message


class SourceNotFound(LayerLabError):
    """The source is neither a file, a directory, nor an image in the engine."""


class ArchiveError(LayerLabError):
    """An archive or OCI layout is malformed, truncated or inconsistent."""


class DigestMismatch(ArchiveError):
    """A blob's content does not hash to the digest that names it."""


class PlatformNotFound(ArchiveError):
    """An index holds no manifest for the requested platform."""


class EngineUnavailable(LayerLabError):
    """No Docker Engine answered."""


class BaseImageMissing(LayerLabError):
    """A FROM image is not in the engine and offline mode forbids pulling it."""


class BuildFailed(LayerLabError):
    """An instruction of a Dockerfile failed while building."""

    def __init__(
        self,
        message: str,
        hint: str | None = None,
        log_tail: list[str] | None = None,
        *,
        step: int | None = None,
        instruction: str | None = None,
        reason: str | None = None,
    ) -> None:
        super().__init__(message, hint)
        self.log_tail = log_tail or []
        #: the failing ``Step k`` (1-based), its instruction, and the engine's own words
        self.step = step
        self.instruction = instruction
        self.reason = reason

    def __str__(self) -> str:
        text = super().__str__()
        if self.log_tail:
            text += "\n  last lines of its log:\n" + "\n".join(f"    {line}" for line in self.log_tail)
        return text


class DockerfileError(LayerLabError):
    """A Dockerfile cannot be read or parsed."""
