"""The Docker Engine as a :class:`~helpers.building.builder.Builder`: build, read and squash.

BuildKit builds through the Docker CLI (:mod:`.buildkit_cli`), as a current ``docker build``
does; the classic builder, through the Docker SDK, where no CLI here can drive BuildKit or
``LAYERLAB_DOCKER_BUILDER=classic`` asks for it (except ``RUN --mount``, which only BuildKit
builds).  Either image is read the same way.
"""

from __future__ import annotations

import contextlib
import subprocess
from collections.abc import Mapping
from pathlib import Path
from typing import BinaryIO

from ..ground.commands import python_tool
from ..ground.dockerfile import Dockerfile
from ..ground.errors import BuildFailed, EngineUnavailable, LayerLabError
from ..ground.model import Image
from ..ground.settings import DOCKER_BUILDER_VARIABLE, ENGINE_LABELS, Settings
from ..ground.steps import Progress
from ..reading.daemon import (
    TRANSPORT_ERRORS,
    APIError,
    Client,
    ImageNotFound,
    client_address,
    docker_client,
    engine_reason,
    read_engine_image,
    save_stream,
)
from . import buildkit_cli
from .bases import label
from .builder import BuiltImage, RunResult, files_tar
from .engine import PULL_GZIP_LEVEL, build_image, describe_base, ensure_base

#: The longest a command run in a container may take.
RUN_TIMEOUT = 600


def uses_buildkit(settings: Settings) -> bool:
    """Whether BuildKit builds a Dockerfile without ``RUN --mount`` (which only BuildKit builds) with ``settings``.

    ``buildkit``: yes; ``classic``: no; ``auto``: where a Docker CLI here can drive BuildKit.
    """
    if settings.docker_builder != "auto":
        return settings.docker_builder == "buildkit"
    try:
        buildkit_cli.buildkit_command()
    except LayerLabError:
        return False
    return True


