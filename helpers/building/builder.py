"""What every builder can do, whichever it is: the :class:`Builder` protocol (:mod:`.selection` picks one).

Two builders implement it: :class:`helpers.building.docker_builder.DockerBuilder`
(the Docker Engine, through the Docker SDK) and
:class:`helpers.building.embedded.EmbeddedBuilder` (skopeo, umoci and proot, no
daemon).  Callers hold a builder and call it; nothing branches on its name.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO, Protocol

from ..ground.dockerfile import Dockerfile
from ..ground.model import Image
from ..ground.steps import Progress


@dataclass(frozen=True)
class RunResult:
    """What a command run in a throwaway container printed, and how it ended (``docker run --rm``)."""

    stdout: str
    stderr: str
    returncode: int


@dataclass(frozen=True)
class BuiltImage:
    """What a build made: the ``reference`` :meth:`Builder.read` takes, the image's ID, and the bases it used."""

    reference: str
    image_id: str
    bases: tuple[str, ...]
    #: What built it, when not the builder's usual way (``docker+buildkit``: a key of ``ENGINE_LABELS``).
    engine: str | None = None


class Builder(Protocol):
    """A way to build Dockerfiles and read what they made."""

    #: What ``LAYERLAB_ENGINE`` calls it: ``docker`` or ``embedded``.
    name: str
    #: What it is called in a sentence ("the Docker Engine").
    label: str

    def build(self, dockerfile: Dockerfile, context: Path | None, name: str, tag: str,
              progress: Progress | None, network: bool) -> BuiltImage:
        """Build ``dockerfile`` (in ``context``, or an empty one) as ``tag``, reporting each step to ``progress``."""
        ...

    def read(self, reference: str, measure_pull: bool = False) -> Image:
        """The image ``reference`` names, its ``source`` saying where it is; ``measure_pull`` gzips each layer too."""
        ...

    def read_base(self, image: str, measure_pull: bool = False) -> Image:
        """A base image by name, brought in first if it is not here (offline: a clear error), with its provenance."""
        ...

    def has_base(self, image: str) -> bool:
        """Whether a build could use ``image`` as a base without the network."""
        ...

    def describe_base(self, image: str) -> dict:
        """Where a base image came from: ``image``, ``id``, ``rootfs``, ``made`` (pulled or made locally), ``from``."""
        ...

    def squash(self, reference: str, tag: str, onto: str | None = None) -> str:
        """Squash image ``reference`` into ``tag``: every layer, or those above base ``onto``; the new reference."""
        ...

    def save_stream(self, reference: str) -> BinaryIO:
        """The image as a ``docker save`` archive stream."""
        ...

    def run(self, image: str, script: str, files: Mapping[str, bytes] | None = None,
            network: bool = False) -> RunResult:
        """Run ``script`` with ``/bin/sh`` in a throwaway container of base ``image``, ``files`` placed in it first.

        Like ``docker run --rm``: nothing the script writes is kept.  ``network``: whether it gets one.
        """
        ...

    def metadata(self) -> dict:
        """What a recording keeps of the builder: ``engine``, ``engine_version``, ``api_version``, ``platform``."""
        ...


def describe_bases(builder: Builder, images: Iterable[str]) -> list[dict]:
    """:meth:`Builder.describe_base` for each image, in order, each once."""
    return [builder.describe_base(image) for image in dict.fromkeys(images)]


def files_tar(files: Mapping[str, bytes]) -> bytes:
    """``files`` (absolute path in the image → bytes) as a tar, their folders included, for a container to receive."""
    import io
    import tarfile

    out = io.BytesIO()
    folders: set[str] = set()
    with tarfile.open(fileobj=out, mode="w") as tar:
        for path, data in files.items():
            parts = path.strip("/").split("/")
            for depth in range(1, len(parts)):
                folder = "/".join(parts[:depth])
                if folder not in folders:
                    folders.add(folder)
                    info = tarfile.TarInfo(folder)
                    info.type, info.mode = tarfile.DIRTYPE, 0o755
                    tar.addfile(info)
            info = tarfile.TarInfo("/".join(parts))
            info.size, info.mode = len(data), 0o644
            tar.addfile(info, io.BytesIO(data))
    return out.getvalue()
