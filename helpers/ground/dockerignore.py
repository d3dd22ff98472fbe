"""A build context's ``.dockerignore``, read and matched with Docker's own meaning, in bounded time.

Read as Docker's ``ignorefile.ReadAll`` reads it: a byte-order mark dropped,
``#`` lines skipped, each line trimmed, ``!`` for an exception, the pattern
cleaned (``filepath.Clean``) and a leading ``/`` dropped.  It is opened first
and checked on its descriptor: only a regular file of at most
:data:`MAX_DOCKERIGNORE_BYTES` is read, so a FIFO, a link to an endless
device or a huge file costs nothing.  A link is refused: the context is a sandbox, and a
link may point anywhere.

Matched as moby's ``patternmatcher`` matches: each pattern becomes the regular
expression Docker makes of it (``*`` one name's worth, ``?`` one character,
``**`` any number of folders), a path is excluded when the last pattern that
matches it *or one of its parent folders* is not an exception.  Docker runs
those expressions on Go's ``regexp``, which never backtracks; Python's ``re``
does, and ``**/**/**/…`` against a deep path took over a minute.  So they run
on RE2 (``google-re2``), the engine Go's is modelled on: linear in the path,
whatever the pattern.
"""

from __future__ import annotations

import os
import posixpath
from dataclasses import dataclass

from .errors import DockerfileError
from .small_files import SmallFileRefused, read_small_file

NAME = ".dockerignore"
#: The most bytes a ``.dockerignore`` may hold (Docker has no ceiling; real ones are a few hundred bytes).
MAX_DOCKERIGNORE_BYTES = 1 << 20
#: The longest line Docker reads (Go's ``bufio.Scanner``): a longer one is an error there too.
MAX_LINE = 64 * 1024
_ESCAPED = frozenset(".+()|{}$")


class DockerignoreError(DockerfileError):
    """A ``.dockerignore`` that cannot be read, or holds a pattern Docker refuses."""


def _clean(pattern: str) -> str:
    """Go's ``filepath.Clean`` (``posixpath.normpath`` keeps a leading ``//``; Go does not)."""
    cleaned = posixpath.normpath(pattern) if pattern else "."
    return "/" + cleaned.lstrip("/") if cleaned.startswith("//") else cleaned


def parse_lines(text: str) -> tuple[str, ...]:
    """The patterns of a ``.dockerignore``'s text, each as Docker keeps it (exceptions with their ``!``)."""
    patterns = []
    for number, line in enumerate(text.split("\n"), start=1):
        line = line.removesuffix("\r")
        if len(line.encode("utf-8", "surrogateescape")) > MAX_LINE:
            raise DockerignoreError(f"{NAME} line {number} is over {MAX_LINE:,} bytes, longer than Docker reads",
                                    "shorten it")
        if number == 1:
            line = line.removeprefix("\ufeff")
        if line.startswith("#"):
            continue
        line = line.strip()
        if not line:
            continue
        invert = line.startswith("!")
        if invert:
            line = line[1:].strip()
        if line:
            line = _clean(line)
            if len(line) > 1 and line.startswith("/"):
                line = line[1:]
        patterns.append("!" + line if invert else line)
    return tuple(patterns)


def read_dockerignore(context: str | os.PathLike) -> tuple[str, ...] | None:
    """The patterns of ``context``'s ``.dockerignore``; ``None`` when it has none.  Bounded, never blocking."""
    text = read_dockerignore_text(context)
    return None if text is None else parse_lines(text)


