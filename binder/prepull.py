"""Put every base image the notebooks use into the embedded builder's store, once, when the Binder image is built.

    python binder/prepull.py            # repo2docker runs it from binder/postBuild

The notebooks name their bases in their metadata (``layerlab.images``).  Each
is imported into the store the embedded builder uses (``LAYERLAB_STORE``, or
``~/.cache/layerlab``, which ends up inside the Binder image): from a rootfs
tarball where ``LAYERLAB_ROOTFS`` has one, else pulled from Docker Hub.  So a
room of learners starts with the bases in place, and nobody's session pulls
them through mybinder.org's shared addresses.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def bases() -> list[str]:
    """Every image the notebooks' metadata names, in order, once."""
    found: dict[str, None] = {}
    for path in sorted((ROOT / "notebooks").glob("*.ipynb")):
        for image in json.loads(path.read_text()).get("metadata", {}).get("layerlab", {}).get("images", []):
            found[image] = None
    return list(found)


def main() -> int:
    sys.path.insert(0, str(ROOT))
    from helpers.building.embedded import EmbeddedBuilder
    from helpers.ground.errors import LayerLabError
    from helpers.ground.settings import Settings

    try:  # this script is an edge: it reads the settings once, and a bad one stops it before anything starts
        builder = EmbeddedBuilder(settings=Settings.from_environment())
    except LayerLabError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    failed = []
    for image in bases():
        try:
            print(f"{image}: {builder.base(image)} in {builder.layout}", flush=True)
        except LayerLabError as exc:
            failed.append(f"{image}: {exc}")
    for line in failed:
        print(f"error: {line}", file=sys.stderr)
    return 2 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
