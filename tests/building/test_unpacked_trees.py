"""The store's kept trees: a copy is the tree umoci unpacks, a second build unpacks nothing, and no link is followed.

Every tree is made by the real builder from a real base; the images hold the
entries a copy could get wrong (hard links, links to nowhere, a folder no one
may write, a file no one may read, set-user-ID, an extended attribute).  The
faults injected are a umoci that refuses to unpack and a ``cp`` that fails.
"""

from __future__ import annotations

import fcntl
import hashlib
import os
import signal
import stat
import subprocess
import sys
import time
from pathlib import Path

import pytest
from layerlab_fixtures import ALPINE_TARBALLS, current_settings, embedded_tools, processes_naming

from helpers.building.embedded import EmbeddedBuilder
from helpers.building.unpacked_trees import TREE_MARK, UnpackedTrees
from helpers.ground.dockerfile import parse_dockerfile_text

BASE = "alpine:3.20.3"
ODD_ENTRIES = (
    "RUN mkdir -p /ro/sub && echo x > /ro/sub/f && chmod 555 /ro && ln /etc/hostname /hard"
    " && ln -s /nowhere /dangling && echo secret > /secret && chmod 000 /secret && chmod 4755 /bin/busybox"
    " && mkfifo /fifo && touch -d @1000000000 /old\n"
)


@pytest.fixture
def builder(tmp_path, monkeypatch) -> EmbeddedBuilder:
    embedded_tools()
    monkeypatch.setenv("LAYERLAB_ROOTFS", str(ALPINE_TARBALLS))
    return EmbeddedBuilder(tmp_path / "store", settings=current_settings())


def _tag(builder: EmbeddedBuilder, text: str, tmp_path: Path, name: str) -> str:
    context = tmp_path / f"context-{name}"
    context.mkdir()
    builder.build(parse_dockerfile_text(text), context, name, name)
    return name


def _listing(root: Path) -> dict[str, tuple]:
    """Everything a step could see of each entry: kind, mode, owner, size, times, link, content, attributes, links."""
    found, inodes = {}, {}
    for folder, names, files in os.walk(root):
        for name in names + files:
            path = Path(folder, name)
            info = path.lstat()
            kind = stat.S_IFMT(info.st_mode)
            content = hashlib.sha256(path.read_bytes()).hexdigest() if stat.S_ISREG(kind) else None
            xattrs = sorted((a, os.getxattr(path, a, follow_symlinks=False))
                            for a in os.listxattr(path, follow_symlinks=False))
            group = inodes.setdefault(info.st_ino, str(path.relative_to(root))) if info.st_nlink > 1 and \
                not stat.S_ISDIR(kind) else None
            found[str(path.relative_to(root))] = (
                kind, stat.S_IMODE(info.st_mode), info.st_uid, info.st_gid, info.st_size if not stat.S_ISDIR(kind)
                else None, info.st_mtime_ns, os.readlink(path) if stat.S_ISLNK(kind) else None, content, xattrs, group)
    return found


def _umoci_unpack(builder: EmbeddedBuilder, tag: str, rootfs: Path) -> None:
    subprocess.run([builder.tools["umoci"], "raw", "unpack", "--rootless", "--image", builder.store.ref(tag),
                    str(rootfs)], check=True, capture_output=True)


def _trees(builder: EmbeddedBuilder) -> list[str]:
    folder = builder.root / "trees"
    return sorted(p.name for p in folder.iterdir()) if folder.is_dir() else []


@pytest.mark.parametrize("image", ["base", "odd entries"])
def test_a_copied_tree_is_the_tree_umoci_unpacks(builder, tmp_path, image):
    tag = builder.base(BASE) if image == "base" else _tag(builder, f"FROM {BASE}\n{ODD_ENTRIES}", tmp_path, "odd")
    _umoci_unpack(builder, tag, tmp_path / "unpacked")
    scratch = tmp_path / "scratch"
    scratch.mkdir()
    builder.trees.unpack(tag, tmp_path / "first", scratch)  # unpacks, keeps, copies
    builder.trees.unpack(tag, tmp_path / "second", scratch)  # copies
    expected = _listing(tmp_path / "unpacked")
    assert _listing(tmp_path / "first") == expected
    assert _listing(tmp_path / "second") == expected
    assert builder.store.manifest_digest(tag).removeprefix("sha256:") in _trees(builder)
    if image == "odd entries":
        assert expected["hard"][-1] is not None and expected["secret"][1] == 0 and expected["ro"][1] == 0o555


