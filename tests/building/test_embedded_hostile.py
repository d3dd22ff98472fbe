"""Hostile Dockerfiles and contexts, through the whole embedded builder: refused in one line, or built right.

Every input is made here, for real: tar archives with hard links to host
paths, a tar bomb and a sparse one, a truncated archive, symbolic links left
by a ``RUN`` step, Dockerfiles the parser has to survive.  A canary folder
beside the context shows that nothing outside the image's filesystem changed.
The only fault injected is a full disk (``os.write`` failing with ENOSPC),
which no test can make honestly on a shared machine.
"""

from __future__ import annotations

import errno
import io
import os
import shutil
import signal
import subprocess
import sys
import tarfile
import time
from pathlib import Path

import pytest
from layerlab_fixtures import ALPINE_TARBALLS, current_settings, embedded_tools
from test_embedded_placement import _snapshot

import helpers
from helpers.building.embedded import EmbeddedBuilder
from helpers.building.oci_store import ToolMissing, require_tools
from helpers.building.placement import AddBudgetExceeded
from helpers.ground.errors import DockerfileError, LayerLabError

BASE = "alpine:3.20.3"


@pytest.fixture(scope="module")
def store(tmp_path_factory):
    embedded_tools()
    with pytest.MonkeyPatch.context() as patch:
        root = tmp_path_factory.mktemp("store")
        patch.setenv("LAYERLAB_STORE", str(root))
        patch.setenv("LAYERLAB_ROOTFS", str(ALPINE_TARBALLS))
        yield root


@pytest.fixture
def canary(tmp_path) -> Path:
    folder = tmp_path / "canary"
    folder.mkdir()
    (folder / "f").write_bytes(b"the host's file")
    os.chmod(folder / "f", 0o640)
    os.utime(folder / "f", (1_600_000_000, 1_600_000_000))
    return folder


def _build(text: str, context: Path, name: str = "hostile") -> helpers.Built:
    return helpers.build(text, context, name=name, engine="embedded", progress=lambda n, s: None)


def _context(tmp_path: Path, members: list[tarfile.TarInfo] | None = None) -> Path:
    context = tmp_path / "context"
    context.mkdir()
    (context / "hello").write_bytes(b"hello\n")
    if members is not None:
        with tarfile.open(context / "evil.tar", "w") as archive:
            for member in members:
                archive.addfile(member, io.BytesIO(b"x" * member.size) if member.isreg() else None)
    return context


def _link(name: str, target: str, kind: bytes = tarfile.LNKTYPE) -> tarfile.TarInfo:
    info = tarfile.TarInfo(name)
    info.type, info.linkname, info.mode, info.uid, info.gid, info.mtime = kind, target, 0o755, 4242, 4343, 0
    return info


@pytest.mark.parametrize("how", ["absolute", "dot-dot"])
def test_add_of_a_hard_link_to_a_host_file_is_refused_and_the_host_file_untouched(store, tmp_path, canary, how):
    target = str(canary / "f") if how == "absolute" else "../" * 20 + str(canary / "f").lstrip("/")
    context = _context(tmp_path, [_link("pwn", target)])
    before = _snapshot(canary)
    with pytest.raises(DockerfileError, match="archive member 'pwn' is refused") as caught:
        _build(f"FROM {BASE}\nADD evil.tar /\nCOPY hello /pwn\n", context)
    assert "\n" not in str(caught.value)
    assert _snapshot(canary) == before


def test_copy_through_links_a_run_step_made_lands_inside_the_image(store, tmp_path, canary):
    """`RUN ln -s <host folder> /app` then `COPY hello /app/new`: the link means the image's path, never the host's."""
    context = _context(tmp_path, [_link("up", "../" * 20 + str(canary).lstrip("/"), tarfile.SYMTYPE)])
    before = _snapshot(canary)
    built = _build(f"FROM {BASE}\nADD evil.tar /\nRUN ln -s {canary} /app\nCOPY hello /app/new\n"
                   "COPY hello /up/new2\n", context)
    files = built.analysis.files
    inside = str(canary).lstrip("/")
    assert {f"{inside}/new", f"{inside}/new2"} <= set(files.loc[files.kind == "file", "path"])
    assert _snapshot(canary) == before
    assert not (canary / "new").exists() and not (canary / "new2").exists()


