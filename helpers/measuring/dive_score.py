"""dive 0.13's efficiency score and wasted bytes, reproduced rule for rule.

dive (github.com/wagoodman/dive) is the tool most learners meet first, and its
CI mode gates many pipelines, so the series reports its figures beside ours.
They answer a different question, so they differ on purpose:

* **Per layer**, dive builds a tree of the layer's tar entries, dropping every
  path with a part that starts with ``.wh..wh..`` (so *opaque directories are
  ignored*), and keeping the last entry for a repeated path.
* It visits the **leaves** of each layer's tree (entries with no children in
  that layer).  Key = the leaf's path with ``.wh.`` stripped from its name.
  Size = the tar entry's size; for a whiteout, 0, unless the key is a
  directory with its own tar entry in layers ``0..i-1`` stacked together
  (dive stacks layer 0 alone for ``i = 0``), when it is the sum of that
  subtree's entry sizes.
* A whiteout of a path that no lower layer holds makes dive fail its look-up
  and stop visiting that layer (in its order: depth first, names sorted): the
  key stays registered with ``minimum = -1`` and nothing added, and the
  layer's later leaves are not counted.  So ``FROM x`` + ``RUN rm -f /nothing``
  lowers dive's score (10/10 becomes 9/10); reproduced as dive 0.13.1 does it.
* Per key: ``cumulative += size`` and ``minimum = min(size seen)``.
* ``dive_efficiency = Σ minimum / Σ cumulative`` over all keys (1.0 when
  ``Σ cumulative`` is 0).
* ``dive_wasted_bytes = Σ cumulative`` over the keys seen in two or more
  layers, *including the first copy*.

Why our :func:`helpers.measuring.metrics.efficiency` differs: dive counts the first copy
of a path that is later touched as waste even when it is the copy you keep
(a chmod-ed file counts twice), counts a file that is only deleted as 0 waste
if it never shows up again, and ignores opaque whiteouts, so a directory
deleted and re-created in a later ``RUN`` costs nothing in dive's eyes.  Our
``reclaimable_bytes`` counts exactly the bytes that are stored but cannot be
seen in the merged filesystem.
"""

from __future__ import annotations

from ..ground.model import AUFS_META_PREFIX, WHITEOUT_PREFIX, Entry, Layer
from . import overlay_core
from .overlay_core import compiled_for

#: A node of dive's tree: ``(size, is_dir)``.
_Node = tuple[int, bool]
_IMPLICIT: _Node = (0, False)


def _parent(path: str) -> str:
    return path.rpartition("/")[0]


def _dive_tree(entries: list[Entry]) -> dict[str, _Node]:
    """One layer as dive sees it: explicit nodes plus implicit parents, opaque markers dropped."""
    tree: dict[str, _Node] = {}
    for entry in entries:
        path = entry.path
        if AUFS_META_PREFIX in path and any(part.startswith(AUFS_META_PREFIX) for part in path.split("/")):
            continue
        missing = []
        parent = _parent(path)
        while parent and parent not in tree:
            missing.append(parent)
            parent = _parent(parent)
        for parent in reversed(missing):  # shallowest first, as dive adds them
            tree[parent] = _IMPLICIT
        tree[path] = (entry.size, entry.kind == "dir")
    return tree


