"""``RUN --mount``: a build-only thing the step uses and no layer keeps, with either engine, and never a way out.

Every kind BuildKit documents is built for real: by the embedded builder, in a
user namespace and under proot, and by the Docker Engine's BuildKit (through
the Docker CLI).  Each mount holds random bytes, so a layer that kept them
would show it.  The attacks: a bind whose source is a link out of the
context, a target that passes through a link to a host folder, a step that
swaps its mount point's parent for a link to a host folder before the builder
removes the mount point, and a read-only bind the step tries to write.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from layerlab_fixtures import ALPINE_TARBALLS, embedded_tools, engine_major, need

import helpers
from helpers.building import userns
from helpers.ground.errors import BuildFailed, DockerfileError

MOUNTS = """FROM alpine:3.20.3 AS build
RUN head -c 200000 /dev/urandom > /artifact
FROM alpine:3.20.3
RUN --mount=type=cache,target=/root/.cache/tool head -c 300000 /dev/urandom > /root/.cache/tool/blob \\
 && cp /root/.cache/tool/blob /from-cache
RUN --mount=type=bind,source=data,target=/mnt/data cp /mnt/data/input.bin /from-bind \\
 && ls /mnt/data > /listed && ! grep -q ignored /listed
RUN --mount=type=bind,source=data/input.bin,target=/tmp/input.bin cmp /tmp/input.bin /from-bind
RUN --mount=type=bind,from=build,source=/artifact,target=/mnt/artifact cp /mnt/artifact /from-stage
RUN --mount=type=tmpfs,target=/scratch head -c 400000 /dev/urandom > /scratch/big && test -s /scratch/big
RUN --mount=type=bind,source=data,target=/mnt/data,rw echo written > /mnt/data/written \\
 && cat /mnt/data/written > /saw-write
