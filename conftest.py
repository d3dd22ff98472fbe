"""Collection rules for the notebooks: skip, with the reason shown, what this machine cannot run.

Each notebook declares its needs in its metadata (see :mod:`helpers.needs`).
With ``LAYERLAB_REQUIRE_ENGINE=1`` (as in CI) a missing engine or image stops
the run instead of skipping: CI must never go green by skipping.  Needing the
internet in offline mode is always a skip.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest


def pytest_collection_modifyitems(config, items):
    from helpers.needs import unmet

    verdicts: dict[Path, str | None] = {}
    for item in items:
        path = Path(str(item.fspath))
        if path.suffix != ".ipynb":
            continue
        if path not in verdicts:
            meta = json.loads(path.read_text()).get("metadata", {}).get("layerlab", {})
            verdicts[path] = unmet(meta, path.parent)
        reason = verdicts[path]
        if reason is None:
            continue
        if os.environ.get("LAYERLAB_REQUIRE_ENGINE") == "1" and "internet" not in reason:
            raise pytest.UsageError(f"{path.name} {reason} (LAYERLAB_REQUIRE_ENGINE=1)")
        item.add_marker(pytest.mark.skip(reason=f"{path.name} {reason}"))
