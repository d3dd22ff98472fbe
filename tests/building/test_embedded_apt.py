"""apt in a user namespace, without ptrace: the same layers as under proot, and the step really untraced.

Built by root, a step's namespace holds every ID as itself, so apt drops to its
``_apt`` user and an install script may ``chown root:staff``, as in Docker.
Built by anyone else it holds one ID, so a step that runs apt is told to stay
root (``APT_CONFIG`` naming a file in its private ``/dev``), and a chown to an
owner the namespace lacks succeeds and does nothing (a seccomp filter), as
under proot's fake root.  The proof builds the same Dockerfile each way from
Debian's real registry and compares every entry of the step's layer with
proot's.  The step writes whether anything
traces it (``TracerPid`` in ``/proc/self/status``: proot is a tracer), in words
of different lengths, so the layers themselves say which way each step ran.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path

import pytest
from layerlab_fixtures import embedded_tools, need

import helpers
from helpers.building import userns
from helpers.ground.settings import Settings
from helpers.orchestration.sources import analyze_source

APT = """FROM debian:bookworm-slim
RUN apt-get update && apt-get install -y --no-install-recommends python3 \\
 && awk '/TracerPid/ {print ($2 == 0 ? "untraced" : "traced")}' /proc/self/status > /how
"""
#: What the step writes in /how: "untraced\n" or "traced\n".
UNTRACED, TRACED = 9, 7
COLUMNS = ["path", "kind", "size", "mode", "uid", "gid", "link"]
#: A step that hands files to owners other than root, as fontconfig-config's install script does
#: (``chown root:staff /usr/local/share/fonts``: staff is group 50), then says whether it ran traced.
OWNERS = """FROM alpine:3.20.3
RUN mkdir -p /usr/local/share/fonts && chown 0:50 /usr/local/share/fonts && chown 1000:1000 /etc/motd \\
 && awk '/TracerPid/ {print ($2 == 0 ? "untraced" : "traced")}' /proc/self/status > /how
