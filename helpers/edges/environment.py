"""The environment, read at the edge: each call through the notebooks' door reads the settings once.

Below the edges nothing reads ``LAYERLAB_*``; each function is handed a
:class:`~helpers.ground.settings.Settings`.  :func:`settled` makes a function
that takes ``settings`` read them from the environment when the caller
passes none, once per call, so a notebook cell that changes the environment
sees the change in its next call, and one call never sees two values.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import TypeVar

from ..ground.settings import Settings

F = TypeVar("F", bound=Callable)


def settled(function: F) -> F:
    """``function`` with ``settings`` read from the environment (once per call) unless they are passed."""

    @functools.wraps(function)
    def call(*args, settings: Settings | None = None, **kwargs):
        return function(*args, settings=settings or Settings.from_environment(), **kwargs)

    return call  # type: ignore[return-value]
