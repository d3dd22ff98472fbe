"""A second, private Docker Engine for tests that kill or starve one: its own socket, data, and network namespace.

It runs under ``unshare --net``, so whatever it does to networking stays in a
namespace of its own.  That matters: a dockerd started with ``--bridge=none``
deletes the ``docker0`` bridge it finds, and in the host's namespace that is
the bridge of the engine every other test (and every networked notebook) uses.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import docker
from layerlab_fixtures import ALPINE_TARBALLS, need


class PrivateEngine:
    """``bridge=False`` starts it with no bridge at all; ``True`` with a docker0 of its own, in its namespace."""

    def __init__(self, root: Path, bridge: bool = False) -> None:
        self.root = root
        self.socket = f"unix://{root / 'docker.sock'}"
        self.process: subprocess.Popen | None = None
        self.bridge = bridge

    def start(self) -> docker.DockerClient:
        log = (self.root / "dockerd.log").open("ab")
        self.process = subprocess.Popen(
            [shutil.which("unshare"), "--net", "--", shutil.which("dockerd"), "--data-root", str(self.root / "data"),
             "--exec-root", str(self.root / "exec"), "--pidfile", str(self.root / "dockerd.pid"), "-H", self.socket,
             *([] if self.bridge else ["--bridge=none"]), "--iptables=false", "--ip-masq=false"],
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

    def remove_bridge(self) -> None:
        """Delete the engine's docker0 under it, in its own namespace: what happened to the shared engine once."""
        assert self.process is not None
        subprocess.run([shutil.which("nsenter"), f"--net=/proc/{self.process.pid}/ns/net", "ip", "link", "delete",
                        "docker0"], check=True)

    def kill(self) -> None:
        """SIGKILL dockerd, then whatever it ran (containerd, shims): the whole engine dies at once."""
        assert self.process is not None  # unshare execs dockerd: this is dockerd's own process
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


@contextmanager
def private_engine_with_alpine(bridge: bool = False) -> Iterator[tuple[PrivateEngine, docker.DockerClient]]:
    """A private engine holding alpine:3.20.3, made from the minirootfs tarball (``bridge``: see the class)."""
    need(os.geteuid() == 0, "starting a private dockerd needs root (CI runs as root)")
    need(shutil.which("dockerd") is not None, "dockerd is not installed (apt-get install docker.io)")
    need(shutil.which("unshare") is not None and shutil.which("nsenter") is not None,
         "unshare and nsenter are not installed (apt-get install util-linux)")
    engine = PrivateEngine(Path(tempfile.mkdtemp(prefix="ll-engine-", dir="/tmp")), bridge)
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
