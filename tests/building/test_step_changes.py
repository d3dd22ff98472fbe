"""What a step changed, told by status: the layer it makes, on real trees, with links, depth and locked modes.

* Every kind of change a step makes is committed, and nothing it left alone:
  new, rewritten, re-moded and removed files and folders, a folder replaced by
  a file, links both kinds, a FIFO; a rewrite that puts the modification time
  back is still seen (its ctime is not).
* A link is recorded as a link and never followed, out of the tree or in.
* A tree 1,100 folders deep (one ``RUN mkdir -p``) is walked and committed.
* Built by someone other than root, an entry the step made unreadable to its
  owner (``chmod 000``) is committed with its mode, which is put back after.
"""

from __future__ import annotations

import io
import os
import socket
import subprocess
import tarfile
from pathlib import Path

import pytest

from helpers.building.removal import remove_tree
from helpers.building.step_changes import changes, snapshot, write_layer

ROOT = Path(__file__).resolve().parents[2]


def _layer(root: Path, before) -> dict[str, tarfile.TarInfo]:
    """The members of the layer of what changed under ``root`` since ``before``; a file's bytes in ``CONTENTS``.

    The size the writer counts is the one ``docker history`` shows, as CPython's tarfile reads the layer back.
    """
    changed, whiteouts = changes(before, snapshot(root))
    out = io.BytesIO()
    counted = write_layer(root, changed, whiteouts, out)
    out.seek(0)
    CONTENTS.clear()
    with tarfile.open(fileobj=out) as tar:
        members = {member.name: member for member in tar}
        CONTENTS.update({member.name: tar.extractfile(member).read() for member in members.values()
                         if member.isreg()})
    assert counted == sum(m.size for m in members.values() if m.isreg()) + \
        sum(len(m.linkname) for m in members.values() if m.issym())
    return members


CONTENTS: dict[str, bytes] = {}


def _tree(root: Path) -> None:
    (root / "etc").mkdir(parents=True)
    (root / "etc" / "kept").write_text("kept\n")
    (root / "etc" / "rewritten").write_text("old\n")
    (root / "etc" / "moded").write_text("moded\n")
    (root / "usr" / "share" / "doc").mkdir(parents=True)
    (root / "usr" / "share" / "doc" / "README").write_text("doc\n")
    (root / "var" / "cache").mkdir(parents=True)
    (root / "var" / "cache" / "big").write_bytes(b"x" * 5000)
    (root / "bin").mkdir()
    (root / "bin" / "tool").write_text("tool\n")


def test_each_kind_of_change_is_committed_and_nothing_else(tmp_path):
    root = tmp_path / "rootfs"
    _tree(root)
    before = snapshot(root)
    rewritten = root / "etc" / "rewritten"
    times = os.stat(rewritten)
    rewritten.write_text("new\n")  # same size, and the modification time put back: only its ctime tells
    os.utime(rewritten, ns=(times.st_atime_ns, times.st_mtime_ns))
    os.chmod(root / "etc" / "moded", 0o600)
    (root / "var" / "cache" / "big").unlink()
    subprocess.run(["rm", "-rf", str(root / "usr" / "share")], check=True)
    (root / "usr" / "share").write_text("now a file\n")  # a folder replaced by a file: no whiteouts inside it
    (root / "opt").mkdir()
    (root / "opt" / "new").write_text("new\n")
    os.link(root / "opt" / "new", root / "opt" / "linked")
    os.symlink("/etc/shadow", root / "opt" / "out")  # a link out of the tree: recorded, never followed
    os.mkfifo(root / "opt" / "fifo")
    with socket.socket(socket.AF_UNIX) as listening:
        listening.bind(str(root / "opt" / "socket"))  # no tar type holds one: left out, as Docker leaves it
    layer = _layer(root, before)
    # etc itself is not: no entry came or went in it (as umoci committed it; Docker copies a folder up with a file).
    assert set(layer) == {".", "etc/rewritten", "etc/moded", "var/cache", "var/cache/.wh.big", "usr",
                          "usr/share", "opt", "opt/new", "opt/linked", "opt/out", "opt/fifo"}
    assert CONTENTS["etc/rewritten"] == b"new\n"
    assert layer["etc/moded"].mode == 0o600
    assert layer["usr/share"].isreg() and CONTENTS["usr/share"] == b"now a file\n"
    assert layer["opt/new"].islnk() and layer["opt/new"].linkname == "opt/linked"  # the first, in order, is the file
    assert layer["opt/out"].issym() and layer["opt/out"].linkname == "/etc/shadow"
    assert layer["opt/fifo"].isfifo()
    assert all(member.uname == "" and member.gname == "" for member in layer.values())


def test_a_folder_removed_whole_is_one_whiteout_and_one_made_again_whiteouts_what_it_lost(tmp_path):
    root = tmp_path / "rootfs"
    _tree(root)
    before = snapshot(root)
    subprocess.run(["rm", "-rf", str(root / "usr")], check=True)
    (root / "etc" / "kept").unlink()
    subprocess.run(["rm", "-rf", str(root / "bin")], check=True)
    (root / "bin").mkdir()
    (root / "bin" / "other").write_text("other\n")
    layer = _layer(root, before)
    assert set(layer) == {".", ".wh.usr", "etc", "etc/.wh.kept", "bin", "bin/other", "bin/.wh.tool"}
    assert layer[".wh.usr"].size == 0 and layer[".wh.usr"].isreg()


