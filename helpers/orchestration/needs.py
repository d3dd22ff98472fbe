"""What a notebook needs, and whether this machine has it.

A notebook declares its needs in its metadata, for example
``"layerlab": {"needs": ["engine", "packages"], "images": ["debian:bookworm-slim"],
"recording": "recordings/debian.json.gz", "nbval": "lax"}``:

* ``engine``: something to build with: a reachable Docker Engine, else the embedded builder;
* ``docker``: the Docker Engine itself (for tools that work through it, such as docker-squash);
* ``internet``: the network, which offline mode (``LAYERLAB_OFFLINE=1``) never has, and where Alpine's
  mirror answers (the internet's stand-in here: the notebooks that need it build on Alpine);
* ``packages``: Debian's package registry, which ``apt-get`` in a build reaches; a
  machine may have it offline (see :mod:`helpers.building.registry`);
* ``pypi``: PyPI, which pip on this machine reaches for the wheels a build installs
  (see :mod:`helpers.orchestration.wheels`); a machine may have it offline too;
* ``apk``: Alpine's package indexes for the Alpine ``images``: copies of the signed
  ``APKINDEX`` files in ``LAYERLAB_APKINDEX``, else (online) Alpine's mirror, if it answers;
* ``images``: base images that must already be at hand when offline (in the Docker Engine, or
  for the embedded builder in its store or as a rootfs tarball under ``LAYERLAB_ROOTFS``);
* ``nbval``: ``"lax"`` to check live runs on the marked cells only (see :func:`compares_lax`);
  and in any notebook, a cell tagged ``layerlab-builder-output`` shows what differs between
  builders (BuildKit's ``/etc`` entries, its history's spelling): it is compared only where
  the builder that runs is the one that made the stored outputs (see :func:`compares_builder_output`);
* ``recording``: a recording (relative to the notebook) of everything the
  notebook builds and reads; where it exists, the notebook replays it when it
  cannot run live, so nothing above is then needed.

:func:`live_blocker` is the one rule for "can this run live here?": the test
run (``conftest.py``) and :class:`helpers.orchestration.lab.Lab` both ask it.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from pathlib import Path

from ..building.apk_indexes import find_index, mirror_reason
from ..building.docker_builder import uses_buildkit
from ..building.registry import registry_reason
from ..building.selection import select_builder
from ..ground.errors import EngineUnavailable
from ..ground.settings import APKINDEX_VARIABLE, BUILDER_LABELS, Settings
from ..reading.daemon import docker_client
from .wheels import pypi_reason


def live_blocker(needs: Iterable[str], images: Iterable[str] = (), *, settings: Settings) -> str | None:
    """Why builds with these needs cannot run live here, with these ``settings``, in words; ``None`` when they can."""
    wanted = set(needs)
    offline = settings.offline
    if "internet" in wanted and offline:
        return "needs the internet, and offline mode (LAYERLAB_OFFLINE=1) is on"
    if "internet" in wanted and (reason := mirror_reason()) is not None:
        return f"needs the internet, and {reason}"
    if "packages" in wanted:
        reason = registry_reason(offline, settings.debian_mirror)
        if reason is not None:
            return f"needs Debian's package registry, and {reason}"
    if "apk" in wanted:
        for image in images:
            if not image.startswith("alpine:") or find_index(image, settings.apk_indexes) is not None:
                continue
            if offline:
                return (f"needs Alpine's signed package index for {image}, and offline mode has no copy of it "
                        f"({APKINDEX_VARIABLE})")
            if (reason := mirror_reason()) is not None:
                return f"needs Alpine's package index for {image}: {reason}, and {APKINDEX_VARIABLE} has no copy"
    if "pypi" in wanted:
        reason = pypi_reason()
        if reason is not None:
            return f"needs PyPI for the wheels its builds install: {reason}"
    if "docker" in wanted:
        try:
            docker_client()
        except EngineUnavailable as exc:
            return f"needs the Docker Engine: {exc}"
    if "engine" in wanted or "docker" in wanted:
        try:
            builder = select_builder("docker" if "docker" in wanted else None, settings=settings)
        except EngineUnavailable as exc:
            return f"needs an engine to build with: {exc}"
        if offline:
            for image in images:
                if not builder.has_base(image):
                    return (f"needs {image} for {builder.label}, and offline mode never pulls "
                            "(make it with `python -m helpers base`, as .ci/run does)")
    return None


def _replayable(metadata: dict, folder: Path | None) -> bool:
    recording = metadata.get("recording")
    return bool(recording and folder is not None and (folder / recording).is_file())


def unmet(metadata: dict, folder: Path | None = None, *, settings: Settings) -> str | None:
    """The first need this machine cannot meet, in words, or ``None`` when the notebook can run.

    It can run live when :func:`live_blocker` finds nothing missing, and by
    replay when something is missing but its recording exists.  ``folder`` is
    where the notebook lives (recordings are found relative to it).
    """
    reason = live_blocker(metadata.get("needs", []), metadata.get("images", []), settings=settings)
    if reason is None or _replayable(metadata, folder):
        return None
    recording = metadata.get("recording")
    return reason + (f", and its recording {recording} does not exist yet" if recording else "")


def replays(metadata: dict, folder: Path | None = None, *, settings: Settings) -> bool:
    """True when the notebook will replay its recording here rather than run live."""
    return live_blocker(metadata.get("needs", []), metadata.get("images", []), settings=settings) is not None \
        and _replayable(metadata, folder)


def compares_lax(metadata: dict, folder: Path | None = None, *, settings: Settings) -> bool:
    """True when a run should compare only the cells tagged ``nbval-check-output``.

    That is a notebook that asks for it (``"nbval": "lax"``, because its exact
    sizes drift with the packages its builds download) and runs live: a replay
    reproduces the recorded outputs exactly, so it is checked strictly.
    """
    return metadata.get("nbval") == "lax" and live_blocker(metadata.get("needs", []),
                                                           metadata.get("images", []), settings=settings) is None


#: The tag of a cell whose output differs between builders (see :func:`compares_builder_output`).
BUILDER_OUTPUT_TAG = "layerlab-builder-output"
_BUILT_BY = re.compile("built by (" + "|".join(re.escape(label) for label in BUILDER_LABELS.values()) + ")")


def stored_builders(notebook: dict) -> set[str]:
    """Which builders made a notebook's stored outputs, as its build lines say (keys of ``BUILDER_LABELS``)."""
    keys = {label: key for key, label in BUILDER_LABELS.items()}
    found = set()
    for cell in notebook.get("cells", []):
        for output in cell.get("outputs", []) if cell.get("cell_type") == "code" else []:
            text = output.get("text") or output.get("data", {}).get("text/plain") or ""
            found |= {keys[match] for match in _BUILT_BY.findall("".join(text) if isinstance(text, list) else text)}
    return found


def live_builder(settings: Settings) -> str | None:
    """The builder a live run uses here (a key of ``BUILDER_LABELS``), for a Dockerfile without ``RUN --mount``.

    ``None`` where nothing builds (notebooks replay their recordings).
    """
    try:
        builder = select_builder(settings=settings)
    except EngineUnavailable:
        return None
    if builder.name != "docker":
        return builder.name
    return "docker+buildkit" if uses_buildkit(settings) else "docker"


def compares_builder_output(notebook: dict, metadata: dict, folder: Path | None = None, *,
                            settings: Settings) -> bool:
    """True when cells tagged :data:`BUILDER_OUTPUT_TAG` are compared: the run is the stored outputs' own kind.

    That is a replay (it reproduces the recorded outputs), or a live run by the one builder
    whose build lines the stored outputs show.  Another builder commits other entries
    (BuildKit's ``/etc`` in each ``RUN`` layer) and spells its history otherwise, so there
    those cells are run but not compared; the notebook's other cells still are.
    """
    if replays(metadata, folder, settings=settings):
        return True
    return stored_builders(notebook) == {live_builder(settings)}