class _Stacked:
    """dive's stacked tree (``StackTreeRange``), with a children index so subtrees are cheap to find."""

    def __init__(self, base: dict[str, _Node]) -> None:
        self.nodes = dict(base)
        self.children: dict[str, set[str]] = {}
        for path in self.nodes:
            self.children.setdefault(_parent(path), set()).add(path)

    def _remove(self, path: str) -> None:
        """Remove ``path`` and its subtree (a walk with its own stack: any depth is fine)."""
        pending = [path]
        while pending:
            current = pending.pop()
            if self.nodes.pop(current, None) is not None:
                siblings = self.children.get(_parent(current))
                if siblings is not None:
                    siblings.discard(current)
            pending.extend(self.children.pop(current, ()))

    def stack(self, upper: dict[str, _Node]) -> None:
        """dive's FileTree.Stack: whiteouts remove subtrees; every other node, implicit ones too, overwrites."""
        for path, node in upper.items():
            directory, _, base = path.rpartition("/")
            if base.startswith(WHITEOUT_PREFIX):
                target = base[len(WHITEOUT_PREFIX):]
                self._remove(f"{directory}/{target}" if directory else target)
            else:
                self.nodes[path] = node
                self.children.setdefault(directory, set()).add(path)

    def subtree_size(self, root: str) -> int:
        """Σ size over ``root`` and every node below it (a walk with its own stack)."""
        total, pending = 0, [root]
        while pending:
            current = pending.pop()
            total += self.nodes[current][0] if current in self.nodes else 0
            pending.extend(self.children.get(current, ()))
        return total


def _whiteout_target(path: str) -> str | None:
    """The path a whiteout entry deletes (``a/.wh.b`` deletes ``a/b``), or ``None`` for any other path."""
    directory, _, base = path.rpartition("/")
    if not base.startswith(WHITEOUT_PREFIX):
        return None
    target = base[len(WHITEOUT_PREFIX):]
    return f"{directory}/{target}" if directory else target


def _under(path: str, keys: set[str]) -> bool:
    """True when ``path`` is one of ``keys`` or lies beneath one."""
    while path:
        if path in keys:
            return True
        path = _parent(path)
    return False


#: Up to this many whiteout keys, a path is tested against them by prefix; past it, by its ancestors.
PREFIX_TEST_KEYS = 64


def _relevant(entries: list[Entry], keys: set[str], above: set[str]) -> list[Entry]:
    """The entries that can change what dive's stacked tree holds at or beneath ``keys``.

    Those at or beneath a key, the keys' ancestors (they link a key to a
    whiteout that deletes a whole ancestor), and the whiteouts that delete any
    of those.  Stacking only these gives the stacked tree's part at and beneath
    the keys exactly, without holding the rest of the image.
    """
    prefixes = tuple(key + "/" for key in keys) if len(keys) <= PREFIX_TEST_KEYS else None
    if compiled_for(entries) and type(keys) is set and type(above) is set:  # the loop below, compiled
        return overlay_core.CORE.relevant(entries, keys, above, prefixes, _whiteout_target)  # type: ignore[union-attr]
    if prefixes is not None:  # few keys: one C-level prefix test per path
        found = prefixes

        def under(path: str) -> bool:
            return path in keys or path.startswith(found)
    else:
        def under(path: str) -> bool:
            return _under(path, keys)

    kept = []
    for entry in entries:
        path = entry.path
        if path in above or under(path):
            kept.append(entry)
        elif WHITEOUT_PREFIX in path:
            target = _whiteout_target(path)
            if target is not None and (target in above or under(target)):
                kept.append(entry)
    return kept


#: A leaf of a layer's tree, as dive visits it: ``(path, size, whiteout target or None)``.
Leaf = tuple[str, int, "str | None"]


def dive_leaves(entries: list[Entry]) -> list[Leaf]:
    """The leaves of one layer's tree: the part of dive's work that needs no other layer.

    A leaf is a path of the layer that is no other path's ancestor (implicit
    parents never are leaves), with its last entry's size.  Built without the
    tree itself, which would cost a tuple per path.
    """
    if compiled_for(entries):  # the same loops, compiled
        return overlay_core.CORE.dive_leaves(entries, _whiteout_target)  # type: ignore[union-attr]
    sizes: dict[str, int] = {}
    for entry in entries:
        path = entry.path
        if AUFS_META_PREFIX in path and any(part.startswith(AUFS_META_PREFIX) for part in path.split("/")):
            continue
        sizes[path] = entry.size
    ancestors: set[str] = set()
    for path in sizes:
        parent = _parent(path)
        while parent and parent not in ancestors:
            ancestors.add(parent)
            parent = _parent(parent)
    return [
        (path, size, _whiteout_target(path) if WHITEOUT_PREFIX in path else None)
        for path, size in sizes.items()
        if path not in ancestors
    ]


