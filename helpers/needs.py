"""What a notebook needs, and whether this machine has it.

A notebook declares its needs in its metadata, for example
``"layerlab": {"needs": ["engine", "internet"], "images": ["alpine:3.20.3"],
"recording": "recordings/seed.json.gz"}``:

* ``engine``: something to build with: a reachable Docker Engine, else the embedded builder;
* ``docker``: the Docker Engine itself (for tools that work through it, such as docker-squash);
* ``internet``: the network, which offline mode (``LAYERLAB_OFFLINE=1``) never has;
* ``images``: base images that must already be at hand when offline (in the Docker Engine, or
  for the embedded builder in its store or as a rootfs tarball under ``LAYERLAB_ROOTFS``);
* ``nbval``: ``"lax"`` to check live runs on the marked cells only (see :func:`compares_lax`);
* ``recording``: a recording (relative to the notebook) of everything the
  notebook builds; where it exists, the notebook replays it when it cannot
  build, so neither the engine nor the internet is then needed.
"""

from __future__ import annotations

from pathlib import Path

from .engine import ENGINE_LABELS, docker_client, offline, select_engine
from .errors import EngineUnavailable


def _has_base(engine: str, image: str) -> bool:
    if engine == "embedded":
        from .embedded import EmbeddedBuilder

        return EmbeddedBuilder().has_base(image)
    import docker.errors

    try:
        docker_client().images.get(image)
    except docker.errors.ImageNotFound:
        return False
    return True


def unmet(needs: dict, folder: Path | None = None) -> str | None:
    """The first need this machine cannot meet, in words, or ``None`` when all are met.

    ``folder`` is where the notebook lives (recordings are found relative to it).
    """
    wanted = set(needs.get("needs", []))
    recording = needs.get("recording")
    replayable = bool(recording and folder is not None and (folder / recording).is_file())
    if "internet" in wanted and offline():
        if replayable:
            return None
        missing = f", and its recording {recording} does not exist yet" if recording else ""
        return f"needs the internet, and offline mode (LAYERLAB_OFFLINE=1) is on{missing}"
    if "docker" in wanted:
        try:
            docker_client()
        except EngineUnavailable as exc:
            return None if replayable else f"needs the Docker Engine: {exc}"
    if "engine" in wanted:
        try:
            engine = select_engine("docker" if "docker" in wanted else None)
        except EngineUnavailable as exc:
            return None if replayable else f"needs an engine to build with: {exc}"
        if offline():
            for image in needs.get("images", []):
                if not _has_base(engine, image):
                    return (f"needs {image} for {ENGINE_LABELS[engine]}, and offline mode never pulls "
                            "(see .ci/run for how to make it)")
    return None


def compares_lax(needs: dict) -> bool:
    """True when a live run should compare only the cells marked ``# NBVAL_CHECK_OUTPUT``.

    That is a notebook that asks for it (``"nbval": "lax"``, because its exact
    sizes drift with the internet's packages) and is not replaying its recording:
    a replay reproduces the recorded outputs exactly, so it is checked strictly.
    """
    replaying = "internet" in needs.get("needs", []) and offline()
    return needs.get("nbval") == "lax" and not replaying
