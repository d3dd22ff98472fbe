"""The embedded builder's COPY and ADD never reach outside the image's filesystem.

Property (hypothesis): random trees of files, folders, symbolic links and hard
links, whose targets are absolute, relative, ``..`` chains or other links, are
ADDed as real tar archives, COPYed from a real context folder and linked in
place as a ``RUN`` step would, in random orders, into a rootfs that sits next
to a canary folder.  Whatever each step does (places the files, or refuses
with one DockerfileError), the canary is unchanged byte for byte, with its
owner, mode, link count and times, and nothing new appears outside the rootfs.
Every link target that could escape names the canary, so a regression damages
only the test's own folder.

The placement is :mod:`helpers.building.placement`, which the builder calls for every
COPY and ADD; the builds at the end of this file go through the whole builder.
"""

from __future__ import annotations

import atexit
import hashlib
import io
import os
import shutil
import stat
import tarfile
import tempfile
from pathlib import Path

from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from helpers.building.placement import AddBudget, Rootfs, copy_into, extract_into
from helpers.ground.errors import DockerfileError, LayerLabError

NAMES = ["a", "b", "sub", "sub/a", "sub/b", "lnk", "lnk/a", "lnk/sub/a", "deep/er/a"]


def _snapshot(top: Path) -> dict[str, tuple]:
    """Everything about every name under ``top`` (links not followed): kind, mode, owner, links, size, times, bytes."""
    seen: dict[str, tuple] = {}
    for folder, dirs, files in os.walk(top):
        for name in [".", *dirs, *files]:
            path = Path(folder) / name
            info = os.lstat(path)
            content: bytes | str = b""
            if stat.S_ISREG(info.st_mode):
                content = hashlib.sha256(path.read_bytes()).hexdigest()
            elif stat.S_ISLNK(info.st_mode):
                content = os.readlink(path)
            seen[str(path.relative_to(top))] = (info.st_mode, info.st_uid, info.st_gid, info.st_nlink, info.st_size,
                                                info.st_mtime_ns, info.st_ctime_ns, content)
    return seen


def _targets(canary: Path) -> st.SearchStrategy[str]:
    """Link targets: inside the tree, chains through other links, and every way out that lands on the canary."""
    inside = canary.relative_to("/")
    return st.sampled_from([
        str(canary), str(canary / "f"), str(canary / "sub"),  # absolute: the host's canary, if followed by the host
        "../" * 12 + str(inside), "../" * 12 + str(inside / "f"),  # relative, climbing past the root
        "..", "../..", "../sub", "/", "/sub", "/lnk", "a", "sub", "lnk", "lnk/sub", "sub/../..", "/deep/er",
    ])


def _members(canary: Path) -> st.SearchStrategy[list[tuple[str, str, str]]]:
    kinds = st.sampled_from(["file", "dir", "symlink", "hardlink"])
    names = st.sampled_from([*NAMES, "..", "../x", "/abs/x", "sub/../../x"])
    return st.lists(st.tuples(names, kinds, _targets(canary)), min_size=1, max_size=8)


def _tar(members: list[tuple[str, str, str]], canary: Path) -> bytes:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w", format=tarfile.PAX_FORMAT) as archive:
        for name, kind, target in members:
            info = tarfile.TarInfo(name)
            info.mode, info.uid, info.gid, info.mtime = 0o6755, 4242, 4343, 0  # set-id bits, a stranger, 1970
            data = b""
            if kind == "file":
                data = b"written by the archive"
            elif kind == "dir":
                info.type = tarfile.DIRTYPE
            elif kind == "symlink":
                info.type, info.linkname = tarfile.SYMTYPE, target
            else:  # a hard link: to a member, to the canary's file by an absolute path, or through ..
                info.type, info.linkname = tarfile.LNKTYPE, target.lstrip("/") if target.startswith("sub") else target
            info.size = len(data)
            archive.addfile(info, io.BytesIO(data))
    return buffer.getvalue()


def _context(folder: Path, entries: list[tuple[str, str, str]]) -> None:
    """A build context: files, folders and symbolic links at ``entries``, each made where its parent allows."""
    folder.mkdir()
    for name, kind, target in entries:
        path = folder / name
        parents = [folder.joinpath(*Path(name).parts[:depth]) for depth in range(1, len(Path(name).parts))]
        if os.path.lexists(path) or any(parent.is_symlink() for parent in parents):
            continue  # never make the context itself through a link (the test's own canary would pay)
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            if kind == "file":
                path.write_bytes(b"copied from the context")
            elif kind == "dir":
                path.mkdir()
            else:
                path.symlink_to(target)
        except OSError:
            continue  # a name under a file or a dangling link: that tree simply lacks it


