"""Wall time of the lab's builds with the Docker Engine and with the embedded builder, on this machine.

    LAYERLAB_ROOTFS=../shared/alpine .venv/bin/python benchmarks/engines.py [--runs 3]

Both engines have the base image already (Docker: alpine:3.20.3 in the engine;
embedded: imported into its store before timing); every step is built anew in
each run (Docker with no cache, embedded with a fresh step cache).  The
embedded builder is timed both ways it runs ``RUN`` steps: in a user namespace
(``LAYERLAB_RUN=auto``, where the kernel allows it) and under proot's ptrace
(``LAYERLAB_RUN=proot``, as on Binder).  It prints the median of each and their
ratios to Docker; the target is embedded <= 1.5 x Docker where user namespaces exist.
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
FIXTURES = ROOT / "tests" / "fixtures"
VARIANTS = ["lab-multi-run", "lab-single-run"]


def docker_once() -> float:
    start = time.perf_counter()
    for variant in VARIANTS:
        subprocess.run(["docker", "build", "-q", "--no-cache", "--network", "none", "-t", f"layerlab-bench/{variant}",
                        str(FIXTURES / variant)], check=True, capture_output=True)
    return time.perf_counter() - start


def embedded_once(base_store: Path, run_mode: str) -> float:
    from helpers.building.embedded import EmbeddedBuilder
    from helpers.ground.dockerfile import parse_dockerfile
    from helpers.ground.settings import Settings

    with tempfile.TemporaryDirectory() as folder:
        store = Path(folder) / "store"
        shutil.copytree(base_store, store, symlinks=True)
        builder = EmbeddedBuilder(store, settings=Settings(offline=True, run_mode=run_mode))
        start = time.perf_counter()
        for variant in VARIANTS:
            dockerfile = parse_dockerfile(FIXTURES / variant / "Dockerfile")
            builder.build(dockerfile, FIXTURES / variant, variant, f"bench-{variant}")
        return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=3)
    runs = parser.parse_args().runs
    from helpers.building.embedded import EmbeddedBuilder
    from helpers.ground.settings import Settings

    with tempfile.TemporaryDirectory() as folder:
        base_store = Path(folder) / "base"
        environment = Settings.from_environment()  # where the rootfs tarballs are (LAYERLAB_ROOTFS)
        EmbeddedBuilder(base_store, settings=Settings(offline=True, rootfs=environment.rootfs)).base("alpine:3.20.3")
        docker = [docker_once() for _ in range(runs)]
        timings = {}
        for way in ("auto", "proot"):
            timings[way] = [embedded_once(base_store, way) for _ in range(runs)]
    from helpers.building.userns import available

    d = statistics.median(docker)
    print(f"cores: {os.cpu_count()}, runs: {runs}, builds per run: {len(VARIANTS)} (lab multi-RUN, single-RUN)")
    print(f"docker engine            median {d:6.2f} s   runs {', '.join(f'{t:.2f}' for t in docker)}")
    labels = {"auto": "embedded, user namespace" if available() else "embedded (no user namespaces: proot)",
              "proot": "embedded, proot (ptrace)"}
    for way, runs_of in timings.items():
        e = statistics.median(runs_of)
        print(f"{labels[way]:24} median {e:6.2f} s   runs {', '.join(f'{t:.2f}' for t in runs_of)}"
              f"   ratio to docker {e / d:.2f}")
    ratio = statistics.median(timings["auto"]) / d
    print(f"target: embedded <= 1.50 x docker where user namespaces exist: {'met' if ratio <= 1.5 else 'NOT met'}")


if __name__ == "__main__":
    main()
