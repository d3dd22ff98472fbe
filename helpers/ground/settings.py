"""Every ``LAYERLAB_*`` setting but the limits (those are :mod:`helpers.ground.limits`): its name, and how it is read.

This is the one module that reads them from the environment; the rest of the
package asks it.

================================  ==========================================================
``LAYERLAB_OFFLINE``              ``1``: offline mode, nothing pulled, builds get no network
``LAYERLAB_ENGINE``               ``docker``, ``embedded`` or ``recorded`` (default: whichever works)
``LAYERLAB_RECORD``               ``1``: a live notebook also writes its recording
``LAYERLAB_STORE``                the embedded builder's store (default ``~/.cache/layerlab``)
``LAYERLAB_ROOTFS``               folders of base rootfs tarballs, ``os.pathsep``-separated
``LAYERLAB_DEBIAN_MIRROR``        the Debian mirror bases and builds use
``LAYERLAB_RUN``                  ``auto`` or ``proot``: how the embedded builder runs a ``RUN``
``LAYERLAB_VERIFY``               ``1``: hash uncompressed layers on disk too
================================  ==========================================================
"""

from __future__ import annotations

import os
from pathlib import Path

from .errors import LayerLabError

OFFLINE_VARIABLE = "LAYERLAB_OFFLINE"
ENGINE_VARIABLE = "LAYERLAB_ENGINE"
RECORD_VARIABLE = "LAYERLAB_RECORD"
STORE_VARIABLE = "LAYERLAB_STORE"
ROOTFS_VARIABLE = "LAYERLAB_ROOTFS"
MIRROR_VARIABLE = "LAYERLAB_DEBIAN_MIRROR"
RUN_VARIABLE = "LAYERLAB_RUN"
VERIFY_VARIABLE = "LAYERLAB_VERIFY"

#: The values ``LAYERLAB_ENGINE`` takes, and what each builder is called in a sentence.
ENGINES = ("docker", "embedded", "recorded")
ENGINE_LABELS = {"docker": "the Docker Engine", "embedded": "the embedded builder (umoci + proot)"}
#: The values ``LAYERLAB_RUN`` takes.
RUN_MODES = ("auto", "proot")

_TRUE = {"1", "true", "yes", "on"}


def _read(variable: str) -> str:
    return os.environ.get(variable, "").strip()


def offline() -> bool:
    """True when ``LAYERLAB_OFFLINE`` is set to a true value (``1``, ``true``, ``yes``, ``on``)."""
    return _read(OFFLINE_VARIABLE).lower() in _TRUE


def engine_choice() -> str:
    """``LAYERLAB_ENGINE`` in lowercase, or ``auto`` when it is unset; another value is a clear error."""
    chosen = _read(ENGINE_VARIABLE).lower() or "auto"
    return check_engine(chosen)


def check_engine(chosen: str) -> str:
    """``chosen`` if it names an engine (or ``auto``), else a clear error."""
    if chosen not in (*ENGINES, "auto"):
        raise LayerLabError(f"unknown engine {chosen!r}", f"use one of: {', '.join(ENGINES)} (or leave it unset)")
    return chosen


def recording_requested() -> bool:
    """Whether a live notebook also writes its recording: ``LAYERLAB_RECORD=1``."""
    return _read(RECORD_VARIABLE) == "1"


def store_root() -> Path:
    """Where the embedded builder keeps its OCI layout and cache: ``LAYERLAB_STORE`` or ``~/.cache/layerlab``."""
    return Path(os.environ.get(STORE_VARIABLE) or Path.home() / ".cache" / "layerlab").expanduser()


def rootfs_folders() -> list[Path]:
    """The folders listed in ``LAYERLAB_ROOTFS`` (``os.pathsep``-separated), in order."""
    return [Path(folder) for folder in os.environ.get(ROOTFS_VARIABLE, "").split(os.pathsep) if folder]


def debian_mirror_override() -> str:
    """``LAYERLAB_DEBIAN_MIRROR``, or ``""`` to take the machine's own apt configuration."""
    return _read(MIRROR_VARIABLE)


def run_mode() -> str:
    """``auto`` or ``proot``, from ``LAYERLAB_RUN``; anything else is a clear error."""
    chosen = (os.environ.get(RUN_VARIABLE) or "auto").strip().lower()
    if chosen not in RUN_MODES:
        raise LayerLabError(f"{RUN_VARIABLE}={chosen!r} is not a way to run a RUN step",
                            f"set it to one of: {', '.join(RUN_MODES)}, or leave it unset")
    return chosen


def verify_default() -> bool:
    """Whether uncompressed blobs in files are hashed too: ``LAYERLAB_VERIFY=1`` (default: no).

    Compressed blobs and streams are always hashed: their bytes are read anyway.
    """
    return os.environ.get(VERIFY_VARIABLE, "") not in ("", "0")
