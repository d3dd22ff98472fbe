"""Property tests: random layer stacks, measured by helpers and by a deliberately naive independent model.

The model keeps the merged filesystem as a flat dict of path -> (kind, inode)
and applies each rule by prefix deletion, with none of the merge's parent and
children bookkeeping, so the two share no code but the rules themselves.
"""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from helpers import metrics
from helpers.merge import merge_layers
from helpers.model import Entry, Layer

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