#: A key dive registered and never sized (a whiteout of a path no lower layer holds): minimum -1, nothing added.
_NEVER_SEEN: list[int] = []


class DiveScore:
    """dive's figures, one layer at a time: :meth:`add` each layer base first, then :meth:`figures`.

    Memory: one layer's tree at a time.  A whiteout is sized from the stacked
    tree of the layers below; only its part at and beneath that layer's
    whiteouts is built, from the lower layers' entries, when a layer has any.
    """

    def __init__(self) -> None:
        self.layers: list[Layer] = []
        # key -> its size when seen once (most keys: an int is the smallest record), else [cumulative, minimum];
        # _NEVER_SEEN for a key dive registered but never sized
        self._figures: dict[str, int | list[int]] = {}

    def _stacked_below(self, i: int, keys: set[str]) -> _Stacked:
        """dive's StackTreeRange(trees, 0, i-1): a copy of layer 0, then layers 0..i-1 on it; around ``keys``."""
        above = {parent for key in keys for parent in _ancestors(key)}

        def part(layer: Layer) -> dict[str, _Node]:
            return _dive_tree(_relevant(layer.entries, keys, above))

        stacked = _Stacked(part(self.layers[0]))
        for lower in self.layers[:i]:
            stacked.stack(part(lower))
        return stacked

    def add(self, layer: Layer, leaves: list[Leaf] | None = None) -> None:
        """Count the leaves of the next layer (``leaves``: :func:`dive_leaves` of it, if already made)."""
        i = len(self.layers)
        self.layers.append(layer)
        figures = self._figures
        if leaves is None:
            leaves = dive_leaves(layer.entries)
        keys = {target for _, _, target in leaves if target is not None}
        stacked = self._stacked_below(i, keys) if keys else None
        if keys:  # dive visits a layer's leaves depth first, names sorted: the order its quirk below depends on
            leaves = sorted(leaves, key=lambda leaf: leaf[0].split("/"))
        elif compiled_for(leaves):  # no whiteout: the loop below, compiled
            overlay_core.CORE.count_leaves(figures, leaves, _NEVER_SEEN)  # type: ignore[union-attr]
            return
        for path, size, target in leaves:
            if target is None:
                key = path
            else:
                key = target
                below = stacked.nodes.get(key)  # type: ignore[union-attr]
                if below is None:
                    # dive looks the deleted path up below, fails, and stops visiting this layer: the key
                    # stays with its minimum at -1 and nothing added, which lowers dive's score (dive 0.13.1).
                    figures.setdefault(key, _NEVER_SEEN)
                    break
                size = stacked.subtree_size(key) if below[1] else 0  # type: ignore[union-attr]
            known = figures.get(key)
            if known is None or known is _NEVER_SEEN:
                figures[key] = size
            elif isinstance(known, int):
                figures[key] = [known + size, min(known, size)]
            else:
                known[0] += size
                if size < known[1]:
                    known[1] = size

    def figures(self) -> tuple[float, int]:
        """``(dive_efficiency, dive_wasted_bytes)`` of the layers added so far."""
        total = minimum = wasted = 0
        for known in self._figures.values():
            if known is _NEVER_SEEN:
                minimum -= 1
            elif isinstance(known, int):
                total += known
                minimum += known
            else:
                total += known[0]
                minimum += known[1]
                wasted += known[0]
        return (1.0 if total == 0 else minimum / total), wasted


def _ancestors(path: str) -> list[str]:
    found = []
    path = _parent(path)
    while path:
        found.append(path)
        path = _parent(path)
    return found


def dive_figures(layers: list[Layer]) -> tuple[float, int]:
    """Return ``(dive_efficiency, dive_wasted_bytes)`` as dive 0.13 computes them (see the module doc)."""
    score = DiveScore()
    for layer in layers:
        score.add(layer)
    return score.figures()
