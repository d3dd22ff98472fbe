"""The overlay rules of helpers.measuring.merge, the figures of its metrics, and dive's score, on tiny stacks.

Each stack is written by hand with helpers.ground.model.Layer/Entry (no archive, no
engine), and each expected figure is computed by hand in a comment.  The rules
are the OCI image spec's ("Representing Changes"):

* a path added again shadows the lower copy; a non-directory over a directory
  hides the whole subtree;
* ``.wh.NAME`` deletes NAME and its subtree from the *lower* layers only;
* ``.wh..wh..opq`` in D hides the lower layers' children of D, not the layer's own;
* a hard link adds no bytes, and keeps its inode visible while any name is visible.
"""

from __future__ import annotations

import posixpath

import pandas as pd
import pytest

from helpers import analyze
from helpers.ground.model import Entry, Image, Layer
from helpers.measuring.dive_score import dive_figures
from helpers.measuring.merge import merge_layers
from helpers.measuring.metrics import efficiency, final_bytes, reclaimable_bytes, stored_bytes


def F(path: str, size: int) -> Entry:
    return Entry(path, "file", size, 0o644, 0, 0, "")


def D(path: str) -> Entry:
    return Entry(path, "dir", 0, 0o755, 0, 0, "")


def H(path: str, target: str) -> Entry:
    return Entry(path, "hardlink", 0, 0o644, 0, 0, target)


def S(path: str, target: str) -> Entry:
    return Entry(path, "symlink", 0, 0o777, 0, 0, target)


def W(path: str) -> Entry:
    """The whiteout that deletes ``path``: ``dir/.wh.name``."""
    directory, name = posixpath.split(path)
    return Entry(posixpath.join(directory, ".wh." + name), "whiteout", 0, 0o600, 0, 0, "")


def O(directory: str) -> Entry:  # noqa: E743 - O for opaque, like F, D, H, S, W
    return Entry(posixpath.join(directory, ".wh..wh..opq"), "opaque", 0, 0o755, 0, 0, "")


def stack(*layers: list[Entry]) -> list[Layer]:
    return [Layer(i, list(entries), f"sha256:{i:064x}", "synthetic") for i, entries in enumerate(layers)]


def image(*layers: list[Entry]) -> Image:
    return Image("synthetic", "synthetic", stack(*layers))


def records(frame: pd.DataFrame) -> list[dict]:
    """Rows as plain dicts, with pandas' missing values as None."""
    return [{k: (None if pd.isna(v) else v) for k, v in row.items()} for row in frame.to_dict("records")]


