"""Talk to a real Docker Engine through the Docker SDK: read images, build Dockerfiles.

``LAYERLAB_OFFLINE=1`` is *offline mode*: builds run with ``network_mode="none"``
(so no ``RUN`` step reaches the network), nothing is ever pulled, and a base
image that is not already in the engine is a :class:`BaseImageMissing` error
that says how to provide it.  A build that needs Debian's package registry
says so (``network=True``) and gets the engine's network, offline or not;
nothing else changes (see :mod:`helpers.building.registry`).
"""

from __future__ import annotations

import codecs
import contextlib
import errno
import io
import os
import random
import re
import socket
import sys
import tempfile
from collections import deque
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import IO, TextIO

import docker
import docker.errors
import docker.utils.build
import pandas as pd
import requests.exceptions
import urllib3.exceptions
from dockerfile_parse import DockerfileParser

from ..ground.errors import (
    BaseImageMissing,
    BuildFailed,
    DockerfileError,
    EngineUnavailable,
    LayerLabError,
    SourceNotFound,
)
from ..ground.model import Image
from ..ground.sizes import format_bytes
from ..measuring.analysis import Analysis, analyze
from ..reading.archive import read_archive_stream
from .bases import label
from .registry import apt_failure, fetch_failed

OFFLINE_VARIABLE = "LAYERLAB_OFFLINE"
#: The gzip level layers are measured at when a build measures what a pull moves (gzip's own default).
PULL_GZIP_LEVEL = 6
_LOG_TAIL = 12
_MAX_LOG_LINE = 64 * 1024  # characters of one log line kept before it is cut
_STEP = re.compile(r"^Step (\d+)/(\d+) : (.*)$")
_RESULT = re.compile(r"^ ---> ([0-9a-f]{12,64})$")
_LAYER_INSTRUCTIONS = {"RUN", "COPY", "ADD"}
_ANSI = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]")


def offline() -> bool:
    """True when ``LAYERLAB_OFFLINE`` is set to a true value (``1``, ``true``, ``yes``)."""
    return os.environ.get(OFFLINE_VARIABLE, "").strip().lower() in {"1", "true", "yes", "on"}


def engine_address() -> str:
    """Where the Docker SDK looks for an engine: ``DOCKER_HOST``, or the default socket."""
    return os.environ.get("DOCKER_HOST") or "unix:///var/run/docker.sock"


def docker_client() -> docker.DockerClient:
    """A connected client, or :class:`EngineUnavailable` saying where it looked and how to start one."""
    try:
        client = docker.from_env()
        client.ping()
    except (docker.errors.DockerException, requests.exceptions.RequestException) as exc:
        raise EngineUnavailable(
            f"no Docker Engine answered at {engine_address()}: {engine_reason(exc)}",
            "start one (`sudo dockerd &` on Linux, or Docker Desktop), or set DOCKER_HOST to its address",
        ) from exc
    return client


#: What the usual operating-system errors mean when the engine's address is tried.
_SOCKET_REASONS = {
    errno.ENOENT: "no such socket",
    errno.EACCES: "Permission denied: the socket is there, but this user may not use it "
                  "(join the docker group, or use a rootless engine)",
    errno.ECONNREFUSED: "connection refused: nothing listens there",
    errno.ECONNRESET: "the connection was reset",
    errno.EPIPE: "the connection was closed",
    errno.ETIMEDOUT: "timed out",
    errno.EHOSTUNREACH: "the host is unreachable",
    errno.ENETUNREACH: "the network is unreachable",
    errno.ENOTSOCK: "that path is not a socket",
}


def _causes(exc: BaseException) -> Iterator[BaseException]:
    """``exc`` and everything it wraps: its cause and context, exceptions among its args, urllib3's ``reason``."""
    seen: set[int] = set()
    pending = [exc]
    while pending:
        current = pending.pop(0)
        if id(current) in seen:
            continue
        seen.add(id(current))
        yield current
        wrapped = [current.__cause__, current.__context__, getattr(current, "reason", None), *current.args]
        pending.extend(item for item in wrapped if isinstance(item, BaseException))


