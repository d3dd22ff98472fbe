"""Property tests: random layer stacks, measured by helpers and by a deliberately naive independent model.

The model keeps the merged filesystem as a flat dict of path -> (kind, inode)
and applies each rule by prefix deletion, with none of the merge's parent and
children bookkeeping, so the two share no code but the rules themselves.
"""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from helpers.ground.model import Entry, Layer
from helpers.measuring import dive_score, metrics
from helpers.measuring.dive_score import dive_figures
from helpers.measuring.merge import merge_layers

NAMES = ["a", "b", "c"]
paths = st.lists(st.sampled_from(NAMES), min_size=1, max_size=3).map("/".join)


@st.composite
def entries(draw) -> Entry:
    kind = draw(st.sampled_from(["file", "file", "file", "dir", "symlink", "hardlink", "whiteout", "opaque"]))
    path = draw(paths)
    head, _, base = path.rpartition("/")
    prefix = f"{head}/" if head else ""
    if kind == "whiteout":
        return Entry(f"{prefix}.wh.{base}", "whiteout", 0, 0o644, 0, 0, "")
    if kind == "opaque":
        return Entry(f"{path}/.wh..wh..opq", "opaque", 0, 0o644, 0, 0, "")
    size = draw(st.integers(1, 1000)) if kind == "file" else 0
    link = draw(paths) if kind in ("hardlink", "symlink") else ""
    return Entry(path, kind, size, 0o644, 0, 0, link)


layer_stacks = st.lists(st.lists(entries(), max_size=8), min_size=1, max_size=4).map(
    lambda stack: [Layer(i, layer, f"sha256:{i}", "tar") for i, layer in enumerate(stack)]
)


def _drop(fs: dict, path: str) -> None:
    for key in [k for k in fs if k == path or k.startswith(path + "/")]:
        del fs[key]


def naive_final_bytes(layers: list[Layer]) -> int:
    fs: dict[str, tuple[str, int | None]] = {}
    sizes: list[int] = []
    for layer in layers:
        for entry in layer.entries:
            if entry.kind == "opaque":
                directory = entry.path.rpartition("/")[0]
                for key in [k for k in fs if k.startswith(directory + "/")]:
                    del fs[key]
        for entry in layer.entries:
            if entry.kind == "whiteout":
                head, _, base = entry.path.rpartition("/")
                _drop(fs, f"{head}/{base[4:]}" if head else base[4:])
        for entry in layer.entries:
            if entry.kind in ("whiteout", "opaque"):
                continue
            current = fs.get(entry.path)
            if entry.kind != "dir":
                _drop(fs, entry.path)
            elif current is not None and current[0] != "dir":
                del fs[entry.path]
            inode = None
            if entry.kind == "file":
                sizes.append(entry.size)
                inode = len(sizes) - 1
            elif entry.kind == "hardlink" and entry.link in fs:
                inode = fs[entry.link][1]
            fs[entry.path] = (entry.kind, inode)
    return sum(sizes[inode] for inode in {inode for _, inode in fs.values() if inode is not None})


@settings(max_examples=400, deadline=None, derandomize=True)  # the same examples every run: CI is reproducible
@given(layer_stacks)
def test_the_merge_agrees_with_the_naive_model(layers):
    merged = merge_layers(layers)
    stored = metrics.stored_bytes(layers)
    final = metrics.final_bytes(merged)
    assert final == naive_final_bytes(layers)
    assert stored - final == sum(hidden.size for hidden in merged.hidden)
    assert all(hidden.hidden_by >= hidden.layer for hidden in merged.hidden)