# name -> (layers, stored, final, hidden rows (layer, hidden_by, how, path, size), visible paths at the end)
CASES = {
    # h1 and h2 are one 4096-byte inode; deleting h1 leaves h2 naming it: nothing is freed.
    "hardlink target deleted later keeps its bytes visible": (
        [[F("h1", 4096), H("h2", "h1")], [W("h1")]],
        4096, 4096, [], {"h2"},
    ),
    # The link sits one layer above its target; the target is deleted in a third layer.
    "hardlink to a lower layer survives the target's deletion": (
        [[F("a", 10)], [H("b", "a")], [W("a")]],
        10, 10, [], {"b"},
    ),
    # Both names deleted: the inode is gone, 10 bytes reclaimable, hidden by layer 2 when its last name goes.
    "hardlinked inode freed when its last name is deleted": (
        [[F("a", 10), H("b", "a")], [], [W("a"), W("b")]],
        10, 0, [(0, 2, "deleted", "b", 10)], set(),
    ),
    # A path listed twice in one layer keeps its last copy (3 B); the first 10 B are hidden by the same layer.
    "duplicate path in one layer keeps the last": (
        [[F("a", 10), F("a", 3)]],
        13, 3, [(0, 0, "shadowed", "a", 10)], {"a"},
    ),
    # .wh.a deletes the lower a (10 B) only, even listed after the layer's own new a (4 B), which survives.
    "whiteout and re-add in the same layer": (
        [[F("a", 10)], [F("a", 4), W("a")]],
        14, 4, [(0, 1, "deleted", "a", 10)], {"a"},
    ),
    # A 2-byte file at d hides the directory d and everything under it: 7 + 5 bytes.
    "file replacing a directory hides the subtree": (
        [[D("d"), D("d/x"), F("d/x/f", 7), F("d/g", 5)], [F("d", 2)]],
        14, 2, [(0, 1, "shadowed", "d/g", 5), (0, 1, "shadowed", "d/x/f", 7)], {"d"},
    ),
    # A symlink replacing a directory hides it the same way (a symlink stores no bytes).
    "symlink replacing a directory hides the subtree": (
        [[D("d"), F("d/f", 9)], [S("d", "/elsewhere")]],
        9, 0, [(0, 1, "shadowed", "d/f", 9)], {"d"},
    ),
    # The opaque marker (listed last) hides d/a (5) and d/b (6) of layer 0, not d itself, not e,
    # and not layer 1's own d/a (8) and d/c (7).  stored 5+6+1+7+8 = 27, final 1+7+8 = 16.
    "opaque dir hides lower children but not same-layer ones": (
        [[D("d"), F("d/a", 5), F("d/b", 6), F("e", 1)], [D("d"), F("d/c", 7), F("d/a", 8), O("d")]],
        27, 16, [(0, 1, "opaque", "d/a", 5), (0, 1, "opaque", "d/b", 6)], {"d", "d/a", "d/c", "e"},
    ),
    # One whiteout deletes a whole tree: 100 + 200 + 300 bytes.
    "whiteout of a directory deletes its subtree": (
        [[D("t"), D("t/x"), D("t/x/y"), F("t/x/y/1", 100), F("t/x/2", 200), F("t/3", 300)], [W("t")]],
        600, 0,
        [(0, 1, "deleted", "t/3", 300), (0, 1, "deleted", "t/x/2", 200), (0, 1, "deleted", "t/x/y/1", 100)],
        set(),
    ),
    # A later copy of the same directory adds no bytes and hides nothing.
    "directory over directory hides nothing": (
        [[D("d"), F("d/a", 5)], [D("d"), F("d/b", 6)]],
        11, 11, [], {"d", "d/a", "d/b"},
    ),
    # A layer tar need not list parent directories (the spec does not require them; Bazel's
    # rules_docker and hand-made tars omit them).  Deleting t must still delete t/x/y/1 and t/x/2.
    "whiteout of a directory listed only through its children": (
        [[F("t/x/y/1", 100), F("t/x/2", 200)], [W("t")]],
        300, 0, [(0, 1, "deleted", "t/x/2", 200), (0, 1, "deleted", "t/x/y/1", 100)], set(),
    ),
    # Same, with an opaque marker: d/sub/f (100) of the lower layer must be hidden.
    "opaque dir whose lower children are listed without parents": (
        [[F("d/sub/f", 100)], [D("d"), O("d")]],
        100, 0, [(0, 1, "opaque", "d/sub/f", 100)], {"d"},
    ),
    # Same, with a file replacing the implicit directory d.
    "file replacing a directory listed only through its children": (
        [[F("d/x/f", 7)], [F("d", 2)]],
        9, 2, [(0, 1, "shadowed", "d/x/f", 7)], {"d"},
    ),
    # No layers' bytes at all: efficiency is defined as 1.0.
    "empty image": (
        [[D("etc")]],
        0, 0, [], {"etc"},
    ),
}


@pytest.mark.parametrize("name", list(CASES))
def test_merge_figures(name):
    layers_spec, stored, final, hidden, visible = CASES[name]
    layers = stack(*layers_spec)
    merged = merge_layers(layers)
    assert stored_bytes(layers) == stored
    assert final_bytes(merged) == final
    assert reclaimable_bytes(stored_bytes(layers), final_bytes(merged)) == stored - final
    assert sorted((h.layer, h.hidden_by, h.how, h.path, h.size) for h in merged.hidden) == sorted(hidden)
    assert set(merged.visible) == visible


@pytest.mark.parametrize("name", list(CASES))
def test_invariant_stored_minus_final_is_the_hidden_bytes(name):
    """Every stored byte is either visible at the end or hidden by exactly one layer."""
    layers = stack(*CASES[name][0])
    merged = merge_layers(layers)
    assert stored_bytes(layers) - final_bytes(merged) == sum(h.size for h in merged.hidden)
    assert len({h.inode for h in merged.hidden}) == len(merged.hidden)
    assert not {h.inode for h in merged.hidden} & merged.visible_inodes


def test_hardlink_of_a_missing_target_adds_no_bytes():
    # The link's target never existed: the link names no inode, stores nothing.
    merged = merge_layers(stack([H("b", "nowhere")]))
    assert merged.visible == {"b": ("hardlink", -1, 0)}
    assert final_bytes(merged) == 0