def engine_reason(exc: BaseException) -> str:
    """Why the engine did not answer, in words (``no such socket``), never a Python repr."""
    causes = list(_causes(exc))
    for cause in causes:  # the operating system's own error says it best
        if isinstance(cause, socket.gaierror):
            return "its host name does not resolve"
        if isinstance(cause, OSError) and cause.errno in _SOCKET_REASONS:
            return _SOCKET_REASONS[cause.errno]
        if isinstance(cause, OSError) and cause.errno is not None and cause.strerror:
            return cause.strerror
    for cause in causes:
        if isinstance(cause, (TimeoutError, requests.exceptions.Timeout, urllib3.exceptions.TimeoutError)):
            return "timed out"
        if isinstance(cause, docker.errors.APIError) and cause.explanation:
            return str(cause.explanation)
    text = str(exc).removeprefix("Error while fetching server API version: ")
    text = re.sub(r"\w+\((.*)\)", r"\1", text) if "(" in text else text  # any repr left: its words only
    return " ".join(text.split()) or type(exc).__name__


# ---------------------------------------------------------------- reading


class _ChunkReader(io.RawIOBase):
    """A readable stream over an iterator of byte chunks (the engine's ``save`` output)."""

    def __init__(self, chunks: Iterator[bytes]) -> None:
        self._chunks = chunks
        self._pending = memoryview(b"")

    def readable(self) -> bool:
        return True

    def readinto(self, buffer) -> int:  # type: ignore[override]
        while not self._pending:
            try:
                self._pending = memoryview(next(self._chunks))
            except StopIteration:
                return 0
            except (requests.exceptions.RequestException, urllib3.exceptions.HTTPError,
                    docker.errors.DockerException) as exc:
                raise EngineUnavailable(
                    f"the Docker Engine stopped answering while sending the image: {engine_reason(exc)}",
                    "check that dockerd is still running, then try again",
                ) from exc
        n = min(len(buffer), len(self._pending))
        buffer[:n] = self._pending[:n]
        self._pending = self._pending[n:]
        return n


def _engine_image(name: str, client: docker.DockerClient):
    try:
        return client.images.get(name)
    except docker.errors.ImageNotFound as exc:
        raise SourceNotFound(
            f"{name!r} is neither a file, a directory, nor an image in the Docker Engine",
            "check the path, or list the engine's images with `docker images`",
        ) from exc
    except docker.errors.APIError as exc:
        raise SourceNotFound(f"the engine cannot look up {name!r}: {exc.explanation}", "check the image name") from exc


def save_stream(name: str, client: docker.DockerClient | None = None) -> io.BufferedReader:
    """The engine's ``docker save`` archive of an image, as a readable stream (nothing touches disk)."""
    handle = _engine_image(name, client or docker_client())
    return io.BufferedReader(_ChunkReader(iter(handle.save(named=False))), buffer_size=1 << 20)


def read_engine_image(name: str, client: docker.DockerClient | None = None, gzip_level: int | None = None) -> Image:
    """Read an image from the engine by name or ID, streaming ``docker save`` output once.

    ``gzip_level`` also measures each layer gzipped, in the same pass (what a
    registry would store: see :attr:`helpers.ground.model.Layer.pull_bytes`).
    """
    client = client or docker_client()
    handle = _engine_image(name, client)
    image = read_archive_stream(save_stream(name, client), name, gzip_level=gzip_level)
    image.format = f"docker-engine/{image.format}"
    if not image.tags:
        image.tags = list(handle.tags)
    return image


# ---------------------------------------------------------------- building