def read_dockerignore_text(context: str | os.PathLike) -> str | None:
    """The text of ``context``'s ``.dockerignore`` (bytes that are not UTF-8 kept as surrogates); ``None`` if none."""
    try:
        folder = os.open(context, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    except OSError as exc:
        raise DockerignoreError(f"the build context {context} cannot be opened: {exc.strerror}",
                                "pass an existing folder") from exc
    try:
        data = read_small_file(NAME, MAX_DOCKERIGNORE_BYTES, dir_fd=folder, follow=False)
    except SmallFileRefused as refused:
        raise DockerignoreError(f"{NAME} in {context} {refused.why}", f"make {NAME} a small regular file") from None
    finally:
        os.close(folder)
    if data is None:
        return None
    return data.decode("utf-8", "surrogateescape")


def _check_syntax(pattern: str) -> None:
    """Raise ``ValueError`` where Go's ``filepath.Match`` calls ``pattern`` malformed (``ErrBadPattern``)."""
    i, n = 0, len(pattern)

    def escaped(i: int) -> int:  # Go's getEsc: one class character, the index after it
        if i >= n or pattern[i] in "-]":
            raise ValueError
        if pattern[i] == "\\":
            i += 1
            if i >= n:
                raise ValueError
        i += 1
        if i >= n:
            raise ValueError
        return i

    while i < n:
        char = pattern[i]
        if char == "\\":
            if i + 1 >= n:
                raise ValueError
            i += 2
        elif char == "[":
            i += 1
            if i < n and pattern[i] == "^":
                i += 1
            ranges = 0
            while True:
                if i < n and pattern[i] == "]" and ranges > 0:
                    i += 1
                    break
                i = escaped(i)
                if pattern[i] == "-":
                    i = escaped(i + 1)
                ranges += 1
        else:
            i += 1


@dataclass(frozen=True)
class _Pattern:
    text: str
    exclusion: bool
    kind: str  # "exact", "prefix", "suffix" or "regexp", as patternmatcher names them
    regexp: object | None

    def match(self, path: str) -> bool:
        if self.kind == "exact":
            return path == self.text
        if self.kind == "prefix":
            return path.startswith(self.text[:-2])
        if self.kind == "suffix":
            suffix = self.text[2:]
            return path.endswith(suffix) or (suffix.startswith("/") and path == suffix[1:])
        try:
            return self.regexp.search(path) is not None  # type: ignore[attr-defined]
        except UnicodeEncodeError:  # a name that is not UTF-8: Go reads each bad byte as U+FFFD
            text = path.encode("utf-8", "surrogateescape").decode("utf-8", "replace")
            return self.regexp.search(text) is not None  # type: ignore[attr-defined]


def _compile(text: str, exclusion: bool) -> _Pattern:
    """One pattern as patternmatcher's ``compile`` makes it: a match kind, and an RE2 expression when needed."""
    import re2  # on first use: only a context with a .dockerignore needs it

    regexp, kind, i, n = "^", "exact", 0, len(text)
    iteration = 0
    while i < n:
        char = text[i]
        i += 1
        if char == "*":
            if i < n and text[i] == "*":  # some flavour of **
                i += 1
                if i < n and text[i] == "/":  # **/ is read as **
                    i += 1
                if i >= n:  # ** at the end accepts everything below, as in .gitignore
                    if kind == "exact":
                        kind = "prefix"
                    else:
                        regexp += ".*"
                        kind = "regexp"
                else:
                    regexp += "(.*/)?"
                    kind = "regexp"
                if iteration == 0:
                    kind = "suffix"
            else:
                regexp += "[^/]*"
                kind = "regexp"
        elif char == "?":
            regexp += "[^/]"
            kind = "regexp"
        elif char in _ESCAPED:
            regexp += "\\" + char
        elif char == "\\":
            if i < n:
                regexp += "\\" + text[i]
                i += 1
                kind = "regexp"
            else:
                regexp += "\\"
        elif char in "[]":
            regexp += char
            kind = "regexp"
        else:
            regexp += char
        iteration += 1
    compiled = None
    if kind == "regexp":
        try:
            compiled = re2.compile(regexp + "$")
        except re2.error as exc:
            raise ValueError(str(exc)) from exc
    return _Pattern(text, exclusion, kind, compiled)


class Dockerignore:
    """A ``.dockerignore``'s patterns, compiled once; :meth:`excluded` says whether a context path is left out.

    For a walk, :meth:`state` carries each pattern's verdict from a folder to
    what it holds, so a path costs one match per pattern, however deep it is.
    """

    def __init__(self, patterns: tuple[str, ...] | list[str]) -> None:
        compiled = []
        for raw in patterns:
            text = raw.strip()
            if not text:
                continue
            text = _clean(text)
            exclusion = text.startswith("!")
            if exclusion:
                if len(text) == 1:
                    raise DockerignoreError(f'{NAME}: "!" alone is not a pattern', "write !PATTERN, or remove it")
                text = text[1:]
            try:
                _check_syntax(text)
                compiled.append(_compile(text, exclusion))
            except ValueError:
                raise DockerignoreError(f"{NAME}: {text[:80]!r} is not a valid pattern (syntax error in pattern)",
                                        "fix the pattern: `[` opens a class that `]` must close") from None
        self.patterns = tuple(compiled)
        self.exceptions = any(p.exclusion for p in self.patterns)

    def state(self, path: str, parent: tuple[bool, ...] | None = None) -> tuple[bool, ...]:
        """For each pattern, whether it matches ``path`` or one of its folders (``parent``: the folder's state)."""
        if parent is None:
            parent = (False,) * len(self.patterns)
            folders = path.split("/")[:-1]
            for depth in range(len(folders)):
                parent = self.state("/".join(folders[: depth + 1]), parent)
        return tuple(above or pattern.match(path) for above, pattern in zip(parent, self.patterns, strict=True))

    def verdict(self, state: tuple[bool, ...]) -> bool:
        """Whether a path whose :meth:`state` is ``state`` is excluded: the last pattern that matches decides."""
        for matched, pattern in zip(reversed(state), reversed(self.patterns), strict=True):
            if matched:
                return not pattern.exclusion
        return False

    def excluded(self, path: str) -> bool:
        """Whether the context path ``path`` (relative, ``/``-separated) is left out of the context."""
        path = _clean(path)
        return path != "." and self.verdict(self.state(path))

    def must_descend(self, folder: str) -> bool:
        """Whether an excluded ``folder`` must still be walked: an exception names something below it.

        Docker skips an excluded folder unless an exception pattern's text starts
        with the folder's path, and so does this (``!**/keep`` does not reach into it).
        """
        prefix = folder + "/"
        return any(p.exclusion and (p.text + "/").startswith(prefix) for p in self.patterns)
