"""Build progress: one line per image when it is built, its layers counted as the tables count them.

``[multi-RUN] built by the Docker Engine (classic builder) from alpine:3.20.3 (made locally): 4 layers, 23.4 MiB
stored: L0 7.4 MiB · L1 16.0 MiB · L2 85 B · L3 0 B``; ``from`` names every base a ``FROM``
used.  The layers and their sizes are read from the image that was built, in the tables' own
units (regular-file bytes, ``L0`` the base), never guessed from the Dockerfile: which
instructions commit a layer is the engine's business (the classic builder commits ``WORKDIR``
when it makes the folder, and leaves an empty ``RUN`` out).  With ``steps=True`` each step is
also printed as it lands, for long builds and the command line.
"""

from __future__ import annotations

import sys
from typing import TYPE_CHECKING, TextIO

from ..ground.settings import BUILDER_LABELS
from ..ground.sizes import format_bytes
from ..ground.steps import BuildStep, Progress

if TYPE_CHECKING:  # the command line's report loads no table library
    from ..measuring.analysis import Analysis

#: The most layers one line names; the rest are counted.
MAX_NAMED_LAYERS = 12


def image_line(name: str, engine: str, analysis: Analysis) -> str:
    """The one line a built image gets: its layers and their stored bytes, its bases, and what built it."""
    stored = [int(size) for size in analysis.layers["stored_bytes"]]
    named = " · ".join(f"L{index} {format_bytes(size)}" for index, size in enumerate(stored[:MAX_NAMED_LAYERS]))
    if len(stored) > MAX_NAMED_LAYERS:
        named += f" · and {len(stored) - MAX_NAMED_LAYERS} more"
    bases = ", ".join(f"{base.get('image')} ({base.get('made')})" for base in analysis.image.bases
                      if base.get("image"))
    count = f"{len(stored)} layer" + ("" if len(stored) == 1 else "s")
    return (f"[{name}] built by {BUILDER_LABELS.get(engine, engine)}{f' from {bases}' if bases else ''}: "
            f"{count}, {format_bytes(analysis.stored_bytes)} stored: {named}")


class _ProgressPrinter:
    def __init__(self, stream: TextIO | None, steps: bool) -> None:
        self.stream = stream
        self.steps = steps

    def __call__(self, name: str, step: BuildStep) -> None:
        if not self.steps:
            return
        text = " ".join(step.instruction.split())  # a continued RUN's runs of spaces, as one
        text = text if len(text) <= 100 else text[:99] + "…"
        base = f"  → base {step.base}" if step.base else ""
        self._print(f"[{name}] step {step.number}/{step.total}  {text}{base}")

    def done(self, name: str, engine: str, analysis: Analysis | None = None) -> None:
        """Say what ``name`` is made of, and which engine built it."""
        if analysis is None:
            self._print(f"[{name}] built by {BUILDER_LABELS.get(engine, engine)}")
        else:
            self._print(image_line(name, engine, analysis))

    def _print(self, line: str) -> None:
        print(line, file=self.stream or sys.stdout, flush=True)


def print_progress(stream: TextIO | None = None, steps: bool = False) -> Progress:
    """A progress callback that prints one line per image as it is built (see :func:`image_line`).

    With ``steps``, every step too, ``[name] step k/n INSTRUCTION``, as it lands.  It prints
    nothing that changes between runs of the same build (no ids, no cache hits, no timings).
    """
    return _ProgressPrinter(stream, steps)