def base_images(dockerfile_text: str) -> list[str]:
    """The images a Dockerfile's ``FROM`` lines pull in (stage names and ``scratch`` left out)."""
    try:
        parser = DockerfileParser(fileobj=io.BytesIO(dockerfile_text.encode()))
        structure = parser.structure
        parents = parser.parent_images
    except Exception as exc:  # dockerfile-parse raises plain exceptions on bad input
        raise DockerfileError(f"the Dockerfile cannot be parsed: {exc}", "fix its syntax") from exc
    if not any(item["instruction"] == "FROM" for item in structure):
        raise DockerfileError("the Dockerfile has no FROM instruction", "start it with `FROM <image>`")
    _check_from_args(structure)
    stages: set[str] = set()
    images: list[str] = []
    for item in structure:
        if item["instruction"] != "FROM":
            continue
        words = item["value"].split()
        words = [w for w in words if not w.startswith("--")]
        if len(words) >= 3 and words[-2].lower() == "as":
            stages.add(words[-1].lower())
    for image in parents:
        if image.lower() in stages or image == "scratch" or image in images:
            continue
        images.append(image)
    return images


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


def ensure_base(client: docker.DockerClient, image: str) -> None:
    """Make sure ``image`` is in the engine: offline, a missing one is a clear error; online, it is pulled."""
    try:
        client.images.get(image)
        return
    except docker.errors.ImageNotFound as exc:
        if offline():
            raise BaseImageMissing(
                f"base image {image} is not in the engine, and offline mode ({OFFLINE_VARIABLE}=1) never pulls",
                f"load it (`docker load -i …`) or make it from its rootfs tarball the way .ci/run does "
                f"(`python -m helpers base {image}`), or unset {OFFLINE_VARIABLE} to let the engine pull it",
            ) from exc
    try:
        client.images.pull(image)
    except docker.errors.APIError as exc:
        raise BaseImageMissing(
            f"{image} is not in the Docker Engine, and pulling it failed: {exc.explanation or exc}",
            f"check the network, or make it locally (`python -m helpers base {image}`) and set {OFFLINE_VARIABLE}=1",
        ) from exc


def _check_bases(client: docker.DockerClient, dockerfile_text: str) -> None:
    for image in base_images(dockerfile_text):
        ensure_base(client, image)


def describe_base(client: docker.DockerClient, name: str) -> dict:
    """Where a base image in the engine came from: its ID, its rootfs, and whether it was pulled or made here.

    ``made`` is ``pulled`` for an image with a registry digest (``RepoDigests``;
    ``from`` is that digest) and ``made locally`` for one built, imported or
    made from a tarball on this machine (``from`` is then unknown: ``None``).
    """
    image = client.images.get(name)
    digests = image.attrs.get("RepoDigests") or []
    return {
        "image": name,
        "id": image.id,
        "rootfs": list((image.attrs.get("RootFS") or {}).get("Layers") or []),
        "made": "pulled" if digests else "made locally",
        "from": digests[0] if digests else None,
    }


@dataclass
class BuildStep:
    """One ``Step k/n`` of a classic-builder build, as it lands.

    ``base`` is, for a ``FROM`` step that brings in an image, its provenance
    in words (:func:`helpers.building.bases.label`).
    """

    number: int
    total: int
    instruction: str
    layer_bytes: int | None = None
    base: str | None = None


Progress = Callable[[str, BuildStep], None]


class _ProgressPrinter:
    def __init__(self, stream: TextIO | None) -> None:
        self.stream = stream

    def __call__(self, name: str, step: BuildStep) -> None:
        text = " ".join(step.instruction.split())  # a continued RUN's runs of spaces, as one
        text = text if len(text) <= 100 else text[:99] + "…"
        keyword = step.instruction.split(" ", 1)[0].upper()
        if keyword in _LAYER_INSTRUCTIONS and step.layer_bytes is not None:
            size = f"layer {format_bytes(step.layer_bytes)}"
        elif keyword == "FROM":
            size = f"base {step.base}" if step.base else "base"
        else:
            size = "no layer"
        self._print(f"[{name}] step {step.number}/{step.total}  {text}  → {size}")

    def done(self, name: str, engine: str) -> None:
        """Say which engine built ``name``."""
        self._print(f"[{name}] built by {ENGINE_LABELS[engine]}")

    def _print(self, line: str) -> None:
        print(line, file=self.stream or sys.stdout, flush=True)


