"""What a notebook needs, and whether this machine has it.

A notebook declares its needs in its metadata, for example
``"layerlab": {"needs": ["engine", "internet"], "images": ["alpine:3.20.3"]}``:

* ``engine``: a reachable Docker Engine;
* ``internet``: the network, which offline mode (``LAYERLAB_OFFLINE=1``) never has;
* ``images``: images that must already be in the engine when offline.
"""

from __future__ import annotations

from .engine import docker_client, offline
from .errors import EngineUnavailable


def unmet(needs: dict) -> str | None:
    """The first need this machine cannot meet, in words, or ``None`` when all are met."""
    wanted = set(needs.get("needs", []))
    if "internet" in wanted and offline():
        return "needs the internet, and offline mode (LAYERLAB_OFFLINE=1) is on"
    if "engine" in wanted:
        try:
            client = docker_client()
        except EngineUnavailable as exc:
            return f"needs a Docker Engine: {exc}"
        if offline():
            import docker.errors

            for image in needs.get("images", []):
                try:
                    client.images.get(image)
                except docker.errors.ImageNotFound:
                    return f"needs {image} in the engine, and offline mode never pulls (see .ci/run for how to make it)"
    return None
