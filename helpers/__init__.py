"""Measure every layer of a container image: what each stores, what stays visible, and what is wasted.

This module is the notebooks' one door: every name they use is here, imported
on first use (the tables need pandas, which the command line's report does
not).  Start with :func:`read_image` (an archive, an OCI layout, or an image in
the engine) and :func:`analyze`; build Dockerfiles side by side with
:func:`build_variants`.  ``python -m helpers --help`` is the command line.

The ``LAYERLAB_*`` settings are read here, at the door, once per call (a
:class:`Lab` reads them when it is made), and handed down as one frozen
:class:`~helpers.ground.settings.Settings`; nothing inside reads the environment.

Inside, the package is in rooms, each importing only the ones below it
(``pyproject.toml``'s import contracts check that):

=================  ==============================================================
``edges``          the command line, the notebooks' helpers, build progress, the seed
``orchestration``  sources, builds, recordings and replays, needs, squash, lint
``views``          tables, plots, the text report, budgets, the file explorer
``building``       the Docker Engine, the embedded builder, base images
``measuring``      merging layers, the metrics, dive's score, :class:`Analysis`
``reading``        tar headers, layer streams, archives and OCI layouts
``ground``         errors, the model, settings, limits, the Dockerfile, sizes
=================  ==============================================================
"""

from __future__ import annotations

import importlib

#: Each name the notebooks use, and the module it lives in.
_NAMES = {
    "Analysis": "measuring.analysis",
    "analyze": "measuring.analysis",
    "LayerLabError": "ground.errors",
    "BuildFailed": "ground.errors",
    "format_bytes": "ground.sizes",
    "read_image": "reading.images",
    "save_stream": "orchestration.sources",
    "select_engine": "orchestration.builds",
    "require_built": "orchestration.builds",
    "Lab": "edges.notebook",
    "live_reason": "orchestration.lab",
    "squash": "orchestration.squash",
    "hadolint": "orchestration.lint",
    "attempts_table": "views.tables",
    "apk_packages": "views.tables",
    "apk_steps": "views.tables",
    "prediction_table": "views.tables",
    "predict_book": "measuring.prediction",
    "Wheels": "orchestration.wheels",
    "attribution": "views.tables",
    "layer_breakdown": "views.tables",
    "package_changes": "views.tables",
    "reclaimable_paths": "views.tables",
    "top_paths": "views.tables",
    "unshared_bytes": "views.tables",
    "short_digests": "views.report",
    "Budget": "views.budget",
    "parse_budget_size": "views.budget",
    "fleet_growth": "views.fleet",
    "fleet_figures": "views.fleet",
    "explore": "views.explorer",
    "attempt_or_replay": "edges.notebook",
    "build_or_replay": "edges.notebook",
    "builder_note": "edges.notebook",
    "familiar_sizes": "edges.notebook",
    "headline": "edges.notebook",
    "layer_table": "edges.notebook",
    "ours_and_dives": "edges.notebook",
    "setup": "edges.notebook",
    "show_dockerfiles": "edges.notebook",
    "side_by_side": "edges.notebook",
    "print_progress": "edges.progress",
    "BOOK_DOCKERFILE": "edges.seed",
    "BOOK_APK_STEPS": "edges.seed",
    "BOOK_WHEELS": "edges.seed",
    "DEBIAN_WHEELS": "edges.seed",
    "MOUNT_WHEELS": "edges.seed",
    "apt_variants": "edges.seed",
    "fleet_variants": "edges.seed",
    "lab_variants": "edges.seed",
    "seed_variants": "edges.seed",
    "APP_BUDGET": "edges.app",
    "APP_DOCKERFILE": "edges.app",
    "app_context": "edges.app",
}
#: Modules the notebooks use whole.
_MODULES = {"plots": "views.plots"}
#: The names above that take ``settings``: through this door, each call reads them from the environment
#: (once per call; see :mod:`helpers.edges.environment`) unless it passes its own.
_SETTLED = {"read_image", "save_stream", "select_engine", "live_reason", "squash"}

__all__ = sorted([*_NAMES, *_MODULES, "build", "build_variants"])


def build(*args, progress=None, settings=None, **kwargs):
    """Build one Dockerfile, printing each step as it lands; see :func:`helpers.orchestration.builds.build`.

    The settings are read from the environment unless passed.
    """
    from .edges.environment import settled
    from .edges.progress import print_progress
    from .orchestration.builds import build as _build

    return settled(_build)(*args, progress=progress or print_progress(), settings=settings, **kwargs)


def build_variants(*args, progress=None, settings=None, **kwargs):
    """Build Dockerfiles side by side, printing each step; see :func:`helpers.orchestration.builds.build_variants`.

    The settings are read from the environment unless passed.
    """
    from .edges.environment import settled
    from .edges.progress import print_progress
    from .orchestration.builds import build_variants as _build_variants

    return settled(_build_variants)(*args, progress=progress or print_progress(), settings=settings, **kwargs)


def __getattr__(name: str):
    if name in _NAMES:
        value = getattr(importlib.import_module(f".{_NAMES[name]}", __name__), name)
        if name in _SETTLED:
            value = importlib.import_module(".edges.environment", __name__).settled(value)
    elif name in _MODULES:
        value = importlib.import_module(f".{_MODULES[name]}", __name__)
    else:
        raise AttributeError(f"module 'helpers' has no attribute {name!r}")
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted({*globals(), *__all__})