def _steps(canary: Path) -> st.SearchStrategy[list[tuple]]:
    destinations = st.sampled_from(["/", "/a", "/sub/", "/lnk", "/lnk/", "/lnk/sub", "/deep/er/", str(canary) + "/"])
    add = st.tuples(st.just("add"), _members(canary), destinations)
    copy = st.tuples(st.just("copy"),
                     st.lists(st.tuples(st.sampled_from(NAMES), st.sampled_from(["file", "dir", "symlink"]),
                                        _targets(canary)), min_size=1, max_size=6),
                     st.sampled_from([".", "a", "sub", "lnk", "lnk/a", "sub/a"]), destinations)
    link = st.tuples(st.just("link"), st.sampled_from(["lnk", "sub", "a", "deep"]), _targets(canary))
    return st.lists(st.one_of(add, copy, link), min_size=1, max_size=6)


CANARY_ROOT = Path(tempfile.mkdtemp(prefix="placement-canary-"))  # one fixed path, so the strategies can name it
CANARY = CANARY_ROOT / "canary"
atexit.register(shutil.rmtree, CANARY_ROOT, True)


def _make_canary() -> None:
    if CANARY.exists():
        return
    (CANARY / "sub").mkdir(parents=True)
    (CANARY / "f").write_bytes(b"the host's file")
    (CANARY / "sub" / "g").write_bytes(b"the host's other file")
    (CANARY / "link").symlink_to("f")
    os.chmod(CANARY / "f", 0o640)
    for path in (CANARY / "f", CANARY / "sub" / "g", CANARY / "sub", CANARY):
        os.utime(path, (1_600_000_000, 1_600_000_000))


@settings(max_examples=300, deadline=None, database=None, suppress_health_check=[HealthCheck.too_slow])
@given(_steps(CANARY))
def test_no_placement_changes_anything_outside_the_rootfs(steps):
    _make_canary()
    before, around = _snapshot(CANARY), sorted(os.listdir(CANARY_ROOT))
    with tempfile.TemporaryDirectory(dir=CANARY_ROOT) as work:
        work = Path(work)
        rootfs = work / "rootfs"
        (rootfs / "sub").mkdir(parents=True)
        (rootfs / "etc").mkdir()
        for number, step in enumerate(steps):
            try:
                with Rootfs(rootfs) as image:
                    if step[0] == "add":
                        _, members, destination = step
                        extract_into(image, io.BytesIO(_tar(members, CANARY)), destination,
                                     AddBudget(1 << 20, 1000), "ADD archive.tar")
                    elif step[0] == "copy":
                        _, entries, source, destination = step
                        _context(work / f"context{number}", entries)
                        with Rootfs(work / f"context{number}") as context:
                            if context.kind(source) is None:
                                continue
                            copy_into(image, context, source, destination, destination.endswith("/"))
                    else:
                        _, name, target = step
                        image.symlink(name, target)  # what `RUN ln -sfn TARGET NAME` leaves for the next step
                event(f"{step[0]} placed")
            except (DockerfileError, LayerLabError, OSError) as refused:
                event(f"{step[0]} refused: {type(refused).__name__}")
                continue  # refused (the builder makes an OSError one DockerfileError); reaching out is not
        leaked = [name for name in os.listdir(work) if name != "rootfs" and not name.startswith("context")]
        assert leaked == []
    assert _snapshot(CANARY) == before
    assert sorted(os.listdir(CANARY_ROOT)) == around


def test_the_canary_check_can_fail():
    """The snapshot sees what an escape would do: a new name, a changed mode, a new hard link, new bytes."""
    _make_canary()
    before = _snapshot(CANARY)
    for change, undo in [
        (lambda: os.chmod(CANARY / "f", 0o755), lambda: os.chmod(CANARY / "f", 0o640)),
        (lambda: os.link(CANARY / "f", CANARY_ROOT / "extra"), lambda: os.unlink(CANARY_ROOT / "extra")),
    ]:
        change()
        try:
            assert _snapshot(CANARY) != before
        finally:
            undo()
    (CANARY / "new").write_bytes(b"")
    try:
        assert _snapshot(CANARY) != before
    finally:
        (CANARY / "new").unlink()