def print_progress(stream: TextIO | None = None) -> Progress:
    """A progress callback that prints ``[name] step k/n INSTRUCTION → SIZE`` as each step lands.

    It prints nothing that changes between runs (no ids, no cache hits, no
    timings), and at the end of each build which engine built it.
    """
    return _ProgressPrinter(stream)


# ---------------------------------------------------------------- choosing an engine

ENGINE_VARIABLE = "LAYERLAB_ENGINE"
ENGINES = ("docker", "embedded", "recorded")
ENGINE_LABELS = {"docker": "the Docker Engine", "embedded": "the embedded builder (umoci + proot)"}


def select_engine(engine: str | None = None) -> str:
    """``docker`` or ``embedded``: the parameter, else ``LAYERLAB_ENGINE``, else Docker if it answers, else embedded.

    ``recorded`` (or no engine at all) means nothing builds here: it raises
    :class:`EngineUnavailable`, and :mod:`helpers.orchestration.recording` replays instead.
    """
    from .embedded import ToolMissing, require_tools

    chosen = (engine or os.environ.get(ENGINE_VARIABLE, "") or "auto").strip().lower()
    if chosen not in (*ENGINES, "auto"):
        raise LayerLabError(f"unknown engine {chosen!r}", f"use one of: {', '.join(ENGINES)} (or leave it unset)")
    if chosen == "recorded":
        raise EngineUnavailable(f"{ENGINE_VARIABLE}=recorded: nothing builds here", "notebooks replay recordings")
    if chosen == "docker":
        docker_client()
        return "docker"
    if chosen == "embedded":
        require_tools()
        return "embedded"
    try:
        docker_client()
        return "docker"
    except EngineUnavailable as no_docker:
        try:
            require_tools()
        except ToolMissing as no_tools:
            raise EngineUnavailable(
                f"nothing can build here: {no_docker.message}, and {no_tools.message}",
                f"start a Docker Engine, or {no_tools.hint}",
            ) from no_tools
        return "embedded"


@dataclass
class Built:
    """A built image and its analysis."""

    name: str
    tag: str
    image_id: str
    analysis: Analysis


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


def _dockerfile_text(dockerfile: str | bytes | os.PathLike) -> tuple[str, Path | None]:
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


#: A name component of an image reference (Docker's grammar): lowercase letters and digits, joined by
#: ``.``, ``_``, ``__`` or runs of ``-``.
_PATH_COMPONENT = r"[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*"
_DOMAIN_COMPONENT = r"(?:[a-zA-Z0-9]|[a-zA-Z0-9][a-zA-Z0-9-]*[a-zA-Z0-9])"
_DOMAIN = rf"(?:{_DOMAIN_COMPONENT}(?:\.{_DOMAIN_COMPONENT})*|\[[0-9a-fA-F:]+\])(?::[0-9]+)?"
_TAG_PART = r"[\w][\w.-]{0,127}"
_REFERENCE = re.compile(rf"(?:{_DOMAIN}/)?{_PATH_COMPONENT}(?:/{_PATH_COMPONENT})*(?::{_TAG_PART})?", re.ASCII)
_NAME_LIMIT = 255
_TAG_HINT = "write NAME[:TAG] in lowercase, e.g. layerlab/my-image:1.0 (letters, digits, and . _ - between them)"