def test_a_tar_bomb_stops_at_the_add_budget(store, tmp_path, monkeypatch):
    context = _context(tmp_path)
    with tarfile.open(context / "bomb.tar.gz", "w:gz") as archive:
        for number in range(8):
            info = tarfile.TarInfo(f"zeros{number}")
            info.size = 1 << 20
            archive.addfile(info, io.BytesIO(bytes(info.size)))
    assert (context / "bomb.tar.gz").stat().st_size < 100_000
    monkeypatch.setenv("LAYERLAB_MAX_ADD_BYTES", "4MiB")
    with pytest.raises(AddBudgetExceeded, match="LAYERLAB_MAX_ADD_BYTES"):
        _build(f"FROM {BASE}\nADD bomb.tar.gz /\n", context)
    monkeypatch.setenv("LAYERLAB_MAX_ADD_BYTES", "16MiB")
    monkeypatch.setenv("LAYERLAB_MAX_ADD_ENTRIES", "5")
    with pytest.raises(AddBudgetExceeded, match="LAYERLAB_MAX_ADD_ENTRIES"):
        _build(f"FROM {BASE}\nADD bomb.tar.gz /\n", context)


@pytest.mark.skipif(shutil.which("tar") is None, reason="GNU tar makes the sparse archive")
def test_a_sparse_member_is_charged_what_it_expands_to(store, tmp_path, monkeypatch):
    """A GNU sparse member stores a few bytes and expands to 64 MiB: the budget counts what is written."""
    context = _context(tmp_path)
    holes = tmp_path / "holes"
    with holes.open("wb") as out:
        out.truncate(64 << 20)
    subprocess.run(["tar", "-S", "-cf", str(context / "sparse.tar"), "-C", str(tmp_path), "holes"], check=True)
    assert (context / "sparse.tar").stat().st_size < 100_000
    monkeypatch.setenv("LAYERLAB_MAX_ADD_BYTES", "8MiB")
    with pytest.raises(AddBudgetExceeded, match="over 8,388,608 bytes"):
        _build(f"FROM {BASE}\nADD sparse.tar /\n", context)


def test_a_truncated_archive_is_one_clear_error(store, tmp_path):
    context = _context(tmp_path)
    whole = io.BytesIO()
    with tarfile.open(fileobj=whole, mode="w") as archive:
        info = tarfile.TarInfo("big")
        info.size = 100_000
        archive.addfile(info, io.BytesIO(bytes(info.size)))
    (context / "cut.tar").write_bytes(whole.getvalue()[:20_000])
    with pytest.raises(DockerfileError, match="truncated") as caught:
        _build(f"FROM {BASE}\nADD cut.tar /\n", context)
    assert "\n" not in str(caught.value)


def test_a_full_disk_during_add_is_one_clear_error(store, tmp_path, monkeypatch):
    import helpers.building.placement as placement

    context = _context(tmp_path)
    with tarfile.open(context / "some.tar", "w") as archive:
        info = tarfile.TarInfo("data")
        info.size = 10
        archive.addfile(info, io.BytesIO(b"0123456789"))

    def full(fd, data):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(placement.os, "write", full)
    with pytest.raises(LayerLabError, match="no space left") as caught:
        _build(f"FROM {BASE}\nADD some.tar /\n", context)
    assert "LAYERLAB_STORE" in caught.value.hint


