"""Each image's root filesystem unpacked once per builder, and copied for every build that starts from it.

A notebook builds several images on one base, and several stages on one
cached step: umoci unpacked the same image each time, decompressing and
writing every file (06, cold: ten unpacks of 2.5 to 9 s each).  Here the first
build unpacks it into a tree the builder keeps, and every build copies that
tree (``cp -a``: links, modes, times and extended attributes as they are,
links never followed), which takes a fraction of the unpack's time and no
decompression.  A copy that fails (a file its owner made unreadable) falls back
to unpacking the image itself.

The kept trees live in one scratch folder of the store, locked while the
builder lives and removed when it is closed or collected, or at the
interpreter's exit; a killed process's folder goes with the next builder, as
every scratch folder does.  At most :data:`KEPT` trees are kept, the least
recently used going first: a Dockerfile of many stages on many images costs
at most that many images' trees of disk beside its own bundles.
"""

from __future__ import annotations

import contextlib
import tempfile
import weakref
from collections import OrderedDict
from pathlib import Path

from ..ground.errors import LayerLabError
from .oci_store import OciStore, run
from .removal import remove_tree

#: How many unpacked images a builder keeps to copy from.
KEPT = 3


class UnpackedTrees:
    """The root filesystems of the images a builder started stages from, each unpacked once, to copy."""

    def __init__(self, store: OciStore, keep: int = KEPT) -> None:
        self._store = store
        self._keep = keep
        #: tag → the folder holding its tree (``rootfs``), least recently used first.
        self._trees: OrderedDict[str, Path] = OrderedDict()
        self._folder: Path | None = None
        self._finalizer: weakref.finalize | None = None

    def copy(self, tag: str, target: Path) -> None:
        """Make ``target`` (which must not exist) the root filesystem of the store's image ``tag``."""
        kept = self._trees.get(tag)
        if kept is None:
            kept = self._unpack(tag)
        else:
            self._trees.move_to_end(tag)
        try:
            run(["cp", "-a", "--", str(kept / "rootfs"), str(target)], f"copying the root filesystem of {tag}")
        except LayerLabError:  # a copy cannot read what the unpack could write (a chmod 000 file, not as root)
            with contextlib.suppress(FileNotFoundError):
                remove_tree(target)
            self._unpack_into(tag, target)

    def _unpack(self, tag: str) -> Path:
        folder = self._open()
        while len(self._trees) >= self._keep:
            _, oldest = self._trees.popitem(last=False)
            remove_tree(oldest)
        kept = Path(tempfile.mkdtemp(prefix="tree-", dir=folder))
        try:
            self._unpack_into(tag, kept / "rootfs")
        except BaseException:
            remove_tree(kept)
            raise
        self._trees[tag] = kept
        return kept

    def _unpack_into(self, tag: str, target: Path) -> None:
        self._store.umoci("raw", "unpack", "--rootless", "--image", self._store.ref(tag), str(target),
                          what=f"unpacking {tag}")

    def _open(self) -> Path:
        """The scratch folder the trees live in, made and locked on first use, removed by :meth:`close`."""
        if self._folder is None:
            stack = contextlib.ExitStack()
            self._folder = stack.enter_context(self._store.scratch())
            self._finalizer = weakref.finalize(self, stack.close)
        return self._folder

    def close(self) -> None:
        """Remove every kept tree (the builder can still build: the next copy unpacks again)."""
        if self._finalizer is not None:
            self._finalizer()
        self._folder, self._finalizer = None, None
        self._trees.clear()