def check_tag(tag: str) -> str:
    """``tag`` if it is a valid image reference to tag a build with (Docker's grammar), else a clear error."""
    if not isinstance(tag, str) or not tag:
        raise DockerfileError(f"the tag {tag!r} is empty or not text", _TAG_HINT)
    first, slash, _ = tag.partition("/")
    # Docker reads the first component as a registry only if it has a "." or a ":" or is localhost
    registry = slash and ("." in first or ":" in first or first == "localhost")
    if _REFERENCE.fullmatch(tag) and (registry or first == first.lower()):
        name = tag.rsplit(":", 1)[0] if ":" in tag.rsplit("/", 1)[-1] else tag
        if len(name) <= _NAME_LIMIT:
            return tag
        raise DockerfileError(f"the tag {tag[:40]!r}… has a name of {len(name)} characters; Docker allows "
                              f"{_NAME_LIMIT}", _TAG_HINT)
    name, _, version = tag.rpartition(":") if ":" in tag.rsplit("/", 1)[-1] else (tag, "", "")
    if "@" in tag:
        why = "a build cannot be tagged with a digest (@sha256:…)"
    elif version and not re.fullmatch(_TAG_PART, version, re.ASCII):
        why = f"the part after the colon, {version!r}, must be letters, digits, _ . - (at most 128, not starting " \
              "with . or -)"
    elif any(c.isspace() for c in tag):
        why = "it holds a space"
    elif (name.split("/", 1)[-1] if registry else name) != (name.split("/", 1)[-1] if registry else name).lower():
        why = "repository names must be lowercase"
    else:
        why = "it is not NAME[:TAG] in Docker's reference format"
    shown = repr(tag) if len(tag) <= 80 else repr(tag[:77]) + "…"
    raise DockerfileError(f"the tag {shown} is not a valid image name: {why}", _TAG_HINT)


def _tag_for(name: str) -> str:
    slug = re.sub(r"[^a-z0-9._-]+", "-", name.lower()).strip("-._") or "image"
    # separators Docker allows between letters: ".", "_", "__" or a run of "-"; any other run becomes "-"
    slug = re.sub(r"[._-]{2,}", lambda m: m.group() if m.group() == "__" or set(m.group()) == {"-"} else "-",
                  slug)
    return f"layerlab/{slug[:200].rstrip('-._')}:latest"


#: What the engine says when it has no network to give a build (its ``docker0`` bridge is gone).
_NO_NETWORK = re.compile(r"bridge[^\n]*not found|could not find bridge|network[^\n]*not found", re.IGNORECASE)


class NetworkUnavailable(EngineUnavailable):
    """The engine cannot give a build the network it asked for."""


def _failure(name: str, step: BuildStep | None, message: str, log: list[str], network: bool,
             fetch_failures: Sequence[str] = ()) -> LayerLabError:
    """The error for a build that stopped: the engine's own words, made into a cause and a fix.

    ``fetch_failures`` are the step's log lines where apt said it could not reach its mirror.
    """
    where = f"step {step.number}/{step.total} `{step.instruction}`" if step else "the build"
    if network and _NO_NETWORK.search(message):
        return NetworkUnavailable(
            f"{name}: the Docker Engine cannot give {where} a network: {message}",
            "restart dockerd, which makes its docker0 bridge again; or replay the recording (LAYERLAB_ENGINE=recorded)",
        )
    if step is not None and (unreachable := apt_failure(list(fetch_failures), network, step.instruction)):
        return unreachable
    pulling = step is not None and step.instruction.upper().startswith("FROM")
    return BuildFailed(
        f"{name}: {where} failed: {message}",
        "the engine could not get the base image: check the network, or make the image locally "
        f"and set {OFFLINE_VARIABLE}=1" if pulling else
        "fix that instruction, or the files it uses, and build again",
        log,
        step=step.number if step else None,
        instruction=step.instruction if step else None,
        reason=message,
    )


def _dockerignore(context: Path) -> list[str] | None:
    """The context's ``.dockerignore`` patterns, read as the Docker SDK reads them."""
    ignore = context / ".dockerignore"
    if not ignore.exists():
        return None
    lines = ignore.read_text(encoding="utf-8", errors="replace").splitlines()
    return [line.strip() for line in lines if line.strip() and not line.strip().startswith("#")]


