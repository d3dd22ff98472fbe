"""What a ``RUN`` step of the embedded builder can reach of the host: Docker's few devices, never its disks.

A step run by root (CI's case, and any builder run as root) once had the
host's whole ``/dev`` bound read-write: ``/dev/sda``, ``/dev/mem``, the lot.
Each step here lists what it sees into the layer it commits (a file per name,
so the layer's headers say it) and tries writes that Docker refuses; the
writes only ever put back the value already there, so a regression can
harm nothing.  Neither way of running a step is a security boundary: this
is about not wrecking the host by accident, as Docker's defaults do not.
"""

from __future__ import annotations

import pytest
from layerlab_fixtures import ALPINE_TARBALLS, embedded_tools, need

import helpers
from helpers.building import userns

#: What Docker's /dev holds (moby's default devices and links), and the folders the kernel adds.
DOCKER_DEV = {"null", "zero", "full", "random", "urandom", "tty", "fd", "stdin", "stdout", "stderr", "ptmx", "core",
              "pts", "shm", "console", "mqueue"}

LOOK = """FROM alpine:3.20.3
RUN mkdir /seen && for f in /dev/*; do touch "/seen/dev-$(basename "$f")"; done \\
 && (v=$(cat /proc/sys/kernel/printk) && echo "$v" > /proc/sys/kernel/printk && touch /seen/proc-sys-writable; true) \\
 && (touch /sys/layerlab-probe 2>/dev/null && touch /seen/sys-writable; true) \\
 && (mkdir /sys/fs/cgroup/pids/layerlab-probe 2>/dev/null && rmdir /sys/fs/cgroup/pids/layerlab-probe \\
     && touch /seen/cgroup-writable; true) \\
 && echo hi > /dev/null && head -c 8 /dev/urandom > /seen/random-bytes
"""


def _seen(analysis) -> set[str]:
    return {e.path.removeprefix("seen/") for layer in analysis.image.layers for e in layer.entries
            if e.path.startswith("seen/")}


@pytest.fixture
def build_with(tmp_path, monkeypatch):
    embedded_tools()
    monkeypatch.setenv("LAYERLAB_ROOTFS", str(ALPINE_TARBALLS))

    def build(way: str):
        monkeypatch.setenv("LAYERLAB_STORE", str(tmp_path / way))
        monkeypatch.setenv("LAYERLAB_RUN", way)
        return helpers.build(LOOK, name=f"isolation-{way}", engine="embedded").analysis
    return build


def test_a_step_in_a_user_namespace_sees_a_private_dev_and_cannot_write_the_kernel_s_settings(build_with):
    need(userns.available(), "this kernel or user cannot make user namespaces")
    seen = _seen(build_with("auto"))
    devices = {name.removeprefix("dev-") for name in seen if name.startswith("dev-")}
    assert devices <= DOCKER_DEV and {"null", "zero", "urandom", "fd", "shm"} <= devices, devices
    assert "random-bytes" in seen
    assert not {"proc-sys-writable", "sys-writable", "cgroup-writable"} & seen


def test_a_step_under_proot_sees_only_docker_s_devices_and_commits_no_dev(build_with):
    analysis = build_with("proot")
    seen = _seen(analysis)
    devices = {name.removeprefix("dev-") for name in seen if name.startswith("dev-")}
    assert devices <= DOCKER_DEV and {"null", "zero", "urandom"} <= devices, devices
    assert "random-bytes" in seen
    run_layer = analysis.image.layers[-1]
    assert not any(e.path == "dev" or e.path.startswith("dev/") for e in run_layer.entries)
