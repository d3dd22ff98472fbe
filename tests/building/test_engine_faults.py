"""A Docker Engine that dies in the middle of a build, for real.

The test starts a second, private dockerd (its own socket, data and exec roots,
and network namespace; see ``private_engine.py``) so the engine every other
test uses is never touched.
It loads the Alpine base into it, starts a build whose RUN step sleeps, kills
the daemon with SIGKILL while that step runs, and expects one clear
EngineUnavailable.  The engine the rest of the suite uses keeps running, so
nothing has to be started again.
"""

from __future__ import annotations

import signal
import threading
import time

import pytest
from private_engine import private_engine_with_alpine

import helpers
from helpers.ground.errors import EngineUnavailable
from helpers.reading.daemon import docker_client


@pytest.fixture
def private_engine():
    with private_engine_with_alpine() as engine_and_client:
        yield engine_and_client


@pytest.mark.engine
def test_a_daemon_that_dies_mid_build_is_one_clear_error(private_engine, monkeypatch):
    engine, client = private_engine
    named: list[float] = []  # when BuildKit named the RUN step, as it starts (the classic builder, as it lands)

    def kill_once_the_step_runs() -> None:
        """The classic builder runs the step in a container; BuildKit runs it itself: 2 s after naming it."""
        for _ in range(600):
            if client.containers.list() or (named and time.monotonic() - named[0] > 2):
                engine.kill()
                return
            time.sleep(0.1)

    def progress(name, step) -> None:
        if step.instruction.startswith("RUN"):
            named.append(time.monotonic())

    killer = threading.Thread(target=kill_once_the_step_runs)
    killer.start()
    with pytest.raises(EngineUnavailable, match="stopped answering during the build"):
        helpers.build("FROM alpine:3.20.3\nRUN sleep 60\n", name="dies", client=client, progress=progress)
    killer.join()
    assert engine.process.returncode == -signal.SIGKILL
    # Afterwards the dead engine is "no engine", said with where the helpers looked.
    monkeypatch.setenv("DOCKER_HOST", engine.socket)
    with pytest.raises(EngineUnavailable, match=f"no Docker Engine answered at {engine.socket}"):
        docker_client()
