"""A RUN step's processes end with the step: when its command exits, and when the build is interrupted.

Real builds, both ways a step runs (a user namespace, proot).  The step leaves
a process in the background that would run for an hour, as a careless
``RUN daemon &`` does; Docker ends it with the step, and so must the builder.
Interrupts are real signals sent to a real build in a subprocess.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from layerlab_fixtures import ALPINE_TARBALLS, embedded_tools, need, processes_naming

import helpers
from helpers.building import userns

REPO = Path(__file__).resolve().parents[2]
#: A step that leaves a sleeper behind, marked so the test can look for it on the host.
LINGER = "FROM alpine:3.20.3\nRUN (sh -c 'sleep 3600' layerlab-lingering-{mark} &) ; echo started > /started\n"


def _lingering(mark: str) -> list[int]:
    return processes_naming(f"layerlab-lingering-{mark}")


@pytest.fixture
def builder_env(tmp_path, monkeypatch):
    embedded_tools()
    monkeypatch.setenv("LAYERLAB_STORE", str(tmp_path / "store"))
    monkeypatch.setenv("LAYERLAB_ROOTFS", str(ALPINE_TARBALLS))
    return tmp_path


@pytest.mark.parametrize(("way", "network"), [("auto", False), ("proot", False), ("proot", True)])
def test_a_process_a_step_leaves_behind_ends_with_the_step(builder_env, monkeypatch, way, network):
    if way == "auto":
        need(userns.available(), "this kernel or user cannot make user namespaces")
    monkeypatch.setenv("LAYERLAB_RUN", way)
    mark = f"{way}-{network}-{os.getpid()}"
    started = time.monotonic()
    built = helpers.build(LINGER.format(mark=mark), name=f"linger-{way}", engine="embedded", network=network,
                          progress=lambda name, step: None)
    assert time.monotonic() - started < 600  # it ended; before, under proot it waited the hour out
    assert "started" in {e.path for e in built.analysis.image.layers[-1].entries}
    assert _lingering(mark) == []


@pytest.mark.parametrize("way", ["auto", "proot"])
def test_an_interrupted_build_leaves_no_step_running(builder_env, way):
    if way == "auto":
        need(userns.available(), "this kernel or user cannot make user namespaces")
    mark = f"interrupted-{way}-{os.getpid()}"
    dockerfile = builder_env / "Dockerfile"
    dockerfile.write_text(f"FROM alpine:3.20.3\nRUN sh -c 'sleep 3600' layerlab-lingering-{mark}\n")
    env = {**os.environ, "LAYERLAB_RUN": way, "LAYERLAB_ENGINE": "embedded"}
    # SIGINT as a terminal leaves it: a runner started in the background (`cmd &`) ignores it, and so would
    # every process it starts, which then could not be interrupted at all.
    build = subprocess.Popen([sys.executable, "-m", "helpers", "build", str(builder_env), "-f", str(dockerfile)],
                             cwd=REPO, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                             preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
    try:
        deadline = time.monotonic() + 120
        while not _lingering(mark) and time.monotonic() < deadline:
            time.sleep(0.2)
        assert _lingering(mark), "the step never started"
        build.send_signal(signal.SIGINT)  # what a notebook's interrupt and Ctrl-C send
        build.communicate(timeout=60)
        time.sleep(0.5)
        assert _lingering(mark) == []
    finally:  # a failed run of this test leaves nothing running either
        build.kill()
        build.communicate()
        for pid in _lingering(mark):
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)


def test_the_exit_status_reaches_the_builder_from_dash_whatever_the_descriptor(tmp_path):
    """Debian's sh (dash) reads one digit in `>&N`: the status must come back through a path, any N."""
    import shutil as shell_tools

    from helpers.building.step_process import run_step

    dash = shell_tools.which("dash")
    need(dash is not None, "dash is not installed")
    held = [os.open("/dev/null", os.O_RDONLY) for _ in range(20)]  # push the pipe's descriptors past 9
    try:
        done = run_step(None, dict(os.environ), wrap=([], ["/bin/sh", "-c", "exit 3"]))
    finally:
        for fd in held:
            os.close(fd)
    assert done.returncode == 3 and "Bad fd number" not in done.stderr
