"""Collection rules for the notebooks: skip, with the reason shown, what this machine cannot run.

Each notebook declares its needs in its metadata (see :mod:`helpers.orchestration.needs`).

A notebook whose exact sizes drift with the internet's packages says
``"nbval": "lax"`` there: its live runs compare only the cells marked
tagged ``nbval-check-output`` (the lesson's invariants; tags, in the cell's
metadata, keep test machinery out of the learner's sight).  Offline it replays its
recording, which gives the recorded outputs exactly, so it is checked strictly.
Cells never run (no execution count) are executed but not compared.
A cell tagged ``layerlab-builder-output`` shows what differs between builders
(BuildKit's ``/etc`` entries, the history's spelling): it is compared only where
the builder that runs made the stored outputs (a Docker Engine with BuildKit, for
the committed notebooks), and run unchecked elsewhere (the embedded builder).
With ``LAYERLAB_REQUIRE_ENGINE=1`` (as in CI) a missing engine or image stops
the run instead of skipping: CI must never go green by skipping.  Needing the
internet in offline mode, or Debian's package registry where it does not
answer, is always a skip (and a notebook with its recording replays instead).
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest


def _metadata(path: Path) -> dict:
    return json.loads(path.read_text()).get("metadata", {}).get("layerlab", {})


def _marked_check(cell) -> bool:
    return "nbval-check-output" in cell.metadata.get("tags", [])


def _marked_builder_output(cell) -> bool:
    from helpers.orchestration.needs import BUILDER_OUTPUT_TAG

    return BUILDER_OUTPUT_TAG in cell.metadata.get("tags", [])


def pytest_collection_modifyitems(config, items):
    from helpers.ground.settings import Settings
    from helpers.orchestration.needs import compares_builder_output, compares_lax, unmet

    settings = Settings.from_environment()  # once, for the whole collection
    verdicts: dict[Path, str | None] = {}
    same_builder: dict[Path, bool] = {}
    for item in items:
        path = Path(str(item.fspath))
        if path.suffix != ".ipynb":
            continue
        if path not in verdicts:
            verdicts[path] = unmet(_metadata(path), path.parent, settings=settings)
        reason = verdicts[path]
        if reason is None:
            if compares_lax(_metadata(path), path.parent, settings=settings):
                item.options["check"] = _marked_check(item.cell)
            elif _marked_builder_output(item.cell):
                if path not in same_builder:
                    same_builder[path] = compares_builder_output(json.loads(path.read_text()), _metadata(path),
                                                                 path.parent, settings=settings)
                item.options["check"] = same_builder[path]
            continue
        network = "needs the internet" in reason or "needs Debian's package registry" in reason
        if os.environ.get("LAYERLAB_REQUIRE_ENGINE") == "1" and not network:
            raise pytest.UsageError(f"{path.name} {reason} (LAYERLAB_REQUIRE_ENGINE=1)")
        item.add_marker(pytest.mark.skip(reason=f"{path.name} {reason}"))
