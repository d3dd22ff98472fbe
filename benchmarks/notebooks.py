"""How long the offline notebooks take to execute, together; the target is under 3 minutes.

    LAYERLAB_ROOTFS=../shared/alpine .venv/bin/python benchmarks/notebooks.py [--runs 2]

The engine must already be running (its startup is not counted; ``.ci/run``
shows how to start it and make the base images).  Every notebook that runs
without the internet is executed in offline mode, in a fresh kernel, as nbval
runs it; the time counts the kernel's start.  Run 1 finds the engine's build
cache as it is (``--cold`` first removes the course's images, ``layerlab/*``,
and dangling ones, so that every build runs); later runs find it warm.  It prints each notebook's time,
the total of each run, and the machine's core count.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOKS = ROOT / "notebooks"
TARGET_SECONDS = 180.0


def offline_notebooks() -> list[tuple[Path, str | None]]:
    """Every notebook, with why it cannot run here (``None`` when it can), in offline mode."""
    from helpers.needs import unmet

    found = []
    for path in sorted(NOTEBOOKS.glob("*.ipynb")):
        needs = json.loads(path.read_text()).get("metadata", {}).get("layerlab", {})
        found.append((path, unmet(needs, path.parent)))
    return found


def remove_course_images() -> int:
    """Remove the images the notebooks build (``layerlab/*``) and dangling ones: their cache goes with them."""
    from helpers.engine import docker_client

    client = docker_client()
    images = client.images.list(filters={"reference": "layerlab/*"})
    for image in images:
        client.images.remove(image.id, force=True)
    client.images.prune(filters={"dangling": True})
    return len(images)


def execute(path: Path) -> float:
    import nbformat
    from nbclient import NotebookClient

    notebook = nbformat.read(path, as_version=4)
    start = time.perf_counter()
    NotebookClient(notebook, timeout=600, kernel_name="python3", resources={"metadata": {"path": str(path.parent)}},
                   record_timing=False).execute()
    return time.perf_counter() - start


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=2)
    parser.add_argument("--cold", action="store_true", help="remove the course's images first (a cold build cache)")
    args = parser.parse_args(argv)
    os.environ["LAYERLAB_OFFLINE"] = "1"
    sys.path.insert(0, str(ROOT))
    notebooks = offline_notebooks()
    runnable = [path for path, reason in notebooks if reason is None]
    print(f"machine: {os.cpu_count()} cores; offline mode; engine already running (its startup not counted)")
    for path, reason in notebooks:
        if reason is not None:
            print(f"  skipped {path.name}: {reason}")
    if args.cold:
        print(f"removed {remove_course_images()} of the course's images: run 1 builds everything")
    for run in range(1, args.runs + 1):
        first = "build cache cold" if args.cold else "build cache as found"
        print(f"run {run} ({first if run == 1 else 'build cache warm'}):")
        total = 0.0
        for path in runnable:
            seconds = execute(path)
            total += seconds
            print(f"  {path.name:40} {seconds:7.1f} s")
        verdict = "met" if total < TARGET_SECONDS else "NOT MET"
        print(f"  {'all offline notebooks':40} {total:7.1f} s (target < {TARGET_SECONDS:.0f} s: {verdict})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
