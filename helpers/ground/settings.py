"""Every ``LAYERLAB_*`` setting, read once into one frozen :class:`Settings`, then passed down.

This is the one module that reads them from the environment, and only
:meth:`Settings.from_environment` does, called at the edges (the command line,
the notebooks' door, a :class:`helpers.edges.notebook.Lab`): a run sees one
value from start to end, and a bad value is refused before anything starts.
Below the edges, each function is handed the settings it needs.  The limits
(``LAYERLAB_MAX_*``) are :mod:`helpers.ground.limits`, and part of the settings.

================================  ==========================================================
``LAYERLAB_OFFLINE``              ``1``: offline mode, nothing pulled, builds get no network
``LAYERLAB_ENGINE``               ``docker``, ``embedded`` or ``recorded`` (default: whichever works)
``LAYERLAB_RECORD``               ``1``: a live notebook also writes its recording
``LAYERLAB_STORE``                the embedded builder's store (default ``~/.cache/layerlab``)
``LAYERLAB_ROOTFS``               folders of base rootfs tarballs, ``os.pathsep``-separated
``LAYERLAB_APKINDEX``             folders of Alpine's signed ``APKINDEX`` files, for ``apk`` offline
``LAYERLAB_DEBIAN_MIRROR``        the Debian mirror bases and builds use
``LAYERLAB_RUN``                  ``auto`` or ``proot``: how the embedded builder runs a ``RUN``
``LAYERLAB_DOCKER_BUILDER``       ``auto``, ``buildkit`` or ``classic``: which of the Docker Engine's builders builds
``LAYERLAB_VERIFY``               ``1``: hash uncompressed layers on disk too
``LAYERLAB_BUILDS_AT_ONCE``       how many builds of one notebook cell run at once (default 2; ``1``: one by one)
================================  ==========================================================
"""

from __future__ import annotations

import os
from collections import namedtuple
from collections.abc import Mapping
from pathlib import Path

from .errors import LayerLabError
from .limits import Limits

OFFLINE_VARIABLE = "LAYERLAB_OFFLINE"
ENGINE_VARIABLE = "LAYERLAB_ENGINE"
RECORD_VARIABLE = "LAYERLAB_RECORD"
STORE_VARIABLE = "LAYERLAB_STORE"
ROOTFS_VARIABLE = "LAYERLAB_ROOTFS"
APKINDEX_VARIABLE = "LAYERLAB_APKINDEX"
MIRROR_VARIABLE = "LAYERLAB_DEBIAN_MIRROR"
RUN_VARIABLE = "LAYERLAB_RUN"
VERIFY_VARIABLE = "LAYERLAB_VERIFY"
DOCKER_BUILDER_VARIABLE = "LAYERLAB_DOCKER_BUILDER"
BUILDS_AT_ONCE_VARIABLE = "LAYERLAB_BUILDS_AT_ONCE"
#: The most builds that run at once: each is a process of its own, with its own unpacked trees.
MAX_BUILDS_AT_ONCE = 8

#: The values ``LAYERLAB_ENGINE`` takes, and what each builder is called in a sentence.
ENGINES = ("docker", "embedded", "recorded")
ENGINE_LABELS = {"docker": "the Docker Engine", "docker+buildkit": "the Docker Engine (BuildKit)",
                 "embedded": "the embedded builder (umoci + proot)"}
#: What each builder is called where an image says what built it (:attr:`helpers.ground.model.Image.built_by`).
BUILDER_LABELS = {**ENGINE_LABELS, "docker": "the Docker Engine (classic builder)"}
#: The values ``LAYERLAB_RUN`` takes.
RUN_MODES = ("auto", "proot")
#: The values ``LAYERLAB_DOCKER_BUILDER`` takes: ``auto`` builds with BuildKit where a Docker CLI here can drive it
#: (as a current ``docker build`` does), else with the classic builder; ``buildkit`` builds everything with BuildKit,
#: through the Docker CLI, and stops where none can; ``classic`` builds with the classic builder, except
#: ``RUN --mount`` (BuildKit's alone).
DOCKER_BUILDERS = ("auto", "buildkit", "classic")

_SWITCH = {"1": True, "true": True, "yes": True, "on": True, "0": False, "false": False, "no": False, "off": False}


def _quoted(value: str, width: int = 60) -> str:
    """``value`` as a message quotes it: ``repr``, cut to ``width`` characters."""
    return repr(value) if len(value) <= width else repr(value[: width - 1]) + "…"


def read_switch(variable: str, value: str) -> bool:
    """An on/off setting: ``1/0``, ``true/false``, ``yes/no``, ``on/off`` (any case), unset for off; else an error."""
    value = value.strip()
    if not value:
        return False
    try:
        return _SWITCH[value.lower()]
    except KeyError:
        raise LayerLabError(f"{variable}={_quoted(value)} is neither on nor off",
                            f"set {variable} to 1 or 0 (true/false, yes/no and on/off are read too), "
                            "or unset it") from None