"""


def test_only_a_command_that_runs_apt_is_one_apt_runs():
    assert userns.runs_apt(["/bin/sh", "-c", "apt-get update && apt-get install -y x"])
    assert userns.runs_apt(["/usr/bin/apt", "install", "x"])
    assert not userns.runs_apt(["/bin/sh", "-c", "cat /etc/apt/sources.list && apt-cache policy"])
    assert userns.APT_CONFIG_FILE.startswith("/dev/")  # the step's private /dev: a tmpfs, never in the image


def test_the_chown_filter_is_known_for_the_machines_it_names_and_absent_elsewhere():
    for machine in ("x86_64", "aarch64"):
        program = userns.chown_filter(machine)
        assert program is not None and len(program) < 64
        for at, (code, if_true, if_false, _) in enumerate(program):
            assert code != 0x15 or at + 1 + max(if_true, if_false) < len(program)  # every jump lands inside it
        assert program[-1][0] == program[-2][0] == 0x06  # and it ends in the two answers: fake it, or run it
    assert userns.chown_filter("riscv64") is None  # unknown numbers: no filter, the step runs as before


def _layer(analysis: helpers.Analysis, index: int = 1):
    return analysis.files[analysis.files.layer == index].set_index("path")


def _entries(frame, *leave_out: str) -> set[tuple[str, ...]]:
    return {tuple(row) for row in frame.drop(index=list(leave_out)).reset_index()[COLUMNS].astype(str).values}


def _build(monkeypatch, tmp_path, dockerfile: str, run_mode: str, network: bool = False) -> helpers.Analysis:
    monkeypatch.setenv("LAYERLAB_RUN", run_mode)
    monkeypatch.setenv("LAYERLAB_STORE", str(tmp_path / f"store-{run_mode}"))
    return helpers.build(dockerfile, name=f"apt-{run_mode}", engine="embedded", network=network,
                         progress=lambda name, step: None).analysis


@pytest.mark.engine
def test_built_by_root_a_step_may_give_files_to_any_owner_untraced(monkeypatch, tmp_path):
    """Every ID is mapped, so a chown to another owner works in the namespace; umoci commits root's, as proot's."""
    embedded_tools()
    need(userns.available(), "this kernel or user cannot make user namespaces")
    need(userns.maps_every_id(), "only root can map every ID (CI runs as root)")
    direct, traced = (_layer(_build(monkeypatch, tmp_path, OWNERS, mode)) for mode in ("auto", "proot"))
    assert direct.at["how", "size"] == UNTRACED and traced.at["how", "size"] == TRACED
    assert direct.at["usr/local/share/fonts", "gid"] == traced.at["usr/local/share/fonts", "gid"] == 0
    assert _entries(direct, "how") == _entries(traced, "how")


@pytest.mark.engine
def test_apt_runs_untraced_in_a_user_namespace_and_commits_what_proot_commits(monkeypatch, tmp_path, debian_rootfs,
                                                                             registry):
    embedded_tools()
    need(userns.available(), "this kernel or user cannot make user namespaces")
    monkeypatch.setenv("LAYERLAB_ROOTFS", str(debian_rootfs.parent))
    direct, traced = (_layer(_build(monkeypatch, tmp_path, APT, mode, network=True)) for mode in ("auto", "proot"))
    assert direct.at["how", "size"] == UNTRACED  # no proot: the step ran in the namespace
    assert traced.at["how", "size"] == TRACED
    # apt logs dpkg's output in term.log only where it has a terminal to run dpkg on: the namespace's
    # /dev/pts (as Docker's), which proot's /dev lacks. Every other entry is the same, to the byte.
    log = "var/log/apt/term.log"
    assert direct.at[log, "size"] > 10 * traced.at[log, "size"]
    assert _entries(direct, "how", log) == _entries(traced, "how", log)
    assert len(_entries(direct, "how", log)) > 1000  # python3 and its libraries, all there


@pytest.mark.engine
def test_built_by_a_user_with_one_id_apt_stays_root_and_commits_the_same(monkeypatch, tmp_path, debian_rootfs,
                                                                          registry):
    """Binder's case with user namespaces: one ID, so apt is told to stay root, and runs untraced all the same.

    A chown to an owner one ID cannot hold succeeds there too, untraced, and commits what proot commits.
    """
    embedded_tools()
    from binder_user import ROOT, as_user, unprivileged_user, users_python

    user = unprivileged_user()
    home = Path(user.pw_dir)
    context, store = home / "apt-context", home / "apt-store"
    for made in (context, store):
        shutil.rmtree(made, ignore_errors=True)
    context.mkdir()
    (context / "Dockerfile").write_text(APT)
    python = users_python(user)
    asked = as_user(user, [python, "-c", "from helpers.building import userns; "
                                         "print(userns.available(), userns.maps_every_id())"], ROOT)
    need(asked.stdout.split() == ["True", "False"], f"this kernel gives {user.pw_name} no user namespace")
    (context / "owners.Dockerfile").write_text(OWNERS)
    subprocess.run(["chown", "-R", f"{user.pw_uid}:{user.pw_gid}", str(context)], check=True)
    rootfs = f"{debian_rootfs.parent}:{os.environ.get('LAYERLAB_ROOTFS', '')}"

    def built_by_user(dockerfile: str):
        built = as_user(user, ["env", f"LAYERLAB_ROOTFS={rootfs}", f"LAYERLAB_STORE={store}",
                               python, "-m", "helpers", "build", str(context), "--file", str(context / dockerfile),
                               "--tag", f"layerlab-test/{dockerfile.lower()}:latest", "--engine", "embedded",
                               "--network", "--json"], context)
        assert built.returncode == 0, built.stdout[-2000:] + built.stderr[-2000:]
        return _layer(analyze_source(json.loads(built.stdout)["source"], settings=Settings.from_environment()))

    one_id, owners = built_by_user("Dockerfile"), built_by_user("owners.Dockerfile")
    monkeypatch.setenv("LAYERLAB_ROOTFS", rootfs)
    traced = _layer(_build(monkeypatch, tmp_path, APT, "proot", network=True))
    assert one_id.at["how", "size"] == UNTRACED and traced.at["how", "size"] == TRACED
    log = "var/log/apt/term.log"
    assert _entries(one_id, "how", log) == _entries(traced, "how", log)
    assert os.environ.get("APT_CONFIG") is None  # the setting lived in the step's /dev, not here
    owners_traced = _layer(_build(monkeypatch, tmp_path, OWNERS, "proot"))
    assert owners.at["how", "size"] == UNTRACED  # the chowns did not send the step to proot
    # A chown that only changes an existing file's owner changes nothing one ID can see, as under proot run
    # by a user (its fake root fakes it too): that file stays out of the layer, which root's builds commit.
    assert "etc/motd" not in owners.index and "etc/motd" in owners_traced.index
    assert _entries(owners, "how") == _entries(owners_traced, "how", "etc/motd")