"""
#: What the mounts held: no layer may keep any of it, nor the mount points the builder made.
MOUNTED = ("root/.cache/tool", "mnt/data", "tmp/input.bin", "mnt/artifact", "scratch")


def _context(folder: Path) -> Path:
    (folder / "data").mkdir(parents=True)
    (folder / "data" / "input.bin").write_bytes(os.urandom(100_000))
    (folder / ".dockerignore").write_text("data/ignored.txt\n")
    (folder / "data" / "ignored.txt").write_text("left out\n")
    return folder


def _stored(analysis) -> set[str]:
    return {e.path for layer in analysis.image.layers[1:] for e in layer.entries}


def _check(analysis, context: Path, stubs_removed: bool = True) -> None:
    """The mounted files reached the step and no layer; with ``stubs_removed``, neither did their mount points.

    BuildKit removes the empty mount points it made since v0.11 (Engine 23); Engine 20.10's v0.8 leaves them,
    empty: entries of no bytes, so the stored bytes agree either way.
    """
    stored = _stored(analysis)
    assert {"from-cache", "from-bind", "from-stage", "saw-write", "listed"} <= stored
    assert analysis.instructions[0] == "FROM alpine:3.20.3"  # the base, named as the Dockerfile names it
    files = analysis.files
    for mounted in MOUNTED:
        below = files[(files.layer > 0) & ((files.path == mounted) | files.path.str.startswith(mounted + "/"))]
        if stubs_removed:
            assert below.empty, (mounted, below.path.tolist())
        else:
            assert set(below.kind) <= {"dir", "file"} and int(below["size"].sum()) == 0, below
    files = files.set_index("path")
    assert files.at["from-bind", "size"] == 100_000 and files.at["from-stage", "size"] == 200_000
    assert not (context / "data" / "written").exists()  # rw: the step wrote a copy, never the context
    layers = analysis.layers
    assert int(layers.stored_bytes.iloc[1:].sum()) < 100_000 + 200_000 + 300_000 + 20_000  # no mounted bytes kept


@pytest.fixture
def embedded(tmp_path, monkeypatch):
    embedded_tools()
    monkeypatch.setenv("LAYERLAB_ROOTFS", str(ALPINE_TARBALLS))
    monkeypatch.setenv("LAYERLAB_STORE", str(tmp_path / "store"))

    def build(text: str, context: Path, way: str = "auto", name: str = "mounts"):
        monkeypatch.setenv("LAYERLAB_RUN", way)
        return helpers.build(text, context, name=name, engine="embedded").analysis
    return build


@pytest.mark.parametrize("way", ["auto", "proot"])
def test_every_mount_kind_reaches_the_step_and_no_layer(embedded, tmp_path, way):
    if way == "auto":
        need(userns.available(), "this kernel or user cannot make user namespaces")
    context = _context(tmp_path / "context")
    analysis = embedded(MOUNTS, context, way)
    _check(analysis, context)


def test_a_cache_mount_keeps_its_files_for_the_next_build(embedded, tmp_path):
    context = _context(tmp_path / "context")
    embedded("FROM alpine:3.20.3\nRUN --mount=type=cache,target=/c,id=kept echo kept > /c/note\n", context,
             name="first")
    again = embedded("FROM alpine:3.20.3\nRUN --mount=type=cache,target=/c,id=kept cp /c/note /note\n", context,
                     name="second")
    assert "note" in _stored(again) and not any(p.startswith("c") for p in _stored(again) if p != "note")


@pytest.mark.parametrize("way", ["auto", "proot"])
def test_a_read_only_bind_cannot_be_written(embedded, tmp_path, way):
    """A read-only mount in a user namespace, and under proot run by root (a mount namespace of its own).
    The context is never written, either way."""
    if way == "auto":
        need(userns.available(), "this kernel or user cannot make user namespaces")
    context = _context(tmp_path / "context")
    with pytest.raises(BuildFailed):
        embedded("FROM alpine:3.20.3\nRUN --mount=type=bind,source=data,target=/d echo x > /d/new\n", context, way)
    assert not (context / "data" / "new").exists()


def test_a_bind_source_that_links_out_of_the_context_stays_inside_it(embedded, tmp_path):
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "secret.txt").write_text("not for the image\n")
    context = _context(tmp_path / "context")
    (context / "escape").symlink_to(outside)  # absolute: inside the context, /…/outside does not exist
    with pytest.raises(DockerfileError, match="is not (a file or folder )?in the build context"):
        embedded("FROM alpine:3.20.3\nRUN --mount=type=bind,source=escape,target=/m cat /m/secret.txt\n", context)
    (context / "up").symlink_to("../outside")  # relative: `..` stops at the context's root
    with pytest.raises(DockerfileError, match="is not (a file or folder )?in the build context"):
        embedded("FROM alpine:3.20.3\nRUN --mount=type=bind,source=up,target=/m cat /m/secret.txt\n", context)


@pytest.mark.parametrize("way", ["auto", "proot"])
def test_a_target_through_a_link_to_a_host_folder_lands_inside_the_image(embedded, tmp_path, way):
    if way == "auto":
        need(userns.available(), "this kernel or user cannot make user namespaces")
    host = tmp_path / "host-folder"
    host.mkdir()
    context = _context(tmp_path / "context")
    analysis = embedded(f"FROM alpine:3.20.3\nRUN ln -s {host} /victim\n"
                        "RUN --mount=type=tmpfs,target=/victim/sub touch /victim/sub/mark && ls /victim > /saw\n",
                        context, way)
    assert list(host.iterdir()) == []  # the host folder was never reached
    assert "saw" in _stored(analysis)


@pytest.mark.parametrize("way", ["auto", "proot"])
def test_a_step_that_swaps_its_mount_point_s_parent_for_a_link_cannot_make_the_builder_remove_a_host_folder(
        embedded, tmp_path, way):
    if way == "auto":
        need(userns.available(), "this kernel or user cannot make user namespaces")
    host = tmp_path / "host-folder"
    (host / "deep").mkdir(parents=True)  # what a naive clean-up, following the link, would remove
    context = _context(tmp_path / "context")
    analysis = embedded("FROM alpine:3.20.3\n"
                        "RUN --mount=type=tmpfs,target=/made/deep (umount /made/deep 2>/dev/null; true) "
                        f"&& mv /made /made.old && ln -s {host} /made\n", context, way)
    assert (host / "deep").is_dir()
    assert "made" in _stored(analysis)  # the step's link, committed as the step left it


@pytest.mark.engine
def test_the_docker_engine_builds_the_mounts_with_buildkit_and_keeps_none_of_them(docker_client, tmp_path):
    need(__import__("shutil").which("docker") is not None, "no Docker CLI here")
    context = _context(tmp_path / "context")
    lines: list[str] = []

    class Collect:
        def __call__(self, name, step):
            lines.append(f"step {step.number}/{step.total}")

        def done(self, name, engine, analysis):
            lines.append(f"built by {engine}")

    built = helpers.build(MOUNTS, context, name="mounts", tag="layerlab-test/mounts:latest", client=docker_client,
                          progress=Collect())
    # BuildKit removes the empty mount points it made since v0.11 (Engine 23); Engine 20.10's leaves them.
    _check(built.analysis, context, stubs_removed=engine_major(docker_client) >= 23)
    # Each step once, numbered in the whole Dockerfile; two stages FROM one image share one vertex, which BuildKit
    # names after either stage.
    assert lines[-1] == "built by docker+buildkit" and "step 9/9" in lines and len(lines) == len(set(lines))


@pytest.mark.engine
def test_a_mount_build_goes_to_the_engine_of_the_client_it_was_given(docker_client, tmp_path):
    """BuildKit is driven through the CLI: it must be sent where the builder's client is, not to DOCKER_HOST."""
    import docker
    from private_engine import private_engine_with_alpine

    tag = "layerlab-test/elsewhere:latest"
    try:
        docker_client.images.remove(tag, force=True)  # left by an earlier run of this test that failed
    except docker.errors.ImageNotFound:
        pass
    with private_engine_with_alpine() as (_engine, private):
        built = helpers.build("FROM alpine:3.20.3\nRUN --mount=type=tmpfs,target=/t echo hi > /t/x && echo hi > /hi\n",
                              name="elsewhere", tag=tag, client=private)
        assert private.images.get(tag).id == built.image_id
    with pytest.raises(docker.errors.ImageNotFound):
        docker_client.images.get(tag)