@contextlib.contextmanager
def _context_archive(context: Path | None, dockerfile_path: Path | None, text: str) -> Iterator[tuple[IO[bytes], str]]:
    """The build context as one tar, and the Dockerfile's name in it.

    The tar is an unnamed temporary file (``O_TMPFILE``): a build killed
    outright leaves nothing behind.  A Dockerfile inside the context is used
    where it is; one given as text, or kept elsewhere, is added under a
    name that the context's ``.dockerignore`` leaves out of ``COPY .``, as the
    Docker CLI does.  No context is an empty one.
    """
    archive = tempfile.TemporaryFile()
    try:
        inside = None
        if context is not None and dockerfile_path is not None:
            relative = os.path.relpath(dockerfile_path.resolve(), context.resolve())
            inside = None if relative.startswith("..") else relative
        if inside is not None:
            dockerfile: tuple[str, str | None] = (inside, None)
        else:
            dockerfile = (f".dockerfile.{random.getrandbits(160):x}", text)
        if context is not None:
            docker.utils.build.tar(str(context), exclude=_dockerignore(context), dockerfile=dockerfile,
                                   fileobj=archive)
        else:
            docker.utils.build.create_archive(os.sep, files=[], fileobj=archive, extra_files=[
                (".dockerignore", f".dockerignore\n{dockerfile[0]}"), dockerfile])
        yield archive, dockerfile[0]
    finally:
        archive.close()


def _run_build(
    client: docker.DockerClient,
    name: str,
    context: Path | None,
    dockerfile_path: Path | None,
    text: str,
    tag: str,
    progress: Progress | None,
    network: bool = False,
    bases: frozenset[str] = frozenset(),
) -> str:
    log: deque[str] = deque(maxlen=_LOG_TAIL)
    unreachable: deque[str] = deque(maxlen=4)
    step: BuildStep | None = None
    image_id: str | None = None

    def land(layer_id: str | None) -> None:
        if step is None:
            return
        keyword, _, rest = step.instruction.partition(" ")
        if layer_id and keyword.upper() in _LAYER_INSTRUCTIONS:
            step.layer_bytes = int(client.api.history(layer_id)[0]["Size"])
        if keyword.upper() == "FROM":
            words = [w for w in rest.split() if not w.startswith("--")]
            if words and words[0] in bases:
                step.base = label(describe_base(client, words[0]))
        if progress:
            progress(name, step)

    def _follow(chunks) -> str | None:
        """Report each step as it lands; the image's ID, when the engine says it."""
        found: str | None = None
        pending = ""  # the engine may split one line over two chunks: keep the part before its newline
        for chunk in chunks:
            if "errorDetail" in chunk or "error" in chunk:
                _read(pending)
                message = (chunk.get("errorDetail") or {}).get("message") or chunk.get("error") or "unknown error"
                raise _failure(name, step, message.strip(), list(log), network, list(unreachable))
            if "aux" in chunk and "ID" in chunk["aux"]:
                found = chunk["aux"]["ID"]
            pieces = (pending + (chunk.get("stream") or "")).splitlines(keepends=True)
            pending = pieces.pop() if pieces and not pieces[-1].endswith(("\n", "\r")) else ""
            if len(pending) > _MAX_LOG_LINE:  # a line with no end is read in bounded pieces
                pieces.append(pending)
                pending = ""
            for line in pieces:
                _read(line)
        _read(pending)
        return found

    def _read(line: str) -> None:
        """One whole line of the build's output: a step begins, lands, or logs."""
        nonlocal step
        line = _ANSI.sub("", line).rstrip()  # colour codes may sit at either end of a line, or span two
        if not line.strip():
            return
        if match := _STEP.match(line):
            land(None)  # a step with no result line of its own (``FROM scratch``) lands when the next begins
            step = BuildStep(int(match.group(1)), int(match.group(2)), match.group(3).strip())
            log.clear()
            unreachable.clear()
        elif match := _RESULT.match(line):
            land(match.group(1))
            step = None
        elif not line.startswith((" ---> ", "Removing intermediate")):
            log.append(line)
            if fetch_failed(line):
                unreachable.append(line)

    try:
        with _context_archive(context, dockerfile_path, text) as (archive, dockerfile):
            chunks = client.api.build(
                fileobj=archive,
                custom_context=True,
                dockerfile=dockerfile,
                tag=tag,
                rm=True,
                forcerm=True,
                pull=False,
                decode=True,
                network_mode=None if network else "none",
            )
            image_id = _follow(chunks)
    except PermissionError as exc:
        raise DockerfileError(
            f"{name}: cannot read the build context: {exc.filename}: permission denied",
            "make it readable, or leave it out of the context with a .dockerignore entry",
        ) from exc
    except docker.errors.APIError as exc:
        explanation = str(exc.explanation or exc)
        if network and _NO_NETWORK.search(explanation):
            raise _failure(name, step, explanation, list(log), network, list(unreachable)) from exc
        raise BuildFailed(
            f"{name}: the engine refused the build: {explanation}",
            "fix the Dockerfile",
            reason=explanation,
        ) from exc
    except (requests.exceptions.RequestException, urllib3.exceptions.HTTPError) as exc:
        raise EngineUnavailable(
            f"{name}: the Docker Engine stopped answering during the build: {engine_reason(exc)}",
            "check that dockerd is running, then build again",
        ) from exc
    except docker.errors.DockerException as exc:  # the SDK's own checks of what it is given
        raise BuildFailed(f"{name}: the Docker SDK refused the build: {engine_reason(exc)}",
                          "fix the Dockerfile or the build's options", reason=str(exc)) from exc
    except OSError as exc:  # after the SDK's and requests' errors, which are OSErrors too
        if isinstance(exc.__cause__, PermissionError):  # the SDK's "Can not read file in context"
            raise DockerfileError(
                f"{name}: cannot read the build context: {exc.__cause__.filename}: permission denied",
                "make it readable, or leave it out of the context with a .dockerignore entry",
            ) from exc
        raise DockerfileError(f"{name}: cannot pack the build context: {exc.strerror or exc}",
                              "check the context folder's files") from exc
    if image_id is None:
        image_id = client.images.get(tag).id
    return image_id


