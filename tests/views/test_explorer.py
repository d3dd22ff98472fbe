"""dive's file tree in the notebook (helpers.measuring.changes, helpers.views.explorer) and the treemap, on real images.

Every added/modified answer is checked against a naive model: restack the
layers below from scratch with merge_layers and ask whether the path is there.
The treemap's tiles are read back from the figure: their areas must be the
stored bytes, and the hatched ones the reclaimable bytes.
"""

from __future__ import annotations

import io
import posixpath

import matplotlib

matplotlib.use("Agg")

import pytest  # noqa: E402
from archives import DIR, FILE, HARDLINK, docker_archive, make_layer  # noqa: E402

import helpers  # noqa: E402
from helpers.ground.model import WHITEOUT_PREFIX  # noqa: E402
from helpers.measuring.changes import CHANGE_COLUMNS, change_summary, layer_changes  # noqa: E402
from helpers.measuring.merge import merge_layers  # noqa: E402
from helpers.reading.files import read_archive_stream  # noqa: E402
from helpers.views import plots  # noqa: E402
from helpers.views.explorer import explore  # noqa: E402

MIB16 = 16777216


@pytest.fixture(scope="module")
def dive_image(dive_testdata):
    return helpers.analyze(helpers.read_image(dive_testdata / "test-docker-image.tar"))


def _naive_changes(analysis: helpers.Analysis) -> list[tuple[int, str, str]]:
    """(layer, change, path) per entry: the layers below merged afresh for every layer."""
    rows = []
    layers = analysis.image.layers
    for n, layer in enumerate(layers):
        below = merge_layers(layers[:n]).visible
        for entry in layer.entries:
            if entry.kind == "whiteout":
                directory, base = posixpath.split(entry.path)
                rows.append((n, "removed", posixpath.join(directory, base[len(WHITEOUT_PREFIX):])))
            elif entry.kind == "opaque":
                rows.append((n, "removed", posixpath.dirname(entry.path)))
            else:
                rows.append((n, "modified" if entry.path in below else "added", entry.path))
    return rows


def _rows(changes) -> list[tuple[int, str, str]]:
    return list(zip(changes["layer"].tolist(), changes["change"].astype(str).tolist(), changes["path"].tolist(),
                    strict=True))


def test_changes_of_dives_image_match_a_naive_restack(dive_image):
    changes = layer_changes(dive_image)
    assert list(changes.columns) == CHANGE_COLUMNS
    assert _rows(changes) == _naive_changes(dive_image)
    assert int(changes.loc[changes["wasted"], "size"].sum()) == dive_image.reclaimable_bytes == 32025
    # L9 `rm -rf /root/example/` removes the two copies still visible there (L7 moved the third away).
    removed = changes[(changes.layer == 9) & (changes.change == "removed")]
    assert removed[["path", "size"]].values.tolist() == [["root/example", 2 * 6405]]
    summary = change_summary(changes)
    assert summary.loc[9, "removed"] == 1 and summary["wasted_bytes"].sum() == 32025


@pytest.mark.engine
def test_changes_of_the_lab_name_what_ships_and_who_hid_it(lab):
    multi = lab["lab-multi-run"].analysis
    changes = layer_changes(multi)
    assert _rows(changes) == _naive_changes(multi)
    rows = changes.set_index(["layer", "path"])
    assert rows.loc[(1, "opt/build-dep.bin"), "change"] == "added"
    assert rows.loc[(1, "opt"), "change"] == "modified"  # the base has /opt
    assert rows.loc[(1, "opt/build-dep.bin"), "hidden_by"] == 3 and rows.loc[(1, "opt/build-dep.bin"), "wasted"]
    assert rows.loc[(3, "opt/build-dep.bin"), ["change", "size"]].tolist() == ["removed", MIB16]
    assert set(changes.loc[changes.layer == 0, "change"]) == {"added"}


@pytest.mark.engine
@pytest.mark.parametrize(("case", "removed", "size"), [("opaque", "d", 1200), ("tree-whiteout", "t", 600)])
def test_an_opaque_folder_and_a_whiteout_remove_what_was_under_them(built, case, removed, size):
    analysis = built[case].analysis
    changes = layer_changes(analysis)
    assert _rows(changes) == _naive_changes(analysis)
    gone = changes[(changes.layer == 2) & (changes.change == "removed")]
    assert gone[["path", "size"]].values.tolist() == [[removed, size]]
    assert int(changes.loc[changes["wasted"], "size"].sum()) == analysis.reclaimable_bytes == size


def test_a_whiteout_of_nothing_removes_nothing_and_a_hardlink_counts_once():
    image = docker_archive([
        make_layer(("a", b"x" * 10, FILE, None), ("b", b"", HARDLINK, "a")),
        make_layer((".wh.nothing-here", b"", FILE, None), (".wh.a", b"", FILE, None)),
    ])
    analysis = helpers.analyze(read_archive_stream(io.BytesIO(image), "case"))
    changes = layer_changes(analysis)
    assert changes.loc[changes.layer == 1, ["change", "path", "size"]].values.tolist() == [
        ["removed", "nothing-here", 0],
        ["removed", "a", 10],
    ]


