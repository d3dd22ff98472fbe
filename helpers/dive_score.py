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
* Per key: ``cumulative += size`` and ``minimum = min(size seen)``.
* ``dive_efficiency = Σ minimum / Σ cumulative`` over all keys (1.0 when
  ``Σ cumulative`` is 0).
* ``dive_wasted_bytes = Σ cumulative`` over the keys seen in two or more
  layers, *including the first copy*.

Why our :func:`helpers.metrics.efficiency` differs: dive counts the first copy
of a path that is later touched as waste even when it is the copy you keep
(a chmod-ed file counts twice), counts a file that is only deleted as 0 waste
if it never shows up again, and ignores opaque whiteouts, so a directory
deleted and re-created in a later ``RUN`` costs nothing in dive's eyes.  Our
``reclaimable_bytes`` counts exactly the bytes that are stored but cannot be
seen in the merged filesystem.
"""

from __future__ import annotations

from .model import AUFS_META_PREFIX, WHITEOUT_PREFIX, Entry, Layer

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
        if self.nodes.pop(path, None) is not None:
            siblings = self.children.get(_parent(path))
            if siblings is not None:
                siblings.discard(path)
        for child in self.children.pop(path, ()):
            self._remove(child)

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
        total = self.nodes[root][0] if root in self.nodes else 0
        for child in self.children.get(root, ()):
            total += self.subtree_size(child)
        return total


def dive_figures(layers: list[Layer]) -> tuple[float, int]:
    """Return ``(dive_efficiency, dive_wasted_bytes)`` as dive 0.13 computes them (see the module doc).

    Memory: one layer's tree at a time.  The stacked tree of the layers below
    is only needed to size a whiteout, so it is built when the first whiteout
    appears, from the layers' entries (their trees are rebuilt for it).
    """
    # key -> its size when seen once (most keys: an int is the smallest record), else [cumulative, minimum]
    figures: dict[str, int | list[int]] = {}
    stacked: _Stacked | None = None
    stacked_upto = 0  # dive's StackTreeRange(trees, 0, i-1): a copy of layer 0, then layers 0..i-1 stacked on it
    for i, layer in enumerate(layers):
        tree = _dive_tree(layer.entries)
        has_children = {_parent(path) for path in tree}
        for path, (size, _) in tree.items():
            if path in has_children:
                continue
            directory, _, base = path.rpartition("/")
            if base.startswith(WHITEOUT_PREFIX):
                key = base[len(WHITEOUT_PREFIX):]
                key = f"{directory}/{key}" if directory else key
                if stacked is None:
                    stacked = _Stacked(tree if i == 0 else _dive_tree(layers[0].entries))
                while stacked_upto < i:
                    stacked.stack(_dive_tree(layers[stacked_upto].entries))
                    stacked_upto += 1
                below = stacked.nodes.get(key)
                size = stacked.subtree_size(key) if below is not None and below[1] else 0
            else:
                key = path
            known = figures.get(key)
            if known is None:
                figures[key] = size
            elif isinstance(known, int):
                figures[key] = [known + size, min(known, size)]
            else:
                known[0] += size
                if size < known[1]:
                    known[1] = size
    total = minimum = wasted = 0
    for known in figures.values():
        if isinstance(known, int):
            total += known
            minimum += known
        else:
            total += known[0]
            minimum += known[1]
            wasted += known[0]
    score = 1.0 if total == 0 else minimum / total
    return score, wasted