def build(
    dockerfile: str | os.PathLike,
    context: str | os.PathLike | None = None,
    *,
    name: str = "image",
    tag: str | None = None,
    progress: Progress | None = None,
    client: docker.DockerClient | None = None,
    engine: str | None = None,
    network: bool | None = None,
    measure_pull: bool = False,
) -> Built:
    """Build one Dockerfile (a path, or its text) and analyse the result.

    ``engine`` is ``docker`` or ``embedded`` (default: :func:`select_engine`;
    passing a ``client`` means Docker).  ``context`` defaults to the
    Dockerfile's folder, or an empty folder for a Dockerfile given as text.
    ``network``: whether ``RUN`` steps get the network (default: unless
    offline mode is on); ``True`` is for builds that need Debian's package
    registry, and changes nothing else (nothing is pulled offline).
    ``measure_pull`` also measures each layer gzipped, as a registry stores it
    (:attr:`helpers.measuring.analysis.Analysis.compressed_bytes`).
    """
    tag = check_tag(tag) if tag is not None else check_tag(_tag_for(name))
    engine = "docker" if client is not None and engine is None else select_engine(engine)
    network = not offline() if network is None else network
    text, path = _dockerfile_text(dockerfile)
    bases = base_images(text)  # fails early and clearly on a Dockerfile that cannot parse
    folder = Path(context) if context is not None else path.parent if path is not None else None
    if folder is not None and not folder.is_dir():
        raise DockerfileError(f"the build context {folder} is not a directory", "pass an existing folder")
    if engine == "embedded":
        from .embedded import EmbeddedBuilder

        builder = EmbeddedBuilder()
        with contextlib.ExitStack() as scratch:
            # no context: an empty folder, locked in the builder's store while in use (the next builder
            # removes one a killed build left)
            where = folder if folder is not None else scratch.enter_context(builder._scratch())
            store_tag, analysis = builder.build(text, where, name, _slug_tag(tag), progress, network=network)
        built = Built(name, store_tag, builder.manifest_digest(store_tag), analysis)
    else:
        client = client or docker_client()
        if offline():
            _check_bases(client, text)
        image_id = _run_build(client, name, folder, path, text, tag, progress, network, frozenset(bases))
        analysis = analyze(read_engine_image(tag, client, gzip_level=PULL_GZIP_LEVEL if measure_pull else None))
        analysis.image.source = tag
        analysis.image.bases = [describe_base(client, base) for base in bases]
        built = Built(name, tag, image_id, analysis)
    if progress is not None and hasattr(progress, "done"):
        progress.done(name, engine)
    return built