def _tool(tmp_path: Path, name: str, script: str) -> Path:
    """A program ``name`` in ``tmp_path/tools`` that runs the shell ``script`` (how a fault is injected)."""
    tool = tmp_path / "tools" / name
    tool.parent.mkdir(exist_ok=True)
    tool.write_text(f"#!/bin/sh\n{script}\n")
    tool.chmod(0o755)
    return tool


def _failing_tool(tmp_path: Path, name: str, real: str, refuse: str) -> str:
    """``real``, except that it exits 1 when its arguments hold ``refuse`` (the fault injected)."""
    return str(_tool(tmp_path, name, f'case " $* " in *" {refuse} "*) echo "{name}: refused" >&2; exit 1;; esac\n'
                                     f'exec {real} "$@"'))


def test_a_second_build_from_the_same_image_unpacks_nothing(builder, tmp_path):
    _tag(builder, f"FROM {BASE}\nRUN echo one > /one\n", tmp_path, "first")
    builder.tools["umoci"] = _failing_tool(tmp_path, "umoci", builder.tools["umoci"], "unpack")
    second = _tag(builder, f"FROM {BASE}\nRUN echo two > /two\n", tmp_path, "second")
    assert builder.store.layers(second)[-1] != builder.store.layers("first")[-1]


def test_a_tree_cp_cannot_copy_is_unpacked_instead_and_not_kept(builder, tmp_path, monkeypatch):
    bin_dir = Path(_failing_tool(tmp_path, "cp", "/bin/cp", "-a")).parent
    monkeypatch.setenv("PATH", f"{bin_dir}:{os.environ['PATH']}")
    tag = builder.base(BASE)
    _umoci_unpack(builder, tag, tmp_path / "unpacked")
    scratch = tmp_path / "scratch"
    scratch.mkdir()
    builder.trees.unpack(tag, tmp_path / "rootfs", scratch)
    assert _listing(tmp_path / "rootfs") == _listing(tmp_path / "unpacked")
    assert _trees(builder) == []


def _victim(folder: Path) -> Path:
    (folder / "rootfs").mkdir(parents=True)
    (folder / "rootfs" / "planted").write_text("not the image's")
    (folder / TREE_MARK).write_text("")
    return folder


def test_a_tree_swapped_for_a_link_is_neither_copied_nor_removed(builder, tmp_path):
    tag = builder.base(BASE)
    name = builder.store.manifest_digest(tag).removeprefix("sha256:")
    victim = _victim(tmp_path / "victim")
    (builder.root / "trees").mkdir()
    (builder.root / "trees" / name).symlink_to(victim)
    scratch = tmp_path / "scratch"
    scratch.mkdir()
    builder.trees.unpack(tag, tmp_path / "rootfs", scratch)
    assert not (tmp_path / "rootfs" / "planted").exists() and (tmp_path / "rootfs" / "etc" / "alpine-release").is_file()
    assert (victim / "rootfs" / "planted").read_text() == "not the image's"
    assert (builder.root / "trees" / name).is_symlink()


def test_a_trees_folder_that_is_a_link_is_never_followed(builder, tmp_path):
    tag = builder.base(BASE)
    name = builder.store.manifest_digest(tag).removeprefix("sha256:")
    victim = tmp_path / "victim"
    _victim(victim / name)
    (builder.root / "trees").symlink_to(victim)
    scratch = tmp_path / "scratch"
    scratch.mkdir()
    builder.trees.unpack(tag, tmp_path / "rootfs", scratch)
    assert not (tmp_path / "rootfs" / "planted").exists() and (tmp_path / "rootfs" / "etc" / "alpine-release").is_file()
    assert sorted(p.name for p in victim.iterdir()) == [name]
    assert (victim / name / "rootfs" / "planted").read_text() == "not the image's"