def read_store(value: str) -> Path:
    """``LAYERLAB_STORE``'s folder (``~`` and ``~user`` expanded), or the default; a clear error if it names none."""
    if not value.strip():
        return default_store()
    try:
        return Path(value.strip()).expanduser()
    except RuntimeError:  # ~user with no such user, or no home to expand ~ to
        raise LayerLabError(f"{STORE_VARIABLE}={_quoted(value)} names no folder: its ~ cannot be expanded",
                            f"set {STORE_VARIABLE} to a folder's full path, or unset it") from None


def read_folders(variable: str, value: str, what: str) -> tuple[Path, ...]:
    """A search path of folders (``os.pathsep``-separated; empty parts skipped), each of which must be a folder."""
    folders = tuple(Path(part).expanduser() for part in value.split(os.pathsep) if part.strip())
    for folder in folders:
        if not folder.is_dir():
            kind = "a file, not a folder" if folder.exists() else "no folder"
            raise LayerLabError(f"{variable} names {_quoted(str(folder))}, which is {kind}",
                                f"set {variable} to folders of {what}, separated by {os.pathsep!r}, or unset it")
    return folders


def read_mirror(value: str) -> str:
    """``LAYERLAB_DEBIAN_MIRROR``: an ``http://`` or ``https://`` address, or unset; else an error naming it."""
    if value and not (value.startswith(("http://", "https://")) and len(value) > len("https://")
                      and not any(c.isspace() for c in value)):
        raise LayerLabError(f"{MIRROR_VARIABLE}={_quoted(value)} is not the address of a mirror",
                            f"set {MIRROR_VARIABLE} to a Debian mirror's http:// or https:// address, or unset it "
                            "for the machine's own apt configuration")
    return value


def read_engine(value: str) -> str:
    """``LAYERLAB_ENGINE``, lower-cased (``auto`` when unset); a value that names no engine is an error naming it."""
    chosen = value.lower() or "auto"
    if chosen not in (*ENGINES, "auto"):
        raise LayerLabError(f"{ENGINE_VARIABLE}={_quoted(value)} is not an engine",
                            f"set it to one of: {', '.join(ENGINES)}, or unset it to use whichever works")
    return chosen


def check_engine(chosen: str) -> str:
    """``chosen`` if it names an engine (or ``auto``), else a clear error."""
    if chosen not in (*ENGINES, "auto"):
        raise LayerLabError(f"unknown engine {chosen!r}", f"use one of: {', '.join(ENGINES)} (or leave it unset)")
    return chosen


def check_run_mode(chosen: str) -> str:
    """``chosen`` if it is a way to run a ``RUN`` step (:data:`RUN_MODES`), else a clear error naming the variable."""
    if chosen not in RUN_MODES:
        raise LayerLabError(f"{RUN_VARIABLE}={chosen!r} is not a way to run a RUN step",
                            f"set it to one of: {', '.join(RUN_MODES)}, or leave it unset")
    return chosen


def check_docker_builder(chosen: str) -> str:
    """``chosen`` if it names one of the Docker Engine's builders (:data:`DOCKER_BUILDERS`), else a clear error."""
    if chosen not in DOCKER_BUILDERS:
        raise LayerLabError(f"{DOCKER_BUILDER_VARIABLE}={chosen!r} is not one of the Docker Engine's builders",
                            f"set it to one of: {', '.join(DOCKER_BUILDERS)}, or leave it unset")
    return chosen


def check_builds_at_once(chosen: int) -> int:
    """``chosen`` if it is a number of builds to run at once (1 to :data:`MAX_BUILDS_AT_ONCE`), else a clear error."""
    if isinstance(chosen, bool) or not isinstance(chosen, int) or not 1 <= chosen <= MAX_BUILDS_AT_ONCE:
        raise LayerLabError(f"{BUILDS_AT_ONCE_VARIABLE}={chosen!r} is not a number of builds to run at once",
                            f"set it to a whole number from 1 (one by one) to {MAX_BUILDS_AT_ONCE}, or unset it")
    return chosen


def read_builds_at_once(value: str) -> int:
    """``LAYERLAB_BUILDS_AT_ONCE``: a whole number from 1 to :data:`MAX_BUILDS_AT_ONCE`; 2 when unset."""
    if not value:
        return 2
    if not (value.isascii() and value.isdigit() and len(value) <= 3 and 1 <= int(value) <= MAX_BUILDS_AT_ONCE):
        raise LayerLabError(f"{BUILDS_AT_ONCE_VARIABLE}={_quoted(value)} is not a number of builds to run at once",
                            f"set it to a whole number from 1 (one by one) to {MAX_BUILDS_AT_ONCE}, or unset it")
    return int(value)


