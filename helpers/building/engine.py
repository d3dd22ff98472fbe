"""Talk to a real Docker Engine through the Docker SDK: read images, build Dockerfiles.

``LAYERLAB_OFFLINE=1`` is *offline mode*: builds run with ``network_mode="none"``
(so no ``RUN`` step reaches the network), nothing is ever pulled, and a base
image that is not already in the engine is a :class:`BaseImageMissing` error
that says how to provide it.  A build that needs Debian's package registry
says so (``network=True``) and gets the engine's network, offline or not;
nothing else changes (see :mod:`helpers.building.registry`).
"""

from __future__ import annotations

import contextlib
import errno
import io
import os
import re
import socket
import tempfile
from collections import deque
from collections.abc import Iterator, Sequence
from dataclasses import replace
from pathlib import Path
from typing import IO

import docker
import docker.errors
import requests.exceptions
import urllib3.exceptions

from ..ground.dockerfile import Dockerfile
from ..ground.errors import (
    BaseImageMissing,
    BuildFailed,
    DockerfileError,
    EngineUnavailable,
    LayerLabError,
    SourceNotFound,
)
from ..ground.limits import DEFAULT_LIMITS, Limits
from ..ground.model import Image
from ..ground.settings import OFFLINE_VARIABLE
from ..ground.steps import BuildStep, Progress
from ..reading.archive import read_archive_stream
from .bases import label
from .context_tar import write_context
from .registry import apt_failure, fetch_failed

#: The gzip level layers are measured at when a build measures what a pull moves (gzip's own default).
PULL_GZIP_LEVEL = 6
_LOG_TAIL = 12
_MAX_LOG_LINE = 64 * 1024  # characters of one log line kept before it is cut
_STEP = re.compile(r"^Step (\d+)/(\d+) : (.*)$")
_RESULT = re.compile(r"^ ---> ([0-9a-f]{12,64})$")
_LAYER_INSTRUCTIONS = {"RUN", "COPY", "ADD"}
_ANSI = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]")


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


def read_engine_image(name: str, client: docker.DockerClient | None = None, gzip_level: int | None = None,
                      limits: Limits = DEFAULT_LIMITS) -> Image:
    """Read an image from the engine by name or ID, streaming ``docker save`` output once.

    ``gzip_level`` also measures each layer gzipped, in the same pass (what a
    registry would store: see :attr:`helpers.ground.model.Layer.pull_bytes`).
    """
    client = client or docker_client()
    handle = _engine_image(name, client)
    image = read_archive_stream(save_stream(name, client), name, gzip_level=gzip_level, limits=limits)
    return replace(image, format=f"docker-engine/{image.format}", tags=image.tags or list(handle.tags))


# ---------------------------------------------------------------- building


def ensure_base(client: docker.DockerClient, image: str, offline: bool) -> None:
    """Make sure ``image`` is in the engine: offline, a missing one is a clear error; online, it is pulled."""
    try:
        client.images.get(image)
        return
    except docker.errors.ImageNotFound as exc:
        if offline:
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


def build_image(client: docker.DockerClient, dockerfile: Dockerfile, context: Path | None, name: str, tag: str,
                progress: Progress | None, network: bool, offline: bool) -> str:
    """Build ``dockerfile`` in ``context`` as ``tag`` with the Docker Engine, reporting each step; the image's ID.

    Offline, every base must already be in the engine (:func:`ensure_base`).
    """
    if offline:
        for image in dockerfile.bases:
            ensure_base(client, image, offline)
    return _run_build(client, name, context, dockerfile.path, dockerfile.text, tag, progress, network,
                      frozenset(dockerfile.bases))


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


@contextlib.contextmanager
def _context_archive(context: Path | None, dockerfile_path: Path | None, text: str) -> Iterator[tuple[IO[bytes], str]]:
    """The build context as one tar (:func:`.context_tar.write_context`), and the Dockerfile's name in it.

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
        if context is not None:
            name = write_context(context, archive, inside, text)
        else:
            with tempfile.TemporaryDirectory(prefix="layerlab-context-") as empty:
                name = write_context(Path(empty), archive, None, text)
        archive.seek(0)
        yield archive, name
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
