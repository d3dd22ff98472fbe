"""Stack layers the way an overlay filesystem does, and record what each layer hides.

This is the ground truth behind :mod:`helpers.measuring.metrics`.  Rules (OCI image
spec, "Representing Changes"):

* a path added again in a later layer *shadows* the earlier copy; a
  non-directory that replaces a directory hides the directory's whole subtree;
* ``.wh.NAME`` deletes NAME, and the subtree under it, from the layers below;
* ``.wh..wh..opq`` in directory D hides everything the layers below hold in D
  (but not D itself);
* whiteouts and opaque markers act on lower layers only, so they are applied
  before the layer's own entries, wherever they sit in the tar;
* a path listed twice in one layer keeps its last copy.

Bytes are counted per *inode*: a regular file makes one; a hard link points
at an existing one and adds no bytes.  An inode stays visible while any path
to it is visible, so deleting one name of a hard-linked file frees nothing.
"""

from __future__ import annotations

import posixpath
from collections import namedtuple

from ..ground.model import WHITEOUT_PREFIX, Layer
from . import overlay_core
from .overlay_core import NAMES, compiled_for


class Hidden(namedtuple("Hidden", "path layer size hidden_by how inode")):
    """Bytes stored in ``layer`` that are invisible in the final image, hidden by ``hidden_by``.

    A :func:`~collections.namedtuple`, as the model's records are (:mod:`helpers.ground.model` says why).
    """

    __slots__ = ()
    path: str
    layer: int
    size: int
    hidden_by: int
    how: str  # "shadowed", "deleted" or "opaque"
    inode: int


class MergeResult:
    """The outcome of stacking every layer.

    ``inode_size`` and ``inode_layer``: the bytes of each inode, and the layer that stored it;
    ``visible``: path -> (kind, inode or -1, layer) for every path visible at the end; ``hidden``:
    every stored file the final image does not show.
    """

    __slots__ = ("inode_size", "inode_layer", "visible", "hidden")

    def __init__(self) -> None:
        self.inode_size: list[int] = []
        self.inode_layer: list[int] = []
        self.visible: dict[str, tuple[str, int, int]] = {}
        self.hidden: list[Hidden] = []

    @property
    def visible_inodes(self) -> set[int]:
        return {inode for _, inode, _ in self.visible.values() if inode >= 0}


class Overlay:
    """The merge, one layer at a time: :meth:`apply` each layer base first, then read :attr:`result`."""

    def __init__(self) -> None:
        self.result = MergeResult()
        self.visible = self.result.visible
        self.children: dict[str, set[str]] = {}
        self.refs: list[int] = []
        self._records: dict[tuple[str, int], tuple[str, int, int]] = {}

    def _remove_tree(self, path: str, layer: int, how: str, subtree: bool = True) -> None:
        """Hide ``path`` (and with ``subtree``, all below it): a walk with its own stack, so any depth is fine."""
        pending = [path]
        while pending:
            current = pending.pop()
            record = self.visible.pop(current, None)
            if record is not None:
                siblings = self.children.get(current.rpartition("/")[0])
                if siblings is not None:
                    siblings.discard(current)
                inode = record[1]
                if inode >= 0:
                    self.refs[inode] -= 1
                    if self.refs[inode] == 0:
                        self.result.hidden.append(Hidden(current, self.result.inode_layer[inode],
                                                         self.result.inode_size[inode], layer, how, inode))
            if subtree or current != path:
                pending.extend(reversed(list(self.children.pop(current, ()))))

    def _link(self, path: str) -> None:
        """Register ``path`` under its parent, and every ancestor under its own, listed in the tar or not."""
        children = self.children
        while path:
            parent = path.rpartition("/")[0]
            siblings = children.get(parent)
            if siblings is None:
                children[parent] = {path}
            elif path in siblings:
                return
            else:
                siblings.add(path)
            path = parent

    def _add(self, path: str, kind: str, size: int, link: str, layer: int) -> None:
        existing = self.visible.get(path)
        if kind == "dir":
            if existing is not None and existing[0] != "dir":
                # A directory replaces a file, link or device: only that entry goes (what a
                # malformed layer listed "under" a non-directory now lives in the directory).
                self._remove_tree(path, layer, "shadowed", subtree=False)
        elif existing is not None or path in self.children:
            # A non-directory replaces what was there, a directory's whole subtree included.
            self._remove_tree(path, layer, "shadowed")
        inode = -1
        if kind == "file":
            inode = len(self.result.inode_size)
            self.result.inode_size.append(size)
            self.result.inode_layer.append(layer)
            self.refs.append(0)
        elif kind == "hardlink":
            target = self.visible.get(link)
            if target is not None and target[1] >= 0:
                inode = target[1]
        if inode >= 0:
            self.refs[inode] += 1
            self.visible[path] = (kind, inode, layer)
        else:  # directories, symlinks, devices: one shared record per kind and layer
            self.visible[path] = self._records.setdefault((kind, layer), (kind, -1, layer))
        self._link(path)

    def apply(self, layer: Layer) -> None:
        n = layer.index
        compiled = compiled_for(layer.entries) and type(n) is int
        # the whiteouts and opaque markers, found in C when compiled
        markers = overlay_core.CORE.totals(layer.entries, NAMES)[1] if compiled else layer.entries  # type: ignore[union-attr]
        for entry in markers:
            if entry.kind == "opaque":
                directory = posixpath.dirname(entry.path)
                for child in list(self.children.get(directory, ())):
                    self._remove_tree(child, n, "opaque")
        for entry in markers:
            if entry.kind == "whiteout":
                directory, base = posixpath.split(entry.path)
                self._remove_tree(posixpath.join(directory, base[len(WHITEOUT_PREFIX):]), n, "deleted")
        if compiled:  # the same loop, compiled
            result = self.result
            overlay_core.CORE.add_entries(  # type: ignore[union-attr]
                layer.entries, n, self.visible, self.children, self.refs, result.inode_size, result.inode_layer,
                self._records, self._remove_tree, NAMES)
            return
        for entry in layer.entries:
            if entry.kind not in ("whiteout", "opaque"):
                self._add(entry.path, entry.kind, entry.size, entry.link, n)


def merge_layers(layers: list[Layer]) -> MergeResult:
    """Stack ``layers`` (base first) and return what is visible and what was hidden, by whom."""
    overlay = Overlay()
    for layer in layers:
        overlay.apply(layer)
    return overlay.result
