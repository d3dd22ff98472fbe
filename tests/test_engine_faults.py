"""A Docker Engine that dies in the middle of a build, for real.

The test starts a second, private dockerd (its own socket, data and exec roots,
no bridge, no iptables) so the engine every other test uses is never touched.
It loads the Alpine base into it, starts a build whose RUN step sleeps, kills
the daemon with SIGKILL while that step runs, and expects one clear
EngineUnavailable.  The engine the rest of the suite uses keeps running, so
nothing has to be started again.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import tempfile
import threading
import time
from pathlib import Path

import docker
import pytest
from layerlab_fixtures import ALPINE_TARBALLS, need

import helpers
from helpers.engine import docker_client
from helpers.errors import EngineUnavailable


class PrivateEngine:
    def __init__(self, root: Path) -> None:
        self.root = root
        self.socket = f"unix://{root / 'docker.sock'}"
        self.process: subprocess.Popen | None = None

    def start(self) -> docker.DockerClient:
        log = (self.root / "dockerd.log").open("ab")
        self.process = subprocess.Popen(
            [shutil.which("dockerd"), "--data-root", str(self.root / "data"), "--exec-root", str(self.root / "exec"),
             "--pidfile", str(self.root / "dockerd.pid"), "-H", self.socket, "--bridge=none", "--iptables=false",
             "--ip-masq=false"],
            stdout=log, stderr=subprocess.STDOUT,
        )
        for _ in range(120):
            try:
                client = docker.DockerClient(base_url=self.socket)
                client.ping()
                return client
            except docker.errors.DockerException:  # not up yet
                time.sleep(0.5)
        raise AssertionError("the private dockerd did not start:\n" + (self.root / "dockerd.log").read_text()[-2000:])

    def kill(self) -> None:
        """SIGKILL dockerd, then whatever it ran (containerd, shims): the whole engine dies at once."""
        assert self.process is not None
        self.process.send_signal(signal.SIGKILL)
        self.process.wait()
        subprocess.run(["pkill", "-9", "-f", str(self.root)], check=False)
        time.sleep(0.5)

    def close(self) -> None:
        subprocess.run(["pkill", "-9", "-f", str(self.root)], check=False)
        if self.process is not None and self.process.poll() is None:
            self.process.kill()
            self.process.wait()
        time.sleep(0.5)
        mounts = [line.split()[1] for line in Path("/proc/mounts").read_text().splitlines() if str(self.root) in line]
        for mount in sorted(mounts, reverse=True):
            subprocess.run(["umount", "-l", mount], check=False)
        shutil.rmtree(self.root, ignore_errors=True)


@pytest.fixture
def private_engine():
    need(os.geteuid() == 0, "starting a private dockerd needs root (CI runs as root)")
    need(shutil.which("dockerd") is not None, "dockerd is not installed (apt-get install docker.io)")
    engine = PrivateEngine(Path(tempfile.mkdtemp(prefix="ll-engine-", dir="/tmp")))
    try:
        client = engine.start()
        context = engine.root / "base"
        context.mkdir()
        shutil.copy(ALPINE_TARBALLS / "alpine-minirootfs-3.20.3-x86_64.tar.gz", context)
        (context / "Dockerfile").write_text(
            'FROM scratch\nADD alpine-minirootfs-3.20.3-x86_64.tar.gz /\nCMD ["/bin/sh"]\n')
        client.images.build(path=str(context), tag="alpine:3.20.3", network_mode="none", rm=True)
        yield engine, client
    finally:
        engine.close()


@pytest.mark.engine
def test_a_daemon_that_dies_mid_build_is_one_clear_error(private_engine, monkeypatch):
    engine, client = private_engine

    def kill_once_the_step_runs() -> None:
        for _ in range(200):
            if client.containers.list():
                engine.kill()
                return
            time.sleep(0.1)

    killer = threading.Thread(target=kill_once_the_step_runs)
    killer.start()
    with pytest.raises(EngineUnavailable, match="stopped answering during the build"):
        helpers.build("FROM alpine:3.20.3\nRUN sleep 60\n", name="dies", client=client,
                      progress=lambda name, step: None)
    killer.join()
    assert engine.process.returncode == -signal.SIGKILL
    # Afterwards the dead engine is "no engine", said with where the helpers looked.
    monkeypatch.setenv("DOCKER_HOST", engine.socket)
    with pytest.raises(EngineUnavailable, match=f"no Docker Engine answered at {engine.socket}"):
        docker_client()
