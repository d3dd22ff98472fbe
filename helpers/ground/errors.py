"""Errors that the helpers raise on bad input, each with a cause and a fix.

Library code never prints and exits: it raises one of these.  The CLI turns
them into a single ``error: …`` line with exit status 2, and
:func:`helpers.setup` makes a notebook show them as one readable line instead
of a traceback.
"""

from __future__ import annotations

#: The longest message and hint shown: what they quote (a name, a line) is cut in the middle past this.
MAX_MESSAGE_CHARACTERS = 1_000


def shortened(text: str, width: int = MAX_MESSAGE_CHARACTERS) -> str:
    """``text`` cut in the middle to ``width`` characters, with ``…`` where it was cut."""
    if len(text) <= width:
        return text
    keep = width - 1
    return text[: keep - keep // 3] + "…" + text[len(text) - keep // 3:]


class LayerLabError(Exception):
    """Base class: a message that names the cause, and a hint that names the fix (each at most 1,000 characters:
    a million-character image name quoted in one is cut, not echoed)."""

    def __init__(self, message: str, hint: str | None = None) -> None:
        super().__init__(shortened(message))
        self.message = message
        self.hint = hint

    @property
    def message(self) -> str:
        return self._message

    @message.setter
    def message(self, value: str) -> None:
        self._message = shortened(str(value))

    @property
    def hint(self) -> str | None:
        return self._hint

    @hint.setter
    def hint(self, value: str | None) -> None:
        self._hint = None if value is None else shortened(str(value))

    def __str__(self) -> str:
        return f"{self.message} ({self.hint})" if self.hint else self.message


class SourceNotFound(LayerLabError):
    """The source is neither a file, a directory, nor an image in the engine."""


class ArchiveError(LayerLabError):
    """An archive or OCI layout is malformed, truncated or inconsistent."""


class MalformedTar(ArchiveError):
    """A tar's own structure is wrong: a header, a metadata record, a size (not the stream under it)."""


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
