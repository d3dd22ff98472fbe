"""The daemon backend: the Docker Engine, through the Docker SDK; the only module that imports it.

An image is read by streaming the engine's ``docker save`` output once
(:func:`read_engine_image`); nothing touches disk.  The builders reach the
engine through :func:`docker_client` and the SDK's error types named here, so
that the SDK (about a tenth of a second to import) is loaded in one place, and
only by what talks to an engine (an import contract keeps it so).
"""

from __future__ import annotations

import errno
import io
import os
import re
import socket
from collections.abc import Iterator

import docker
import docker.errors
import requests.exceptions
import urllib3.exceptions

from ..ground.errors import EngineUnavailable, SourceNotFound
from ..ground.limits import DEFAULT_LIMITS, Limits
from ..ground.model import Image, Source
from .files import read_archive_stream
from .gzip_sizes import GzipSizes

#: The SDK's client, and the errors the builders meet, named here so that no other module imports the SDK.
Client = docker.DockerClient
SDKError = docker.errors.DockerException
APIError = docker.errors.APIError
ImageNotFound = docker.errors.ImageNotFound
BuildError = docker.errors.BuildError
#: What a connection to the engine raises when it breaks.
TRANSPORT_ERRORS: tuple[type[BaseException], ...] = (requests.exceptions.RequestException,
                                                     urllib3.exceptions.HTTPError)


def engine_address() -> str:
    """Where the Docker SDK looks for an engine: ``DOCKER_HOST``, or the default socket."""
    return os.environ.get("DOCKER_HOST") or "unix:///var/run/docker.sock"


def client_address(client: Client) -> str:
    """The address ``client`` talks to, as ``DOCKER_HOST`` spells it: what a Docker CLI run for it must be given.

    The SDK keeps a socket's path only on its connection adapter (its ``base_url`` is
    ``http+docker://localhost`` for every socket), so it is read from there; a TCP
    address from ``base_url``; else the address the SDK would look at.
    """
    path = getattr(getattr(client.api, "_custom_adapter", None), "socket_path", None)
    if isinstance(path, str) and path:
        return f"unix://{path}"
    base = str(getattr(client.api, "base_url", ""))
    for scheme in ("http://", "https://"):
        if base.startswith(scheme):
            return "tcp://" + base[len(scheme):]
    return engine_address()


def docker_client() -> Client:
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


def _engine_image(name: str, client: Client):
    try:
        return client.images.get(name)
    except docker.errors.ImageNotFound as exc:
        raise SourceNotFound(
            f"{name!r} is neither a file, a directory, nor an image in the Docker Engine",
            "check the path, or list the engine's images with `docker images`",
        ) from exc
    except docker.errors.APIError as exc:
        raise SourceNotFound(f"the engine cannot look up {name!r}: {exc.explanation}", "check the image name") from exc


def save_stream(name: str, client: Client | None = None) -> io.BufferedReader:
    """The engine's ``docker save`` archive of an image, as a readable stream (nothing touches disk)."""
    return _saved(_engine_image(name, client or docker_client()))


def _saved(handle) -> io.BufferedReader:
    """The ``docker save`` archive of the image ``handle`` looked up, saved by its ID (not by a tag that may move)."""
    return io.BufferedReader(_ChunkReader(iter(handle.save(named=False))), buffer_size=1 << 20)


#: What gzip made of each layer read from an engine, per engine address (see :mod:`helpers.reading.gzip_sizes`).
_GZIP_SIZES: dict[str, GzipSizes] = {}


def _remembered_sizes(client: Client) -> GzipSizes:
    """The gzip sizes remembered for the layers of the engine ``client`` talks to (one memory per engine)."""
    return _GZIP_SIZES.setdefault(client_address(client), GzipSizes())


def read_engine_image(name: str, client: Client | None = None, gzip_level: int | None = None,
                      limits: Limits = DEFAULT_LIMITS) -> Image:
    """Read an image from the engine by name or ID, streaming ``docker save`` output once.

    ``gzip_level`` also measures each layer gzipped, in the same pass (what a
    registry would store: see :attr:`helpers.ground.model.Layer.pull_bytes`); a layer
    measured before, in an earlier read from this engine, is not compressed again
    (:mod:`helpers.reading.gzip_sizes` says how it is recognised).
    """
    client = client or docker_client()
    handle = _engine_image(name, client)
    layers = frozenset((handle.attrs.get("RootFS") or {}).get("Layers") or ())
    image = read_archive_stream(_saved(handle), name, gzip_level=gzip_level, limits=limits,
                                gzip_sizes=_remembered_sizes(client), layers=layers)  # used only with a level
    return image._replace(format=f"docker-engine/{image.format}", tags=image.tags or list(handle.tags),
                          origin=Source("docker-daemon", name))
