"""apt in a user namespace, without ptrace: the same layers as under proot, and the step really untraced.

One mapped identity cannot give apt its ``_apt`` user, so a step that runs apt
is told to stay root (``APT_CONFIG`` naming a file in its private ``/dev``).
The proof builds the same Dockerfile both ways from Debian's real registry and
compares every entry of the step's layer.  The step writes whether anything
traces it (``TracerPid`` in ``/proc/self/status``: proot is a tracer), in words
of different lengths, so the layers themselves say which way each step ran.
"""

from __future__ import annotations

import pytest
from layerlab_fixtures import embedded_tools, need

import helpers
from helpers.building import userns

APT = """FROM debian:bookworm-slim
RUN apt-get update && apt-get install -y --no-install-recommends python3 \\
 && awk '/TracerPid/ {print ($2 == 0 ? "untraced" : "traced")}' /proc/self/status > /how
"""
#: What the step writes in /how: "untraced\n" or "traced\n".
UNTRACED, TRACED = 9, 7
COLUMNS = ["path", "kind", "size", "mode", "uid", "gid", "link"]


def test_only_a_command_that_runs_apt_gets_the_setting():
    assert userns.runs_apt(["/bin/sh", "-c", "apt-get update && apt-get install -y x"])
    assert userns.runs_apt(["/usr/bin/apt", "install", "x"])
    assert not userns.runs_apt(["/bin/sh", "-c", "cat /etc/apt/sources.list && apt-cache policy"])
    command = userns.command("/rootfs", "/", {"PATH": "/bin"}, ["/bin/sh", "-c", "apt-get update"], False)
    assert "--apt-as-root" in command and f"APT_CONFIG={userns.APT_CONFIG_FILE}" in command
    assert userns.APT_CONFIG_FILE.startswith("/dev/")  # the step's private /dev: a tmpfs, never in the image
    plain = userns.command("/rootfs", "/", {"PATH": "/bin"}, ["/bin/sh", "-c", "make"], False)
    assert "--apt-as-root" not in plain and not any(part.startswith("APT_CONFIG=") for part in plain)
    own = userns.command("/rootfs", "/", {"APT_CONFIG": "/etc/mine.conf"}, ["apt-get", "update"], False)
    assert "APT_CONFIG=/etc/mine.conf" in own and "--apt-as-root" not in own  # a step's own setting is kept


def _build(monkeypatch, tmp_path, run_mode: str) -> helpers.Analysis:
    monkeypatch.setenv("LAYERLAB_RUN", run_mode)
    monkeypatch.setenv("LAYERLAB_STORE", str(tmp_path / f"store-{run_mode}"))
    return helpers.build(APT, name=f"apt-{run_mode}", engine="embedded", network=True,
                         progress=lambda name, step: None).analysis


@pytest.mark.engine
def test_apt_runs_untraced_in_a_user_namespace_and_commits_what_proot_commits(monkeypatch, tmp_path, debian_rootfs,
                                                                             registry):
    embedded_tools()
    need(userns.available(), "this kernel or user cannot make user namespaces")
    monkeypatch.setenv("LAYERLAB_ROOTFS", str(debian_rootfs.parent))
    direct, traced = _build(monkeypatch, tmp_path, "auto"), _build(monkeypatch, tmp_path, "proot")
    layers = {name: a.files[a.files.layer == 1].set_index("path") for name, a in
              (("direct", direct), ("traced", traced))}
    assert layers["direct"].at["how", "size"] == UNTRACED  # no proot: the step ran in the namespace
    assert layers["traced"].at["how", "size"] == TRACED
    # apt logs dpkg's output in term.log only where it has a terminal to run dpkg on: the namespace's
    # /dev/pts (as Docker's), which proot's /dev lacks. Every other entry is the same, to the byte.
    log = "var/log/apt/term.log"
    assert layers["direct"].at[log, "size"] > 10 * layers["traced"].at[log, "size"]
    same = {name: {tuple(row) for row in frame.drop(index=["how", log]).reset_index()[COLUMNS].astype(str).values}
            for name, frame in layers.items()}
    assert same["direct"] == same["traced"]
    assert len(same["direct"]) > 1000  # python3 and its libraries, all there
