"""Alpine's signed package indexes at hand: the ``APKINDEX`` files ``apk`` reads offline (``LAYERLAB_APKINDEX``).

Alpine's mirrors publish one index per release, repository and architecture,
signed with the release's keys (which every minirootfs holds in ``/etc/apk/keys``);
copies are kept under their release's name, ``v3.7.3-main-x86_64-APKINDEX.tar.gz``.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Iterable
from pathlib import Path

from ..ground.errors import LayerLabError

INDEX_NAME = "v{version}-{repository}-{arch}-APKINDEX.tar.gz"


def release(image: str) -> tuple[str, str]:
    """``alpine:3.19.4`` → ``("3.19.4", "3.19")``."""
    name, _, tag = image.rpartition(":")
    if name.split("/")[-1] != "alpine" or not re.fullmatch(r"\d+\.\d+(\.\d+)?", tag):
        raise LayerLabError(f"{image} is not an Alpine release (alpine:X.Y.Z)", "name an official Alpine image")
    return tag, ".".join(tag.split(".")[:2])


def find_index(image: str, folders: Iterable[Path], repository: str = "main", arch: str = "x86_64") -> Path | None:
    """The signed ``APKINDEX`` of ``image``'s release in ``folders``: its own point release, else its branch's."""
    version, branch = release(image)
    exact = INDEX_NAME.format(version=version, repository=repository, arch=arch)
    for folder in folders:
        if (folder / exact).is_file():
            return folder / exact
    for folder in folders:
        same_branch = sorted(folder.glob(INDEX_NAME.format(version=f"{branch}.*", repository=repository,
                                                            arch=arch)))
        if same_branch:
            return same_branch[-1]
    return None


#: Alpine's own mirror, which ``apk`` in a minirootfs reads online (its ``/etc/apk/repositories``).
MIRROR = "https://dl-cdn.alpinelinux.org/alpine/"


@functools.cache
def mirror_reason() -> str | None:
    """Why Alpine's mirror does not answer from here, in words; ``None`` when it does (asked once per process)."""
    import urllib.error
    import urllib.request

    try:
        with urllib.request.urlopen(urllib.request.Request(MIRROR, method="HEAD"), timeout=10):
            return None
    except (urllib.error.URLError, OSError, ValueError) as exc:
        return f"Alpine's mirror {MIRROR} does not answer ({getattr(exc, 'reason', exc)})"