def test_a_layer_that_lists_a_path_twice_is_compared_with_the_layers_below():
    image = docker_archive([make_layer(("d", b"", DIR, None)),
                    make_layer(("d/f", b"1", FILE, None), ("d/f", b"22", FILE, None))])
    changes = layer_changes(helpers.analyze(read_archive_stream(io.BytesIO(image), "case")))
    assert changes.loc[changes.layer == 1, ["change", "size", "wasted"]].values.tolist() == [
        ["added", 1, True],  # the first copy is shadowed inside its own layer
        ["added", 2, False],
    ]


def _views(html: str) -> dict[str, list[str]]:
    """Each top-level heading of the explorer, with the classes of the rows under it: what a reader sees with the
    styles stripped, as JupyterLab strips them from an untrusted notebook's stored outputs."""
    from html.parser import HTMLParser

    class Views(HTMLParser):
        def __init__(self) -> None:
            super().__init__()
            self.depth, self.views, self.current, self.in_summary, self.text = 0, {}, None, False, ""

        def handle_starttag(self, tag, attrs):
            if tag == "details":
                self.depth += 1
            elif tag == "summary" and self.depth == 1:
                self.in_summary, self.text = True, ""
            elif tag == "tr" and self.current is not None and dict(attrs).get("class"):
                self.views[self.current].append(dict(attrs)["class"])

        def handle_endtag(self, tag):
            if tag == "details":
                self.depth -= 1
            elif tag == "summary" and self.in_summary:
                self.in_summary, self.current = False, self.text.split(":")[0].split(",")[0]
                self.views[self.current] = []

        def handle_data(self, data):
            if self.in_summary:
                self.text += data

    parser = Views()
    parser.feed(html.split("</style>", 1)[1])
    return parser.views


def test_the_explorer_shows_every_layer_and_marks_the_wasted_rows(dive_image):
    view = explore(dive_image)
    html = view._repr_html_()
    views = _views(html)
    assert list(views) == ["wasted files only", "every file"]
    assert views["wasted files only"] == ["wasted"] * 5 == ["wasted"] * int(view.changes["wasted"].sum())
    assert views["every file"].count("wasted") == 5 and "kept" in views["every file"]
    assert html.count("<summary>L") == len(dive_image.layers) + 5  # every layer, and the five with waste again
    assert "wasted files only: 5 files, 31.3 KiB, in L3, L4, L5, L6, L7" in html
    for needed in ("<script", "<input", "style="):  # only <details> filters: it works where these are stripped
        assert needed not in html
    assert explore(dive_image)._repr_html_() == html  # no run-to-run noise in the stored output
    text = repr(view)
    assert text.splitlines()[3].startswith("L3 RUN cp /somefile.txt /root/example/somefile1.txt · stores 6.3 KiB")
    assert "    wasted    6.3 KiB  /root/example/somefile1.txt  (hidden by L4)" in text


def test_the_explorer_escapes_paths_and_bounds_its_rows():
    hostile = "<img src=x onerror=alert(1)>"
    image = docker_archive([make_layer(*[(f"d{i}/{hostile}", b"x" * i, FILE, None) for i in range(1, 31)])])
    analysis = helpers.analyze(read_archive_stream(io.BytesIO(image), "case"))
    html = explore(analysis, rows=5)._repr_html_()
    assert hostile not in html and "&lt;img src=x onerror=alert(1)&gt;" in html
    assert html.count("<tr class='kept'>") == 5
    assert "… and 25 more" in html  # 30 files, the biggest 5 shown
    wasted_only = explore(analysis, wasted_only=True)._repr_html_()
    assert "<tr class='kept'>" not in wasted_only and "every file" not in wasted_only


def _tiles(fig):
    ax = fig.axes[0]
    patches = [p for p in ax.patches if p.get_fill() and p.get_width() * p.get_height() > 0]
    return patches, ax


@pytest.mark.engine
def test_the_treemap_gives_each_stored_byte_its_area_and_hatches_the_reclaimable(lab):
    multi = lab["lab-multi-run"].analysis
    fig = plots.treemap(multi, "multi-RUN")
    tiles, ax = _tiles(fig)
    canvas = 1000 * 600
    area = sum(p.get_width() * p.get_height() for p in tiles)
    assert area == pytest.approx(canvas)
    hatched = sum(p.get_width() * p.get_height() for p in tiles if p.get_hatch())
    assert hatched / canvas == pytest.approx(multi.reclaimable_bytes / multi.stored_bytes)
    assert {p.get_label() for p in tiles if p.get_hatch()} == {"L1 hidden by L3"}
    notes = [t.get_text() for t in ax.texts]
    assert "hidden by L3" in notes and "/opt/build-dep.bin\n16.0 MiB" in notes
    assert fig.get_suptitle().startswith("Where multi-RUN's 23.4 MiB are")


def test_the_treemap_of_many_layers_names_seven_and_greys_the_rest(dive_image):
    fig = plots.treemap(dive_image, "dive's image")
    tiles, _ = _tiles(fig)
    colors = {p.get_facecolor() for p in tiles}
    assert len(colors) == 8  # seven layers of their own, and one grey for the others
    legend = [t.get_text() for legend in fig.legends for t in legend.get_texts()]
    assert legend[-2:] == ["5 smaller layers", "reclaimable"]  # 12 layers store bytes: 7 named, 5 grey
    hatched = sum(p.get_width() * p.get_height() for p in tiles if p.get_hatch())
    assert hatched / (1000 * 600) == pytest.approx(32025 / 1220598)
