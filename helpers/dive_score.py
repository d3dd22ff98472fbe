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

import posixpath
from dataclasses import dataclass

from .model import AUFS_META_PREFIX, WHITEOUT_PREFIX, Entry, Layer


@dataclass
class _Node:
    size: int = 0
    is_dir: bool = False


def _dive_tree(entries: list[Entry]) -> dict[str, _Node]:
    """One layer as dive sees it: explicit nodes plus implicit parents, opaque markers dropped."""
    tree: dict[str, _Node] = {}
    for entry in entries:
        parts = entry.path.split("/")
        if any(part.startswith(AUFS_META_PREFIX) for part in parts):
            continue
        for depth in range(1, len(parts)):
            tree.setdefault("/".join(parts[:depth]), _Node())
        tree[entry.path] = _Node(entry.size, entry.kind == "dir")
    return tree


def _children_index(paths) -> dict[str, list[str]]:
    index: dict[str, list[str]] = {}
    for path in paths:
        index.setdefault(posixpath.dirname(path), []).append(path)
    return index


def _stack(lower: dict[str, _Node], upper: dict[str, _Node]) -> None:
    """dive's FileTree.Stack: whiteouts remove subtrees; every other node, implicit ones too, overwrites."""
    for path, node in upper.items():
        directory, base = posixpath.split(path)
        if base.startswith(WHITEOUT_PREFIX):
            target = posixpath.join(directory, base[len(WHITEOUT_PREFIX):])
            prefix = target + "/"
            for victim in [p for p in lower if p == target or p.startswith(prefix)]:
                del lower[victim]
        else:
            lower[path] = node


def _subtree_size(tree: dict[str, _Node], root: str) -> int:
    prefix = root + "/"
    return sum(node.size for path, node in tree.items() if path == root or path.startswith(prefix))


def dive_figures(layers: list[Layer]) -> tuple[float, int]:
    """Return ``(dive_efficiency, dive_wasted_bytes)`` as dive 0.13 computes them (see the module doc)."""
    trees = [_dive_tree(layer.entries) for layer in layers]
    cumulative: dict[str, int] = {}
    minimum: dict[str, int] = {}
    seen: dict[str, int] = {}
    stacked: dict[str, _Node] = {}
    for i, tree in enumerate(trees):
        # dive's StackTreeRange(trees, 0, i-1): a copy of layer 0, then layers 0..i-1 stacked on it.
        if i == 0:
            stacked = dict(trees[0])
        else:
            _stack(stacked, trees[i - 1])
        has_children = _children_index(tree)
        for path, node in tree.items():
            if path in has_children:
                continue
            directory, base = posixpath.split(path)
            if base.startswith(WHITEOUT_PREFIX):
                key = posixpath.join(directory, base[len(WHITEOUT_PREFIX):])
                below = stacked.get(key)
                size = _subtree_size(stacked, key) if below is not None and below.is_dir else 0
            else:
                key, size = path, node.size
            cumulative[key] = cumulative.get(key, 0) + size
            minimum[key] = size if key not in minimum else min(minimum[key], size)
            seen[key] = seen.get(key, 0) + 1
    total = sum(cumulative.values())
    score = 1.0 if total == 0 else sum(minimum.values()) / total
    wasted = sum(cumulative[key] for key, count in seen.items() if count >= 2)
    return score, wasted