def test_eviction_keeps_the_newest_a_tree_in_use_and_what_is_not_a_tree(builder, tmp_path):
    trees = UnpackedTrees(builder.store, keep=1)
    folder = builder.root / "trees"
    folder.mkdir()
    unmarked = folder / ("0" * 64)
    (unmarked / "rootfs").mkdir(parents=True)
    someone = folder / "someone-elses"
    someone.mkdir()
    scratch = tmp_path / "scratch"
    scratch.mkdir()
    tags = [builder.base(BASE)] + [_tag(builder, f"FROM {BASE}\nRUN echo {n} > /n\n", tmp_path, f"n{n}")
                                   for n in range(2)]
    names = [builder.store.manifest_digest(tag).removeprefix("sha256:") for tag in tags]
    trees.unpack(tags[0], tmp_path / "r0", scratch)
    in_use = os.open(folder / names[0], os.O_RDONLY | os.O_DIRECTORY)
    try:
        fcntl.flock(in_use, fcntl.LOCK_SH)  # a copy in progress, in another builder
        trees.unpack(tags[1], tmp_path / "r1", scratch)
        assert names[0] in _trees(builder)  # in use: stays, though one over the limit
    finally:
        os.close(in_use)
    trees.unpack(tags[2], tmp_path / "r2", scratch)
    kept = set(_trees(builder))
    assert names[2] in kept and names[0] not in kept and names[1] not in kept
    assert unmarked.name in kept and someone.name in kept


def test_builds_racing_for_one_image_keep_one_tree_and_all_succeed(tmp_path):
    embedded_tools()
    store = tmp_path / "store"
    environment = {**os.environ, "LAYERLAB_STORE": str(store), "LAYERLAB_ROOTFS": str(ALPINE_TARBALLS)}
    EmbeddedBuilder(store, settings=current_settings()).base(BASE)
    processes = []
    for number in range(4):
        context = tmp_path / f"context{number}"
        context.mkdir()
        (context / "Dockerfile").write_text(f"FROM {BASE}\nRUN echo {number} > /n\n")
        processes.append(subprocess.Popen([sys.executable, "-m", "helpers", "build", "--engine", "embedded", "-t",
                                           f"layerlab/tree{number}", str(context)], env=environment,
                                          stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True))
    errors = [(p.wait(timeout=300), p.stderr.read()) for p in processes]
    for p in processes:
        p.stderr.close()
    assert [code for code, _ in errors] == [0] * 4, errors
    assert len(list((store / "trees").iterdir())) == 1
    assert not list((store / "tmp").iterdir())


def test_a_tree_is_locked_against_eviction_while_it_is_copied(builder, tmp_path, monkeypatch):
    tag = builder.base(BASE)
    scratch = tmp_path / "scratch"
    scratch.mkdir()
    builder.trees.unpack(tag, tmp_path / "kept", scratch)
    tree = builder.root / "trees" / builder.store.manifest_digest(tag).removeprefix("sha256:")
    seen = tmp_path / "unlocked"
    wrapper = _tool(tmp_path, "cp", f'flock -n -x "{tree}" true && echo unlocked > "{seen}"\nexec /bin/cp "$@"')
    monkeypatch.setenv("PATH", f"{wrapper.parent}:{os.environ['PATH']}")
    builder.trees.unpack(tag, tmp_path / "copied", scratch)  # an eviction now, in another builder, would fail
    assert (tmp_path / "copied" / "etc" / "alpine-release").is_file() and not seen.exists()


def test_a_builder_killed_while_it_copies_leaves_no_copy_running(builder, tmp_path):
    tag = builder.base(BASE)
    scratch = tmp_path / "scratch"
    scratch.mkdir()
    builder.trees.unpack(tag, tmp_path / "kept", scratch)
    marker = f"layerlab-slow-copy-{os.getpid()}"
    wrapper = _tool(tmp_path, "cp", f"exec {sys.executable} -c 'import time; time.sleep(60)' {marker}")  # hangs
    script = (f"from pathlib import Path\nfrom helpers.building.embedded import EmbeddedBuilder\n"
              f"from helpers.ground.settings import Settings\n"
              f"b = EmbeddedBuilder({str(builder.root)!r}, settings=Settings.from_environment())\n"
              f"b.trees.unpack({tag!r}, Path({str(tmp_path / 'copied')!r}), Path({str(scratch)!r}))\n")
    child = subprocess.Popen([sys.executable, "-c", script], env={**os.environ, "PATH": f"{wrapper.parent}:"
                             f"{os.environ['PATH']}", "LAYERLAB_ROOTFS": str(ALPINE_TARBALLS)},
                             stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 60
    while not processes_naming(marker) and child.poll() is None and time.monotonic() < deadline:
        time.sleep(0.05)
    assert processes_naming(marker), child.communicate()[1] if child.poll() is not None else "no copy ran"
    child.send_signal(signal.SIGKILL)
    child.communicate()
    deadline = time.monotonic() + 10
    while processes_naming(marker) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not processes_naming(marker)
