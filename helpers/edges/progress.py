"""Build progress shown as it lands: ``[name] step k/n INSTRUCTION → SIZE``, and which builder built it."""

from __future__ import annotations

import sys
from typing import TextIO

from ..ground.settings import ENGINE_LABELS
from ..ground.sizes import format_bytes
from ..ground.steps import BuildStep, Progress

_LAYER_INSTRUCTIONS = {"RUN", "COPY", "ADD"}


class _ProgressPrinter:
    def __init__(self, stream: TextIO | None) -> None:
        self.stream = stream

    def __call__(self, name: str, step: BuildStep) -> None:
        text = " ".join(step.instruction.split())  # a continued RUN's runs of spaces, as one
        text = text if len(text) <= 100 else text[:99] + "…"
        keyword = step.instruction.split(" ", 1)[0].upper()
        if keyword in _LAYER_INSTRUCTIONS and step.layer_bytes is not None:
            size = f"layer {format_bytes(step.layer_bytes)}"
        elif keyword == "FROM":
            size = f"base {step.base}" if step.base else "base"
        else:
            size = "no layer"
        self._print(f"[{name}] step {step.number}/{step.total}  {text}  → {size}")

    def done(self, name: str, engine: str) -> None:
        """Say which engine built ``name``."""
        self._print(f"[{name}] built by {ENGINE_LABELS[engine]}")

    def _print(self, line: str) -> None:
        print(line, file=self.stream or sys.stdout, flush=True)


def print_progress(stream: TextIO | None = None) -> Progress:
    """A progress callback that prints ``[name] step k/n INSTRUCTION → SIZE`` as each step lands.

    It prints nothing that changes between runs (no ids, no cache hits, no
    timings), and at the end of each build which engine built it.
    """
    return _ProgressPrinter(stream)