class DockerBuilder:
    """Builds with the Docker Engine at ``client`` (default: the one ``DOCKER_HOST`` names; it must answer).

    ``settings``: offline mode (bases are never pulled), the reader's limits, and which of the
    engine's builders builds (``docker_builder``: ``auto``, BuildKit where a Docker CLI here
    can drive it, else the classic builder; ``buildkit``, BuildKit or a clear error;
    ``classic``, the classic builder except for ``RUN --mount``, which it refuses).  Each
    built image says which built it.
    """

    name = "docker"
    label = ENGINE_LABELS["docker"]

    def __init__(self, client: Client | None = None, *, settings: Settings) -> None:
        self.client = client or docker_client()
        self.settings = settings

    def build(self, dockerfile: Dockerfile, context: Path | None, name: str, tag: str,
              progress: Progress | None, network: bool) -> BuiltImage:
        if self._with_buildkit(dockerfile):
            for image in dockerfile.bases:
                ensure_base(self.client, image, self.settings.offline)
            try:
                image_id = buildkit_cli.build(dockerfile, context, name, tag, progress, network,
                                              host=client_address(self.client),
                                              describe_base=lambda image: label(describe_base(self.client, image)))
            except BuildFailed as exc:
                if self._answers():
                    raise
                raise EngineUnavailable(f"{name}: the Docker Engine stopped answering during the build: {exc.reason}",
                                        "check that dockerd is running, then build again") from exc
            return BuiltImage(tag, image_id, dockerfile.bases, engine="docker+buildkit")
        image_id = build_image(self.client, dockerfile, context, name, tag, progress, network, self.settings.offline)
        return BuiltImage(tag, image_id, dockerfile.bases, engine="docker")

    def _answers(self) -> bool:
        """Whether the engine still answers (a BuildKit build that failed may have lost it)."""
        try:
            self.client.ping()
        except (APIError, *TRANSPORT_ERRORS):
            return False
        return True

    def _with_buildkit(self, dockerfile: Dockerfile) -> bool:
        """Whether BuildKit builds ``dockerfile`` (see :func:`uses_buildkit`).

        Where BuildKit must build it (``buildkit``, or ``RUN --mount``), no Docker CLI here
        that can drive it is a clear error naming what to install.
        """
        if not buildkit_cli.needs_buildkit(dockerfile) and not uses_buildkit(self.settings):
            return False
        try:
            buildkit_cli.buildkit_command()
        except LayerLabError as exc:
            why = (f"{DOCKER_BUILDER_VARIABLE}=buildkit" if self.settings.docker_builder == "buildkit"
                   else "this Dockerfile uses `RUN --mount`, which only BuildKit builds")
            raise LayerLabError(f"{why}, and {exc.message}", exc.hint) from None
        return True

    def read(self, reference: str, measure_pull: bool = False) -> Image:
        return read_engine_image(reference, self.client, gzip_level=PULL_GZIP_LEVEL if measure_pull else None,
                                 limits=self.settings.limits)

    def read_base(self, image: str, measure_pull: bool = False) -> Image:
        ensure_base(self.client, image, self.settings.offline)
        return self.read(image, measure_pull)._replace(bases=[self.describe_base(image)])

    def has_base(self, image: str) -> bool:
        try:
            self.client.images.get(image)
        except ImageNotFound:
            return False
        return True

    def describe_base(self, image: str) -> dict:
        return describe_base(self.client, image)

    def squash(self, reference: str, tag: str, onto: str | None = None) -> str:
        """docker-squash (from PyPI) through this engine: it keeps the config, and marks the squashed steps.

        Squashing ``onto`` a base squashes the history entries the image has beyond the
        base's, given to docker-squash as a count: BuildKit's images name no step's ID in
        their history (``<missing>``), so docker-squash cannot find the base there by its ID.
        """
        command = [python_tool("docker-squash", "docker-squash"), "-t", tag, reference]
        if onto is not None:
            command[1:1] = ["-f", str(self._steps_beyond(reference, onto))]
        done = subprocess.run(command, capture_output=True, text=True, timeout=600)
        if done.returncode != 0:
            last = [line for line in (done.stderr or done.stdout).splitlines() if line.strip()][-1:] or ["no output"]
            raise LayerLabError(f"docker-squash could not squash {reference}: {last[0]}", "check that the image exists")
        return tag

    def _steps_beyond(self, reference: str, base: str) -> int:
        """How many history entries ``reference`` has beyond ``base``'s; an error if it is not built on it."""
        try:
            image, under = self.client.images.get(reference), self.client.images.get(base)
        except ImageNotFound as exc:
            raise LayerLabError(f"docker-squash could not squash {reference}: {engine_reason(exc)}",
                                "check that the image and its base exist") from None
        layers, base_layers = (list((item.attrs.get("RootFS") or {}).get("Layers") or []) for item in (image, under))
        steps, base_steps = len(image.history()), len(under.history())
        if layers[:len(base_layers)] != base_layers or steps < base_steps:
            raise LayerLabError(f"docker-squash could not squash {reference} onto {base}: it is not built on {base}",
                                f"squash onto the image {reference} was built FROM, or squash all its layers")
        return steps - base_steps

    def save_stream(self, reference: str) -> BinaryIO:
        return save_stream(reference, self.client)

    def run(self, image: str, script: str, files: Mapping[str, bytes] | None = None,
            network: bool = False) -> RunResult:
        """``script`` in a container of ``image`` that is removed afterwards; ``files`` copied in before it starts."""
        ensure_base(self.client, image, self.settings.offline)
        container = self.client.containers.create(image, ["/bin/sh", "-c", script], network_disabled=not network)
        try:
            if files:
                container.put_archive("/", files_tar(files))
            container.start()
            status = container.wait(timeout=RUN_TIMEOUT)
            stdout = container.logs(stdout=True, stderr=False).decode("utf-8", "replace")
            stderr = container.logs(stdout=False, stderr=True).decode("utf-8", "replace")
        except (APIError, *TRANSPORT_ERRORS) as exc:
            raise LayerLabError(f"the Docker Engine could not run a container of {image}: {engine_reason(exc)}",
                                "check that dockerd is running, then try again") from exc
        finally:
            with contextlib.suppress(APIError, *TRANSPORT_ERRORS):
                container.remove(force=True)
        return RunResult(stdout, stderr, int(status.get("StatusCode", 1)))

    def metadata(self) -> dict:
        version = self.client.version()
        return {
            "engine": "Docker Engine",
            "engine_version": version.get("Version", "unknown"),
            "api_version": version.get("ApiVersion", "unknown"),
            "platform": f"{version.get('Os', 'unknown')}/{version.get('Arch', 'unknown')}",
        }