def test_nothing_changed_is_no_change(tmp_path):
    root = tmp_path / "rootfs"
    _tree(root)
    before = snapshot(root)
    (root / "etc" / "kept").read_text()
    assert changes(before, snapshot(root)) == ([], [])


def test_a_tree_1100_folders_deep_is_walked_and_committed(tmp_path):
    root = tmp_path / "rootfs"
    _tree(root)
    before = snapshot(root)
    subprocess.run(["sh", "-c", "mkdir -p " + "/".join(["d"] * 1100) + " && touch " + "/".join(["d"] * 1100)
                    + "/leaf"], cwd=root, check=True)
    try:
        layer = _layer(root, before)
    finally:
        remove_tree(root / "d")  # pytest's own clean-up recurses once per level
    assert len(layer) == 1102 and "/".join(["d"] * 1100) + "/leaf" in layer  # ., 1,100 folders and the leaf


def test_a_link_in_the_tree_is_never_followed_even_where_a_folder_was(tmp_path):
    root = tmp_path / "rootfs"
    _tree(root)
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "secret").write_text("host secret\n")
    before = snapshot(root)
    subprocess.run(["rm", "-rf", str(root / "var" / "cache")], check=True)
    os.symlink(outside, root / "var" / "cache")  # the folder is now a link to the host: its entries stay out
    layer = _layer(root, before)
    assert set(layer) == {"var", "var/cache"} and layer["var/cache"].issym()
    assert all(b"host secret" not in data for data in CONTENTS.values())


@pytest.mark.engine
def test_built_by_a_user_a_step_s_locked_entries_are_committed_with_their_modes(tmp_path):
    """Binder's case: the tree is the user's, and a step (root in its namespace) may lock its owner out."""
    from binder_user import as_user, unprivileged_user

    user = unprivileged_user()
    home = Path(user.pw_dir)
    script = f"""
import io, os, sys, tarfile
from pathlib import Path
sys.path.insert(0, {str(ROOT)!r})
from helpers.building.removal import remove_tree
from helpers.building.step_changes import changes, snapshot, write_layer
import shutil, subprocess, tempfile
root = Path(tempfile.mkdtemp(dir={str(home)!r})) / "rootfs"
(root / "etc").mkdir(parents=True)
before = snapshot(root)
(root / "etc" / "locked").write_text("locked\\n")
(root / "etc" / "closed").mkdir()
(root / "etc" / "closed" / "inside").write_text("inside\\n")
os.chmod(root / "etc" / "locked", 0)
os.chmod(root / "etc" / "closed", 0)
after = snapshot(root)
changed, whiteouts = changes(before, after)
out = io.BytesIO()
write_layer(root, changed, whiteouts, out, after)
out.seek(0)
members = {{m.name: (m.mode, m.uid, m.gid) for m in tarfile.open(fileobj=out)}}
print(sorted(members.items()))
print(oct(os.stat(root / "etc" / "locked").st_mode & 0o777), oct(os.stat(root / "etc" / "closed").st_mode & 0o777))
print(changes(after, snapshot(root)))
subprocess.run(["chmod", "-R", "u+rwx", str(root)], check=True)
shutil.rmtree(root.parent)
"""
    done = as_user(user, ["/usr/bin/python3", "-c", script], home)  # the standard library is all it needs
    assert done.returncode == 0, done.stderr[-3000:]
    members, modes, again = done.stdout.splitlines()
    assert members == str(sorted({"etc": (0o755, 0, 0), "etc/locked": (0, 0, 0), "etc/closed": (0, 0, 0),
                                  "etc/closed/inside": (0o644, 0, 0)}.items()))
    assert modes == "0o0 0o0"  # put back as the step left them
    assert again == "([], [])"  # and the lending is no change of the step's


def test_a_step_that_leaves_more_entries_than_an_image_may_hold_is_one_clear_error(tmp_path):
    from helpers.ground.errors import LayerLabError

    root = tmp_path / "rootfs"
    _tree(root)
    with pytest.raises(LayerLabError, match="more than 5 entries") as raised:
        snapshot(root, max_entries=5)
    assert "LAYERLAB_MAX_ENTRIES" in raised.value.hint


@pytest.mark.engine
def test_an_entry_the_builder_neither_owns_nor_may_read_is_one_clear_error(tmp_path):
    from binder_user import as_user, unprivileged_user

    user = unprivileged_user()
    root = Path(user.pw_dir) / f"foreign-rootfs-{os.getpid()}"
    (root / "etc" / "foreign").mkdir(parents=True)
    subprocess.run(["chown", "-R", f"{user.pw_uid}:{user.pw_gid}", str(root)], check=True)
    os.chown(root / "etc" / "foreign", 0, 0)
    os.chmod(root / "etc" / "foreign", 0)  # root's: the user can neither read it nor lend itself the bits
    try:
        script = (f"import sys; sys.path.insert(0, {str(ROOT)!r})\nfrom helpers.building.step_changes import snapshot\n"
                  f"from helpers.ground.errors import LayerLabError\ntry:\n    snapshot({str(root)!r})\n"
                  "except LayerLabError as exc:\n    print(exc)\n")
        done = as_user(user, ["/usr/bin/python3", "-c", script], Path(user.pw_dir))
    finally:
        subprocess.run(["rm", "-rf", str(root)], check=True)
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.startswith("`foreign` in the image's filesystem cannot be read to commit it (its owner is uid 0")