@pytest.mark.parametrize(("dockerfile", "message"), [
    ("FROM --platform=linux/amd64\n", "names no image"),
    ("ARG BASE\nFROM $BASE\n", "ARG BASE has no default"),
    (f"FROM {BASE}\nSHELL /bin/bash -c\n", "not a JSON array"),
    (f"FROM {BASE}\nRUN <<EOF\necho hi\nEOF\n", "line 2 uses a heredoc"),
    (f"FROM {BASE}\nRUN echo {'x' * (1 << 20)}\n", "too long"),
])
def test_dockerfiles_the_builder_cannot_run_are_refused_in_one_line(store, tmp_path, dockerfile, message):
    with pytest.raises(DockerfileError, match=message) as caught:
        _build(dockerfile, _context(tmp_path))
    assert "\n" not in str(caught.value) and len(str(caught.value)) < 400


@pytest.mark.parametrize("dockerfile", [
    "ARG VERSION=3.20.3\nFROM alpine:$VERSION\nCOPY hello /hello\n",  # a global ARG before FROM
    f"\ufeffFROM {BASE}\nCOPY hello /hello\n",  # a UTF-8 byte-order mark
])
def test_valid_dockerfiles_docker_accepts_build(store, tmp_path, dockerfile):
    built = _build(dockerfile, _context(tmp_path))
    files = built.analysis.files
    assert files.loc[files.path == "hello", "size"].tolist() == [6]


def test_a_run_that_changes_nothing_adds_a_layer_of_0_bytes(store, tmp_path):
    steps = []
    helpers.build(f"FROM {BASE}\nRUN head -c 5000 /dev/zero > /big\nRUN true\n", _context(tmp_path),
                  name="nothing", engine="embedded", progress=lambda name, step: steps.append(step))
    sizes = [step.layer_bytes for step in steps if step.instruction.startswith("RUN")]
    assert sizes == [5000, 0]


def test_eight_builds_at_once_into_one_store_keep_every_tag(tmp_path):
    """Eight different builds, eight processes, one fresh store: the base import and every tag race; none is lost."""
    try:
        require_tools()
    except ToolMissing as exc:
        pytest.skip(str(exc))
    store = tmp_path / "store"
    environment = {**os.environ, "LAYERLAB_STORE": str(store), "LAYERLAB_ROOTFS": str(ALPINE_TARBALLS)}
    builds = []
    for number in range(8):
        context = tmp_path / f"context{number}"
        context.mkdir()
        (context / "data").write_text(f"build {number}\n")
        run = "RUN echo step > /step\n" if number % 2 else ""
        copies = "".join(f"COPY data /data{number}.{copy}\n" for copy in range(4))  # each step rewrites the index
        (context / "Dockerfile").write_text(f"FROM {BASE}\n{copies}{run}")
        builds.append(subprocess.Popen(
            [sys.executable, "-m", "helpers", "build", "--engine", "embedded", "-t", f"layerlab/race{number}",
             str(context)], env=environment, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True))
    results = [(build.wait(timeout=600), build.stderr.read()) for build in builds]
    for build in builds:
        build.stdout.close()
        build.stderr.close()
    assert [code for code, _ in results] == [0] * 8, [err for code, err in results if code]
    tags = EmbeddedBuilder(store, settings=current_settings()).store.index()
    assert {f"layerlab-race{number}" for number in range(8)} <= set(tags), sorted(tags)


