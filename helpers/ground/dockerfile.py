"""A Dockerfile, read and parsed once: its text (UTF-8, checked), its instructions, and the images it builds on.

Both builders take a :class:`Dockerfile`; nothing else parses one.  The parser
is dockerfile-parse's; what it accepts but Docker would not (a ``FROM`` with an
unset ``$ARG``, no ``FROM`` at all) is a :class:`DockerfileError` here.
"""

from __future__ import annotations

import codecs
import io
import json
import os
import re
from dataclasses import dataclass
from pathlib import Path

from dockerfile_parse import DockerfileParser

from .errors import DockerfileError


@dataclass(frozen=True)
class Dockerfile:
    """A parsed Dockerfile.

    ``instructions``: dockerfile-parse's structure, comments left out (each a
    dict with ``instruction``, ``value``, ``startline``, ``content``);
    ``bases``: the images its ``FROM`` lines bring in, in order (stage names
    and ``scratch`` left out); ``path``: where it was read from, if from a file.
    """

    text: str
    instructions: tuple[dict, ...]
    bases: tuple[str, ...]
    path: Path | None = None


def parse_dockerfile(dockerfile: str | bytes | os.PathLike) -> Dockerfile:
    """Read (see :func:`dockerfile_text`) and parse a Dockerfile: a path, its text, or its bytes."""
    text, path = dockerfile_text(dockerfile)
    return parse_dockerfile_text(text, path)


def parse_dockerfile_text(text: str, path: Path | None = None) -> Dockerfile:
    """Parse a Dockerfile's text as it is (no file is read, whatever the text says), with one parser."""
    try:
        parser = DockerfileParser(fileobj=io.BytesIO(text.encode("utf-8", "surrogateescape")))
        structure, parents = parser.structure, parser.parent_images
    except Exception as exc:  # dockerfile-parse raises plain exceptions on bad input
        raise DockerfileError(f"the Dockerfile cannot be parsed: {exc}", "fix its syntax") from exc
    instructions = sum(item["instruction"] != "COMMENT" for item in structure)
    if instructions > MAX_INSTRUCTIONS:
        raise DockerfileError(f"the Dockerfile holds {instructions:,} instructions, more than {MAX_INSTRUCTIONS:,}",
                              "no real Dockerfile needs that many: merge them")
    if not any(item["instruction"] == "FROM" for item in structure):
        raise DockerfileError("the Dockerfile has no FROM instruction", "start it with `FROM <image>`")
    _check_from_args(structure)
    return Dockerfile(text, tuple(item for item in structure if item["instruction"] != "COMMENT"),
                      tuple(_bases(structure, parents)), path)


def from_parts(value: str) -> tuple[str, str | None]:
    """A ``FROM`` line's value as ``(image, stage name)``: ``--flags`` left out, the name lower-cased, ``None``
    without ``AS``."""
    words = [w for w in value.split() if not w.startswith("--")]
    stage = words[-1].lower() if len(words) >= 3 and words[-2].lower() == "as" else None
    return (words[0] if words else ""), stage


def _bases(structure: list[dict], parents: list[str]) -> list[str]:
    stages: set[str] = set()
    images: list[str] = []
    for item in structure:
        if item["instruction"] != "FROM":
            continue
        stage = from_parts(item["value"])[1]
        if stage is not None:
            stages.add(stage)
    for image in parents:
        if image.lower() in stages or image == "scratch" or image in images:
            continue
        images.append(image)
    return images


def base_images(dockerfile_text: str) -> list[str]:
    """The images a Dockerfile's ``FROM`` lines pull in (stage names and ``scratch`` left out)."""
    return list(parse_dockerfile_text(dockerfile_text).bases)


#: What Docker's builders fetch instead of reading the context: a URL (``ADD https://…``) or a git repository.
_REMOTE = re.compile(r"^(?:[a-z][a-z0-9+.-]*://|git@|github\.com/)", re.IGNORECASE)


def is_remote(source: str) -> bool:
    """True for an ``ADD`` source the builder would fetch from a network (a URL, ``git@…``, ``github.com/…``)."""
    return bool(_REMOTE.match(source.strip()))


def copy_sources(value: str) -> list[str]:
    """The sources of a ``COPY``/``ADD`` (its words but the last, flags left out), in JSON or plain form."""
    words: object = None
    if value.lstrip().startswith("["):
        try:
            words = json.loads(value)
        except ValueError:
            words = None
    if not isinstance(words, list) or not all(isinstance(word, str) for word in words):
        words = value.split()
    words = [word for word in words if not word.startswith("--")]
    return words[:-1]


def remote_sources(dockerfile: Dockerfile) -> list[tuple[int, str]]:
    """Each ``ADD`` source that names the network, with its line: what offline mode must refuse before a build.

    ``$NAME`` in a source is read with every ``ARG`` default and ``ENV`` value set above
    it, in any stage: a source that could name the network in some stage counts.
    """
    variables: dict[str, str] = {}
    found = []
    for item in dockerfile.instructions:
        keyword, value = item["instruction"], item["value"]
        if keyword in ("ARG", "ENV"):
            words = value.split()
            if keyword == "ARG" or (words and "=" in words[0]):
                pairs = [word.partition("=") for word in words]
            else:  # the old form, ENV NAME VALUE
                pairs = [(words[0], "=", " ".join(words[1:]))] if words else []
            for name, _, default in pairs:
                variables[name] = substitute(default.strip("\"'"), variables)
        elif keyword == "ADD":
            found += [(item["startline"] + 1, source) for source in copy_sources(value)
                      if is_remote(source) or is_remote(substitute(source, variables))]
    return found