def naive_dive_figures(layers: list[Layer]) -> tuple[float, int]:
    """dive 0.13's rules (see helpers/measuring/dive_score.py's module doc), with flat dicts and prefix scans only."""

    def tree(layer: Layer) -> dict[str, tuple[int, bool]]:
        nodes: dict[str, tuple[int, bool]] = {}
        for entry in layer.entries:
            parts = entry.path.split("/")
            if any(part.startswith(".wh..wh.") for part in parts):
                continue
            for depth in range(1, len(parts)):
                nodes.setdefault("/".join(parts[:depth]), (0, False))
            nodes[entry.path] = (entry.size, entry.kind == "dir")
        return nodes

    def stack(lower: dict, upper: dict) -> None:
        for path, node in upper.items():
            head, _, base = path.rpartition("/")
            if base.startswith(".wh."):
                _drop(lower, f"{head}/{base[4:]}" if head else base[4:])
            else:
                lower[path] = node

    trees = [tree(layer) for layer in layers]
    cumulative: dict[str, int] = {}
    minimum: dict[str, int] = {}
    seen: dict[str, int] = {}
    for i, nodes in enumerate(trees):
        stacked = dict(trees[0])
        for lower in trees[:i]:
            stack(stacked, lower)
        for path in sorted(nodes, key=lambda p: p.split("/")):  # dive's order: depth first, names sorted
            size = nodes[path][0]
            if any(other.startswith(path + "/") for other in nodes):
                continue  # not a leaf
            head, _, base = path.rpartition("/")
            key = path
            if base.startswith(".wh."):
                key = f"{head}/{base[4:]}" if head else base[4:]
                below = stacked.get(key)
                if below is None:  # dive's look-up fails: the key stays at minimum -1, and the layer's visit stops
                    minimum.setdefault(key, -1)
                    cumulative.setdefault(key, 0)
                    break
                size = 0
                if below[1]:
                    size = sum(s for p, (s, _) in stacked.items() if p == key or p.startswith(key + "/"))
            cumulative[key] = cumulative.get(key, 0) + size
            minimum[key] = size if minimum.get(key, -1) < 0 else min(minimum[key], size)
            seen[key] = seen.get(key, 0) + 1
    total = sum(cumulative.values())
    return (1.0 if total == 0 else sum(minimum.values()) / total), sum(
        cumulative[key] for key, count in seen.items() if count >= 2)


@st.composite
def dive_entries(draw) -> Entry:
    """Few names and many directories, so whiteouts often delete a directory holding files."""
    path = draw(st.lists(st.sampled_from(["a", "b"]), min_size=1, max_size=3).map("/".join))
    kind = draw(st.sampled_from(["file", "dir", "dir", "whiteout", "opaque"]))
    head, _, base = path.rpartition("/")
    if kind == "whiteout":
        return Entry(f"{head}/.wh.{base}" if head else f".wh.{base}", "whiteout", 0, 0o644, 0, 0, "")
    if kind == "opaque":
        return Entry(f"{path}/.wh..wh..opq", "opaque", 0, 0o644, 0, 0, "")
    return Entry(path, kind, draw(st.integers(1, 1000)) if kind == "file" else 0, 0o644, 0, 0, "")


dive_stacks = st.lists(st.lists(dive_entries(), max_size=8), min_size=1, max_size=5).map(
    lambda stack: [Layer(i, layer, f"sha256:{i}", "tar") for i, layer in enumerate(stack)]
)


@settings(max_examples=400, deadline=None, derandomize=True)
@given(st.one_of(layer_stacks, dive_stacks))
def test_dives_figures_agree_with_the_naive_model(layers):
    assert dive_figures(layers) == naive_dive_figures(layers)


@settings(max_examples=200, deadline=None, derandomize=True)
@given(dive_stacks)
def test_dives_figures_agree_when_whiteouts_are_matched_by_ancestors(layers):
    """The same, through the other way of finding what a whiteout touches (used past PREFIX_TEST_KEYS keys)."""
    saved, dive_score.PREFIX_TEST_KEYS = dive_score.PREFIX_TEST_KEYS, 0
    try:
        assert dive_figures(layers) == naive_dive_figures(layers)
    finally:
        dive_score.PREFIX_TEST_KEYS = saved