def test_a_killed_build_leaves_nothing_in_tmp_and_the_next_build_clears_the_store(tmp_path):
    """SIGKILL in the middle of a RUN: nothing in TMPDIR, and the store's scratch is removed by the next builder."""
    try:
        require_tools()
    except ToolMissing as exc:
        pytest.skip(str(exc))
    store, scratch, context = tmp_path / "store", tmp_path / "tmpdir", tmp_path / "context"
    scratch.mkdir()
    context.mkdir()
    (context / "Dockerfile").write_text(f"FROM {BASE}\nRUN sleep 60\n")
    environment = {**os.environ, "LAYERLAB_STORE": str(store), "LAYERLAB_ROOTFS": str(ALPINE_TARBALLS),
                   "TMPDIR": str(scratch)}
    build = subprocess.Popen([sys.executable, "-m", "helpers", "build", "--engine", "embedded", str(context)],
                             env=environment, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
                             start_new_session=True)
    try:
        for _ in range(600):  # until the RUN step is under way
            if subprocess.run(["pgrep", "-s", str(build.pid), "-f", "sleep 60"], capture_output=True).returncode == 0:
                break
            time.sleep(0.1)
        else:
            pytest.fail("the RUN step never started: " + (build.stderr.read() if build.poll() is not None else ""))
    finally:
        os.killpg(build.pid, signal.SIGKILL)
        build.wait()
        build.stderr.close()
    assert list(scratch.iterdir()) == []
    assert list((store / "tmp").iterdir())  # the killed build's scratch is still there…
    (context / "Dockerfile").write_text(f"FROM {BASE}\nRUN true\n")
    again = subprocess.run([sys.executable, "-m", "helpers", "build", "--engine", "embedded", str(context)],
                           env=environment, capture_output=True, text=True, timeout=600)
    assert again.returncode == 0, again.stderr
    assert list((store / "tmp").iterdir()) == []  # …until the next builder clears it
    assert list(scratch.iterdir()) == []


def _fresh_store(tmp_path, monkeypatch) -> EmbeddedBuilder:
    embedded_tools()
    monkeypatch.setenv("LAYERLAB_STORE", str(tmp_path / "store"))  # the store the test's builds use too
    monkeypatch.setenv("LAYERLAB_ROOTFS", str(ALPINE_TARBALLS))
    builder = EmbeddedBuilder(settings=current_settings())
    builder.base(BASE)
    return builder


def test_a_store_blob_that_no_longer_matches_its_digest_is_one_clear_error(tmp_path, monkeypatch):
    """The store's documents are read as any layout's are: inside it, bounded, each blob against its digest."""
    builder = _fresh_store(tmp_path, monkeypatch)
    config = builder.describe_base(BASE)["id"]
    blob = builder.layout / "blobs" / "sha256" / config.split(":")[1]
    blob.write_bytes(blob.read_bytes().replace(b"/bin/sh", b"/bin/zz"))  # a changed byte, same shape
    with pytest.raises(LayerLabError, match=r"store is damaged: .*does not match its digest") as raised:
        _build(f"FROM {BASE}\nRUN true\n", _context(tmp_path), name="damaged")
    assert "it is only a cache" in raised.value.hint


def test_a_store_index_that_links_out_of_the_store_is_refused(tmp_path, monkeypatch):
    builder = _fresh_store(tmp_path, monkeypatch)
    outside = tmp_path / "elsewhere.json"
    outside.write_text((builder.layout / "index.json").read_text())
    (builder.layout / "index.json").unlink()
    (builder.layout / "index.json").symlink_to(outside)
    with pytest.raises(LayerLabError, match="store is damaged: .*a symlink leading out of the layout"):
        builder.has_base(BASE)


def test_env_values_too_long_for_a_command_line_are_one_line_not_e2big(store, tmp_path):
    context = _context(tmp_path)
    values = "".join(f"ENV V{n}={'x' * (120 << 10)}\n" for n in range(24))  # each under 128 KiB, 2.9 MB in all
    with pytest.raises(LayerLabError) as caught:
        _build(f"FROM {BASE}\n{values}", context, name="long-env")
    assert "more than this system passes to a program" in caught.value.message or "KiB" in caught.value.message
    assert "\n" not in str(caught.value) and len(str(caught.value)) < 2_100


def test_a_rootfs_folder_that_is_a_file_is_one_line(tmp_path):
    (tmp_path / "file").write_text("x")
    done = subprocess.run([sys.executable, "-m", "helpers", "base", "alpine:3.20.3", "--rootfs", str(tmp_path / "file"),
                           "--no-docker"], capture_output=True, text=True, cwd=Path(__file__).resolve().parents[2])
    assert done.returncode == 2 and done.stderr.count("\n") == 1 and "is a file, not a folder" in done.stderr