#: The longest value a substitution may make: Linux's ``MAX_ARG_STRLEN``, past which no program could be given it.
MAX_VALUE_BYTES = 128 << 10
#: The most instructions a Dockerfile may hold (real ones hold tens; each costs the embedded builder a tool run).
MAX_INSTRUCTIONS = 1_000


def substitute(text: str, variables: dict[str, str]) -> str:
    """``$NAME`` and ``${NAME}`` replaced as Docker does for ENV, WORKDIR, COPY and the like.

    A result over :data:`MAX_VALUE_BYTES` is a :class:`DockerfileError`, checked as it grows: ``ENV A=$A$A``
    thirty times over would otherwise ask for gigabytes.
    """
    size = len(text)
    if size > MAX_VALUE_BYTES:
        raise DockerfileError(f"a value is over {MAX_VALUE_BYTES >> 10} KiB (`{text[:60]}…`)",
                              "no program could be given a value that long: shorten it")

    def value(match: re.Match) -> str:
        nonlocal size
        found = variables.get(match.group(1) or match.group(2), "")
        size += len(found) - len(match.group(0))
        if size > MAX_VALUE_BYTES:
            raise DockerfileError(f"a value grows past {MAX_VALUE_BYTES >> 10} KiB when its variables are substituted "
                                  f"(from `{text[:60]}`)", "no program could be given a value that long: shorten it")
        return found

    return re.sub(r"\$(?:\{(\w+)\}|(\w+))", value, text)


#: ``$NAME``, ``${NAME}``, ``${NAME:-word}``, ``${NAME:+word}`` in a FROM line.
_VARIABLE = re.compile(r"\$(?:\{(\w+)(:?[-+][^}]*)?\}|(\w+))")


def _check_from_args(structure: list[dict]) -> None:
    """Every ``$ARG`` a ``FROM`` image uses has a value: an ARG declared before the first FROM, with a default.

    Docker (which is given no build arguments here) would otherwise fail with
    an empty or half image name, or an SDK traceback.
    """
    values: dict[str, str] = {}
    seen_from = False
    for item in structure:
        if item["instruction"] == "ARG" and not seen_from:
            for word in item["value"].split():
                name, sep, default = word.partition("=")
                values[name] = default.strip("\"'") if sep else values.get(name, "")
            continue
        if item["instruction"] != "FROM":
            continue
        seen_from = True
        words = [w for w in item["value"].split() if not w.startswith("--")]
        if not words:
            raise DockerfileError(f"FROM (line {item['startline'] + 1}) names no image",
                                  "write FROM IMAGE[:TAG] [AS NAME]")
        for match in _VARIABLE.finditer(words[0]):
            name = match.group(1) or match.group(3)
            if match.group(2) or values.get(name):
                continue  # a ${NAME:-default} form, or an ARG with a value
            why = (f"ARG {name} has no default" if name in values else
                   f"{name} is not an ARG declared before the first FROM")
            raise DockerfileError(
                f"FROM {words[0]} (line {item['startline'] + 1}) uses ${name}, which is unset: {why}",
                f"give it a default before the first FROM (ARG {name}=IMAGE), or write the image name itself",
            )


_INSTRUCTION_START = re.compile(r"^\s*(\ufeff)?\s*(#|FROM\s|ARG\s)", re.IGNORECASE)


def _decoded(data: bytes, where: str) -> str:
    """A Dockerfile's bytes as text: UTF-8, a byte-order mark dropped (Docker accepts one), else a clear error."""
    body = data.removeprefix(codecs.BOM_UTF8)
    try:
        return body.decode("utf-8")
    except UnicodeDecodeError as exc:
        offset = exc.start + len(data) - len(body)
        utf16 = data.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE))
        raise DockerfileError(
            f"{where} is not UTF-8 text: byte {offset:,} (0x{data[offset]:02x}) is not valid UTF-8"
            + (" (the file starts with a UTF-16 byte-order mark)" if utf16 else ""),
            "save it as UTF-8 (Docker reads Dockerfiles as UTF-8 text), e.g. with your editor's "
            "\"save with encoding\" or `iconv -t UTF-8`",
        ) from exc


def dockerfile_text(dockerfile: str | bytes | os.PathLike) -> tuple[str, Path | None]:
    """A Dockerfile's text and path: a ``Path``, a one-line string naming a file, or the text itself (or its bytes).

    The text is UTF-8 (a leading byte-order mark dropped); anything else is a
    :class:`DockerfileError` naming the offset of the first byte that is not.
    """
    if isinstance(dockerfile, (bytes, bytearray)):
        return _decoded(bytes(dockerfile), "the Dockerfile"), None
    is_text = isinstance(dockerfile, str) and ("\n" in dockerfile or _INSTRUCTION_START.match(dockerfile))
    if not is_text:
        path = Path(dockerfile)
        try:
            data = path.read_bytes()
        except OSError as exc:
            raise DockerfileError(f"cannot read the Dockerfile {path}: {exc.strerror}", "check the path") from exc
        return _decoded(data, f"the Dockerfile {path}"), path
    text = str(dockerfile).removeprefix("\ufeff")
    try:
        text.encode("utf-8")
    except UnicodeEncodeError as exc:
        raise DockerfileError(
            f"the Dockerfile text holds character {exc.start:,} ({text[exc.start]!r}), which is not valid Unicode",
            "pass the Dockerfile as UTF-8 text (read it with encoding='utf-8')",
        ) from exc
    return text, None
