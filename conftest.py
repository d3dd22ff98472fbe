"""Collection rules for the notebooks: skip, with the reason shown, what this machine cannot run.

A notebook declares what it needs in its metadata::

    "layerlab": {"needs": ["engine", "internet"], "images": ["alpine:3.20.3"]}

* ``engine``: a reachable Docker Engine;
* ``internet``: the network; never available in offline mode (``LAYERLAB_OFFLINE=1``);
* ``images``: images that must already be in the engine when offline.

With ``LAYERLAB_REQUIRE_ENGINE=1`` (as in CI) a missing engine or image fails
the run instead of skipping: CI must never go green by skipping.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest


def _require_engine() -> bool:
    return os.environ.get("LAYERLAB_REQUIRE_ENGINE", "") == "1"


def _missing(needs: dict) -> str | None:
    from helpers.engine import docker_client, offline

    wanted = set(needs.get("needs", []))
    if "internet" in wanted and offline():
        return "needs the internet, and offline mode (LAYERLAB_OFFLINE=1) is on"
    if "engine" in wanted:
        from helpers.errors import EngineUnavailable

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


def pytest_collection_modifyitems(config, items):
    verdicts: dict[Path, str | None] = {}
    for item in items:
        path = Path(str(item.fspath))
        if path.suffix != ".ipynb":
            continue
        if path not in verdicts:
            meta = json.loads(path.read_text()).get("metadata", {}).get("layerlab", {})
            verdicts[path] = _missing(meta)
        reason = verdicts[path]
        if reason is None:
            continue
        if _require_engine() and "internet" not in reason:
            raise pytest.UsageError(f"{path.name} {reason} (LAYERLAB_REQUIRE_ENGINE=1)")
        item.add_marker(pytest.mark.skip(reason=f"{path.name} {reason}"))