def _slug_tag(tag: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]+", "-", tag).strip("-.")


def build_variants(
    variants: Mapping[str, str | os.PathLike],
    context: str | os.PathLike | None = None,
    *,
    progress: Progress | None = None,
    client: docker.DockerClient | None = None,
    engine: str | None = None,
    network: bool | None = None,
    measure_pull: bool = False,
) -> dict[str, Analysis]:
    """Build several Dockerfile variants side by side and return their analyses, by name.

    Each value is a Dockerfile path or a Dockerfile's text.  Progress goes to
    ``progress`` (default: printed to stdout, one line per step, and which
    engine built each).  ``engine``, ``network``, ``measure_pull``: see :func:`build`.
    """
    engine = "docker" if client is not None and engine is None else select_engine(engine)
    progress = progress or print_progress()
    return {
        name: build(dockerfile, context, name=name, progress=progress, client=client, engine=engine,
                    network=network, measure_pull=measure_pull).analysis
        for name, dockerfile in variants.items()
    }


#: Columns of :func:`attempt_builds`' table.
ATTEMPT_COLUMNS = ["variant", "outcome", "failed_step", "instruction", "reason", "last_log_line",
                   "stored_bytes", "reclaimable_bytes"]


def attempts_table(outcomes: Mapping[str, Analysis | BuildFailed]) -> pd.DataFrame:
    """One row per variant: ``built`` with its stored and reclaimable bytes, or ``failed`` with where and why."""
    rows = []
    for name, outcome in outcomes.items():
        if isinstance(outcome, BuildFailed):
            last = outcome.log_tail[-1] if outcome.log_tail else ""
            rows.append([name, "failed", outcome.step, outcome.instruction, outcome.reason, last, None, None])
        else:
            rows.append([name, "built", None, None, None, None, outcome.stored_bytes, outcome.reclaimable_bytes])
    return pd.DataFrame(rows, columns=ATTEMPT_COLUMNS).astype(
        {"failed_step": "Int64", "stored_bytes": "Int64", "reclaimable_bytes": "Int64"}
    )


def require_built(outcomes: Mapping[str, Analysis | BuildFailed], names=None) -> dict[str, Analysis]:
    """The analyses of ``names`` (default: all), raising the first one's :class:`BuildFailed` if it did not build."""
    chosen = {}
    for name in names if names is not None else outcomes:
        outcome = outcomes[name]
        if isinstance(outcome, BuildFailed):
            raise outcome
        chosen[name] = outcome
    return chosen


def attempt_builds(
    variants: Mapping[str, str | os.PathLike],
    context: str | os.PathLike | None = None,
    *,
    progress: Progress | None = None,
    client: docker.DockerClient | None = None,
    engine: str | None = None,
    network: bool | None = None,
    measure_pull: bool = False,
) -> dict[str, Analysis | BuildFailed]:
    """Try to build every variant: each gives its analysis, or the :class:`BuildFailed` that stopped it.

    A failing Dockerfile is a result, not an exception; :func:`attempts_table`
    tabulates the outcomes.  Engine-level problems (no engine, a missing base
    offline, no network, an unreachable package registry) still raise: they
    are not facts about the Dockerfile.  ``network``, ``measure_pull``: see :func:`build`.
    """
    engine = "docker" if client is not None and engine is None else select_engine(engine)
    progress = progress or print_progress()
    outcomes: dict[str, Analysis | BuildFailed] = {}
    for name, dockerfile in variants.items():
        try:
            outcomes[name] = build(dockerfile, context, name=name, progress=progress, client=client,
                                   engine=engine, network=network, measure_pull=measure_pull).analysis
        except BuildFailed as failure:
            outcomes[name] = failure
    return outcomes