def default_store() -> Path:
    """The embedded builder's store when ``LAYERLAB_STORE`` is unset: ``~/.cache/layerlab``."""
    return Path.home() / ".cache" / "layerlab"


class Settings(namedtuple("Settings", "offline engine record store rootfs apk_indexes debian_mirror run_mode "
                                    "docker_builder verify limits builds_at_once")):
    """Every setting a run uses, fixed for the run.  ``Settings()`` is the documented defaults.

    ``offline``: nothing is pulled and builds get no network.  ``engine``: ``auto`` or one of
    :data:`ENGINES`.  ``record``: a live notebook also writes its recording.  ``store``: the
    embedded builder's store.  ``rootfs``: folders of base rootfs tarballs, in order.  ``apk_indexes``:
    folders of Alpine's signed ``APKINDEX`` files, which ``apk`` reads offline.
    ``debian_mirror``: the Debian mirror bases and builds use (``""``: the machine's apt
    configuration).  ``run_mode``: ``auto`` or ``proot``.  ``docker_builder``: ``auto``
    (BuildKit where a CLI can drive it, else the classic builder), ``buildkit`` (BuildKit for
    everything) or ``classic`` (BuildKit only for ``RUN --mount``).
    ``verify``: hash uncompressed layers on disk too.  ``limits``: the budgets (:class:`~helpers.ground.limits.Limits`).
    ``builds_at_once``: how many builds of one call run at once, where they share no step
    (:mod:`helpers.orchestration.parallel_builds`).

    A :func:`~collections.namedtuple`, as the model's records are (:mod:`helpers.ground.model` says
    why); made, or remade with ``_replace``, its values are checked.
    """

    __slots__ = ()
    offline: bool
    engine: str
    record: bool
    store: Path
    rootfs: tuple[Path, ...]
    apk_indexes: tuple[Path, ...]
    debian_mirror: str
    run_mode: str
    docker_builder: str
    verify: bool
    limits: Limits
    builds_at_once: int

    def __new__(cls, offline: bool = False, engine: str = "auto", record: bool = False, store: Path | None = None,
                rootfs: tuple[Path, ...] = (), apk_indexes: tuple[Path, ...] = (), debian_mirror: str = "",
                run_mode: str = "auto", docker_builder: str = "auto", verify: bool = False,
                limits: Limits | None = None, builds_at_once: int = 2) -> Settings:
        """The settings given, each checked; ``store`` left out is :func:`default_store`."""
        check_engine(engine)
        check_run_mode(run_mode)
        check_docker_builder(docker_builder)
        check_builds_at_once(builds_at_once)
        return super().__new__(cls, offline, engine, record, default_store() if store is None else store, rootfs,
                               apk_indexes, debian_mirror, run_mode, docker_builder, verify,
                               Limits() if limits is None else limits, builds_at_once)

    def _replace(self, **changes: object) -> Settings:
        """A copy with ``changes``, checked as a new one is."""
        return Settings(**{**self._asdict(), **changes})

    @classmethod
    def from_environment(cls, environ: Mapping[str, str] | None = None) -> Settings:
        """The settings ``environ`` (default: this process's environment) gives; a bad value is a clear error.

        Called at the edges only; everything below is handed the result.
        """
        env = os.environ if environ is None else environ

        def read(variable: str) -> str:
            return env.get(variable, "").strip()

        return cls(
            offline=read_switch(OFFLINE_VARIABLE, read(OFFLINE_VARIABLE)),
            engine=read_engine(read(ENGINE_VARIABLE)),
            record=read_switch(RECORD_VARIABLE, read(RECORD_VARIABLE)),
            store=read_store(read(STORE_VARIABLE)),
            rootfs=read_folders(ROOTFS_VARIABLE, env.get(ROOTFS_VARIABLE, ""), "base rootfs tarballs"),
            apk_indexes=read_folders(APKINDEX_VARIABLE, env.get(APKINDEX_VARIABLE, ""), "Alpine's APKINDEX files"),
            debian_mirror=read_mirror(read(MIRROR_VARIABLE)),
            run_mode=check_run_mode(read(RUN_VARIABLE).lower() or "auto"),
            docker_builder=check_docker_builder(read(DOCKER_BUILDER_VARIABLE).lower() or "auto"),
            verify=read_switch(VERIFY_VARIABLE, read(VERIFY_VARIABLE)),
            limits=Limits.from_environment(env),
            builds_at_once=read_builds_at_once(read(BUILDS_AT_ONCE_VARIABLE)),
        )
