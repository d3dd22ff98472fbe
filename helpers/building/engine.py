"""Build Dockerfiles with a real Docker Engine (reached through :mod:`helpers.reading.daemon`).

``LAYERLAB_OFFLINE=1`` is *offline mode*: builds run with ``network_mode="none"``
(so no ``RUN`` step reaches the network), nothing is ever pulled, and a base
image that is not already in the engine is a :class:`BaseImageMissing` error
that says how to provide it.  A build that needs Debian's package registry
says so (``network=True``) and gets the engine's network, offline or not;
nothing else changes (see :mod:`helpers.building.registry`).
"""

from __future__ import annotations

import contextlib
import os
import re
import tempfile
from collections import deque
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import IO

from ..ground.dockerfile import Dockerfile
from ..ground.errors import (
    BaseImageMissing,
    BuildFailed,
    DockerfileError,
    EngineUnavailable,
    LayerLabError,
)
from ..ground.settings import OFFLINE_VARIABLE
from ..ground.steps import BuildStep, Progress
from ..reading.daemon import TRANSPORT_ERRORS, APIError, Client, ImageNotFound, SDKError, engine_reason
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


# ---------------------------------------------------------------- building


def ensure_base(client: Client, image: str, offline: bool) -> None:
    """Make sure ``image`` is in the engine: offline, a missing one is a clear error; online, it is pulled."""
    try:
        client.images.get(image)
        return
    except ImageNotFound as exc:
        if offline:
            raise BaseImageMissing(
                f"base image {image} is not in the engine, and offline mode ({OFFLINE_VARIABLE}=1) never pulls",
                f"load it (`docker load -i …`) or make it from its rootfs tarball the way .ci/run does "
                f"(`python -m helpers base {image}`), or unset {OFFLINE_VARIABLE} to let the engine pull it",
            ) from exc
    try:
        client.images.pull(image)
    except APIError as exc:
        raise BaseImageMissing(
            f"{image} is not in the Docker Engine, and pulling it failed: {exc.explanation or exc}",
            f"check the network, or make it locally (`python -m helpers base {image}`) and set {OFFLINE_VARIABLE}=1",
        ) from exc


def build_image(client: Client, dockerfile: Dockerfile, context: Path | None, name: str, tag: str,
                progress: Progress | None, network: bool, offline: bool) -> str:
    """Build ``dockerfile`` in ``context`` as ``tag`` with the Docker Engine, reporting each step; the image's ID.

    Offline, every base must already be in the engine (:func:`ensure_base`).
    """
    if offline:
        for image in dockerfile.bases:
            ensure_base(client, image, offline)
    return _run_build(client, name, context, dockerfile.path, dockerfile.text, tag, progress, network,
                      frozenset(dockerfile.bases))


def describe_base(client: Client, name: str) -> dict:
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


def build_failure(name: str, step: BuildStep | None, message: str, log: list[str], network: bool,
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
    client: Client,
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
                raise build_failure(name, step, message.strip(), list(log), network, list(unreachable))
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
    except APIError as exc:
        explanation = str(exc.explanation or exc)
        if network and _NO_NETWORK.search(explanation):
            raise build_failure(name, step, explanation, list(log), network, list(unreachable)) from exc
        raise BuildFailed(
            f"{name}: the engine refused the build: {explanation}",
            "fix the Dockerfile",
            reason=explanation,
        ) from exc
    except TRANSPORT_ERRORS as exc:
        raise EngineUnavailable(
            f"{name}: the Docker Engine stopped answering during the build: {engine_reason(exc)}",
            "check that dockerd is running, then build again",
        ) from exc
    except SDKError as exc:  # the SDK's own checks of what it is given
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