def test_files_table_of_a_duplicate_path_in_one_layer():
    """Only the last copy of a path listed twice in one layer is what the merged filesystem shows."""
    table = analyze(image([F("a", 10), F("a", 3)])).files
    assert records(table[["layer", "path", "size", "visible", "hidden_by"]]) == [
        {"layer": 0, "path": "a", "size": 10, "visible": False, "hidden_by": 0},
        {"layer": 0, "path": "a", "size": 3, "visible": True, "hidden_by": None},
    ]


def test_files_table_visible_and_hidden_by():
    # layer 0: a (10, later shadowed by layer 1), d/x (5, later deleted by layer 2's .wh.d)
    # layer 1: a (4), b hard link to a (no bytes), layer 2: .wh.d
    analysis = analyze(image([F("a", 10), D("d"), F("d/x", 5)], [F("a", 4), H("b", "a")], [W("d")]))
    assert records(analysis.files[["layer", "path", "kind", "visible", "hidden_by"]].astype({"kind": str})) == [
        {"layer": 0, "path": "a", "kind": "file", "visible": False, "hidden_by": 1},
        {"layer": 0, "path": "d", "kind": "dir", "visible": False, "hidden_by": None},
        {"layer": 0, "path": "d/x", "kind": "file", "visible": False, "hidden_by": 2},
        {"layer": 1, "path": "a", "kind": "file", "visible": True, "hidden_by": None},
        {"layer": 1, "path": "b", "kind": "hardlink", "visible": True, "hidden_by": None},
        {"layer": 2, "path": ".wh.d", "kind": "whiteout", "visible": False, "hidden_by": None},
    ]
    table = analysis.layers
    # layer 0 stores 15, of which 15 reclaimable; layer 1 stores 4, hides 10; layer 2 hides 5.
    assert list(table.stored_bytes) == [15, 4, 0]
    assert list(table.reclaimable_bytes) == [15, 0, 0]
    assert list(table.visible_bytes) == [0, 4, 0]
    assert list(table.hides_bytes) == [0, 10, 5]
    assert list(table.whiteouts) == [0, 0, 1]
    matrix = analysis.reclaimable_matrix
    assert matrix.to_dict() == {1: {0: 10}, 2: {0: 5}}


@pytest.mark.parametrize(
    ("final", "stored", "expected"),
    [(0, 0, 1.0), (3, 13, 3 / 13), (10, 10, 1.0), (0, 10, 0.0)],
)
def test_efficiency(final, stored, expected):
    assert efficiency(final, stored) == expected


# dive 0.13's rules (helpers/measuring/dive_score.py): leaves per layer, key = path without .wh.,
# a whiteout counts 0 unless it deletes a directory with its own entry below (then that subtree's sum),
# opaque markers are dropped; wasted = Σ cumulative over keys seen in two or more layers.
DIVE_CASES = {
    # chmod re-stores a: key a seen twice, 10 + 10 = 20 wasted; Σmin 10 / Σcum 20.
    "re-stored file": ([[F("a", 10)], [F("a", 10)]], 10 / 20, 20),
    # .wh.a counts 0 (a was a file): key a cumulative 10 + 0, seen twice: 10 wasted; Σmin 0 / Σcum 10.
    "file deleted by its own whiteout": ([[F("a", 10)], [W("a")]], 0.0, 10),
    # .wh.d counts d's subtree (10) under key d, seen once; d/a seen once: nothing wasted, Σmin = Σcum = 20.
    "file deleted with its directory": ([[D("d"), F("d/a", 10)], [W("d")]], 1.0, 0),
    # d has no entry of its own below, so .wh.d counts 0: Σmin = Σcum = 10.
    "directory without an entry of its own": ([[F("d/a", 10)], [W("d")]], 1.0, 0),
    # The opaque marker is dropped: d/a (10) and d/b (5) are different keys, nothing wasted.
    "opaque directory ignored": ([[D("d"), F("d/a", 10)], [D("d"), O("d"), F("d/b", 5)]], 1.0, 0),
    # Repeated path in one layer: dive keeps the last entry only, so nothing is wasted.
    "duplicate path in one layer": ([[F("a", 10), F("a", 3)]], 1.0, 0),
    "no bytes at all": ([[D("etc")]], 1.0, 0),
}


@pytest.mark.parametrize("name", list(DIVE_CASES))
def test_dive_figures(name):
    layers_spec, score, wasted = DIVE_CASES[name]
    assert dive_figures(stack(*layers_spec)) == (score, wasted)
