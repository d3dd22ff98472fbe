"""Images of the store unpacked once and kept, so that a build copies a tree instead of unpacking it again.

Every build unpacks the image its first new step starts from: ``umoci raw
unpack`` reads, hashes and gunzips each layer and writes the tree: 1.3 s for
``debian:bookworm-slim`` (82 MB, 4,200 entries) on a 2-core machine, and
notebook 06 unpacks that base in six of its builds.  A copy of a kept tree
(``cp -a``) skips the reading, hashing and gunzip, but not the writing: on the
2-core virtual machine these figures come from, where a system call takes about
14 µs, it took 0.1-1.2 s, and 06 gained 2-4 s of about 130.  So the first unpack of an image is kept,
and later builds copy it.

A kept tree is ``STORE/trees/<manifest digest>/`` holding ``rootfs/`` and
:data:`TREE_MARK`:

* **made** by umoci in the build's own scratch folder, marked, then renamed into
  ``trees/`` whole; a builder that finds another's tree placed first uses its own
  unpack where it is, as a build without kept trees would;
* **copied** under a shared ``flock`` of its folder, by a ``cp -a`` that dies with the builder, handed the
  folder already open (``/proc/self/fd/N``) so that no link on the way is
  followed.  ``cp -a`` never follows a link inside the tree, and keeps modes,
  owners, times, hard links and extended attributes (umoci's rootless owners
  live in one);
* **evicted** beyond :data:`TREES_KEPT`, least recently used first, each only
  under an exclusive lock that a copy in progress holds off, and only a folder
  named as a tree is and holding its mark.

A tree is trusted as the store's other files are: only this package writes the
store.  A tree that cannot be copied (one an unprivileged owner cannot read,
say) is a miss: the build unpacks the image with umoci as before.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import re
import subprocess
import tempfile
from pathlib import Path

from .oci_store import OciStore, remove_if_unused
from .removal import OPEN_FOLDER, remove_tree
from .step_process import tied

#: The most unpacked images a store keeps: each is as big as its image (82 MB for Debian's slim base, 360 MB
#: for 06's toolchain), at most about 1 GB on disk for 06.  With two, 06's cached `RUN apt-get install python3`
#: image was unpacked twice (8.2 s); with four, its second build copies it (5.7 s for both).
TREES_KEPT = 4
#: The file that marks a kept tree whole and this store's own.
TREE_MARK = ".layerlab-tree"
_TREE_NAME = re.compile(r"[0-9a-f]{64}")


class UnpackedTrees:
    """The unpacked images a store keeps, in ``store.root / "trees"``."""

    def __init__(self, store: OciStore, keep: int = TREES_KEPT) -> None:
        self.store = store
        self.folder = store.root / "trees"
        self.keep = keep

    def unpack(self, tag: str, rootfs: Path, scratch: Path) -> None:
        """Make ``rootfs`` (which must not exist) the root filesystem of image ``tag``, as ``umoci raw unpack`` would.

        Copied from a kept tree when there is one; else unpacked by umoci into a
        new kept tree (``scratch``: the build's own folder), which is then copied.
        """
        name = self.store.manifest_digest(tag).removeprefix("sha256:")
        if self._copied(name, rootfs):
            return
        made = Path(tempfile.mkdtemp(prefix="tree-", dir=scratch))
        self._unpack(tag, made / "rootfs")
        os.close(os.open(made / TREE_MARK, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC,
                         0o644))
        if not self._placed(made, name):  # another builder's is kept: this one is used where it is
            os.rename(made / "rootfs", rootfs)
            return
        if self._copied(name, rootfs):
            self._evict()
            return
        self._evict(drop=name)  # a tree this user cannot copy is not worth keeping
        self._unpack(tag, rootfs)

    def _unpack(self, tag: str, rootfs: Path) -> None:
        self.store.umoci("raw", "unpack", "--rootless", "--image", self.store.ref(tag), str(rootfs),
                         what=f"unpacking {tag}")

    def _placed(self, made: Path, name: str) -> bool:
        """Rename tree ``made`` into the kept trees as ``name``; false if that cannot be (another's is kept)."""
        try:
            self.folder.mkdir(exist_ok=True)
            folder = os.open(self.folder, OPEN_FOLDER)
        except OSError:
            return False
        try:
            os.rename(made, name, dst_dir_fd=folder)
        except OSError:
            return False  # one is there already (another builder's), or the store cannot take it
        finally:
            os.close(folder)
        return True

    def _copied(self, name: str, rootfs: Path) -> bool:
        """Copy kept tree ``name`` to ``rootfs``; false when there is none whole, it is being removed, or cp fails."""
        try:
            folder = os.open(self.folder, OPEN_FOLDER)
        except OSError:
            return False
        try:
            tree = os.open(name, OPEN_FOLDER, dir_fd=folder)
        except OSError:
            return False
        finally:
            os.close(folder)
        try:
            fcntl.flock(tree, fcntl.LOCK_SH | fcntl.LOCK_NB)  # an eviction in progress holds it exclusively
            os.stat(TREE_MARK, dir_fd=tree, follow_symlinks=False)
            source = os.open("rootfs", OPEN_FOLDER, dir_fd=tree)
        except OSError:
            os.close(tree)
            return False
        try:
            done = subprocess.run(tied(["cp", "-a", "--", f"/proc/self/fd/{source}/.", str(rootfs)]),
                                  pass_fds=(source,), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            if done.returncode != 0:
                with contextlib.suppress(OSError):
                    remove_tree(rootfs)
                return False
            with contextlib.suppress(OSError):
                os.utime(tree)  # most recently used: the last evicted
            return True
        finally:
            os.close(source)
            os.close(tree)

    def _evict(self, drop: str | None = None) -> None:
        """Remove all but the :attr:`keep` most recently used trees, and tree ``drop``; a tree being copied stays."""
        try:
            folder = os.open(self.folder, OPEN_FOLDER)
        except OSError:
            return
        try:
            trees = []
            for entry in os.scandir(folder):
                if _TREE_NAME.fullmatch(entry.name) and entry.is_dir(follow_symlinks=False):
                    with contextlib.suppress(OSError):
                        trees.append((entry.stat(follow_symlinks=False).st_mtime_ns, entry.name))
            kept = [name for _, name in sorted(trees, reverse=True) if name != drop][:self.keep]
            for _, name in trees:
                if name not in kept:
                    remove_if_unused(folder, name, TREE_MARK)
        finally:
            os.close(folder)
