"""Squash an image's layers with docker-squash (from PyPI), a real tool that works through the Docker Engine.

Squashing merges layers into one, so files deleted in a later layer are gone
for good.  What it costs: a squashed layer is new, so it shares nothing with
the base image other images use; squashing *from the base* keeps the base
layer shared and merges only what came after.
"""

from __future__ import annotations

import subprocess

from .analysis import Analysis, analyze
from .commands import python_tool
from .errors import LayerLabError


def _docker_squash() -> str:
    return python_tool("docker-squash", "docker-squash")


def squash(image: str, tag: str, from_layer: str | None = None) -> Analysis:
    """Squash ``image`` into ``tag``, then analyse it: all layers, or those after ``from_layer`` (an image ID)."""
    from .engine import docker_client
    from .sources import read_image

    docker_client()  # one clear error when no engine answers
    command = [_docker_squash(), "-t", tag, image]
    if from_layer is not None:
        command[1:1] = ["-f", from_layer]
    done = subprocess.run(command, capture_output=True, text=True, timeout=600)
    if done.returncode != 0:
        last = [line for line in (done.stderr or done.stdout).splitlines() if line.strip()][-1:] or ["no output"]
        raise LayerLabError(f"docker-squash could not squash {image}: {last[0]}", "check that the image exists")
    return analyze(read_image(tag))