@pytest.mark.engine
def test_under_proot_as_an_unprivileged_user_the_mounts_mean_the_same(tmp_path):
    """Binder's case without user namespaces: proot's own binds.

    Its user can make no read-only mount, so there a read-only bind is a copy the step can write:
    what it writes is thrown away, and the context is never written.
    """
    import shutil
    import subprocess

    from binder_user import as_user, unprivileged_user, users_python

    user = unprivileged_user()
    context = Path(user.pw_dir) / "mounts-context"
    shutil.rmtree(context, ignore_errors=True)
    _context(context)
    (context / "Dockerfile").write_text(MOUNTS)
    (context / "ro.Dockerfile").write_text("FROM alpine:3.20.3\nRUN --mount=type=bind,source=data,target=/d "
                                           "echo x > /d/new && cat /d/new > /wrote\n")
    subprocess.run(["chown", "-R", f"{user.pw_uid}:{user.pw_gid}", str(context)], check=True)
    python = users_python(user)
    environment = ["env", "LAYERLAB_RUN=proot", f"LAYERLAB_ROOTFS={ALPINE_TARBALLS}",
                   f"LAYERLAB_STORE={user.pw_dir}/mounts-store"]
    for dockerfile in ("Dockerfile", "ro.Dockerfile"):
        built = as_user(user, [*environment, python, "-m", "helpers", "build", str(context), "--engine", "embedded",
                               "--file", str(context / dockerfile)], context)
        assert built.returncode == 0, built.stdout[-2000:] + built.stderr[-2000:]
    assert "L1 2 B" in built.stdout + built.stderr  # /wrote alone: the write to the copy stayed out of the layer
    assert not (context / "data" / "new").exists() and not (context / "data" / "written").exists()


@pytest.mark.engine
def test_both_engines_store_the_same_bytes_in_every_layer(docker_client, embedded, tmp_path):
    """What each engine records differently (mount points left or removed, times, owners) holds no bytes."""
    context = _context(tmp_path / "context")
    by_docker = helpers.build(MOUNTS, context, name="mounts", tag="layerlab-test/mounts-agree:latest",
                              client=docker_client).analysis
    by_embedded = embedded(MOUNTS, context)
    assert by_docker.layers.stored_bytes.tolist() == by_embedded.layers.stored_bytes.tolist()
    assert len(by_docker.layers) == 7  # the base and six RUNs, each a layer in both
