"""helpers.views.plots on real images: every bar read back from the figure must be a measured byte count.

Inputs are the engine-built fixtures (``lab``, ``built``), the stand-in seed of
test_tables.py and dive's test-docker-image.tar.  Each test reads the bars
back from the axes (their widths, their left edges, their colors), the tick
labels, the titles and the notes, so a plot that draws the wrong numbers, or
none, fails.
"""

from __future__ import annotations

import io
import re

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import pytest  # noqa: E402
from dive_figures import DOCKER_HIDDEN, DOCKER_SIZES, EXPECTED  # noqa: E402
from layerlab_fixtures import STAND_IN_SEED, STAND_IN_SEED_TAG  # noqa: E402
from matplotlib.colors import to_rgba  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402

import helpers  # noqa: E402
from helpers.ground.errors import LayerLabError  # noqa: E402
from helpers.views import plots  # noqa: E402

MIB16 = 16777216
ARTIFACT = 85
BASE = 7792915
HEAD16 = "RUN head -c 16777216 /dev/urandom > /opt/build-dep.bin"
DIVE_RECLAIMABLE = EXPECTED["test-docker-image.tar"]["layer_reclaimable"]

#: The lab's layer labels: "L<index> <whole instruction, digests shortened>", wrapped at 40 characters.
LAB_LABELS = {
    "multi-RUN": [
        re.escape("L0 FROM alpine:3.20.3"),  # a base is named by its image, not its history's ADD file:…
        re.escape("L1 RUN head -c 16777216 /dev/urandom >\n/opt/build-dep.bin"),
        re.escape("L2 RUN sha256sum /opt/build-dep.bin >\n/artifact.sha256"),
        re.escape("L3 RUN rm /opt/build-dep.bin"),
    ],
    "single-RUN": [
        re.escape("L0 FROM alpine:3.20.3"),
        # The chained RUN is read whole: here it differs from the multi-RUN image's first step.
        re.escape("L1 RUN head -c 16777216 /dev/urandom >\n/opt/build-dep.bin && sha256sum\n"
                  "/opt/build-dep.bin > /artifact.sha256 &&\nrm /opt/build-dep.bin"),
    ],
}


@pytest.fixture(autouse=True)
def figures():
    """The figures a test made; closed afterwards (and nothing may be left open in pyplot)."""
    made: list[Figure] = []
    before = set(plt.get_fignums())
    yield made
    for figure in made:
        plt.close(figure)
    assert set(plt.get_fignums()) == before, "a plot left a figure open in pyplot"


@pytest.fixture
def lab_pair(lab):
    return {"multi-RUN": lab["lab-multi-run"].analysis, "single-RUN": lab["lab-single-run"].analysis}


@pytest.fixture(scope="module")
def dive_image(dive_testdata):
    return helpers.analyze(helpers.read_image(dive_testdata / "test-docker-image.tar"))


@pytest.fixture(scope="module")
def stand_in_seed(docker_client, alpine):
    return helpers.build(STAND_IN_SEED, name="stand-in-seed", tag=STAND_IN_SEED_TAG, client=docker_client).analysis


def _bars(ax) -> dict[str, list[tuple[float, float, float]]]:
    """Each bar series of ``ax`` by label: (y centre, left, width) of every bar."""
    return {
        container.get_label(): [(p.get_y() + p.get_height() / 2, p.get_x(), p.get_width()) for p in container]
        for container in ax.containers
    }


def _widths(ax, label: str) -> list[int]:
    widths = [width for _, _, width in _bars(ax)[label]]
    assert all(width == int(width) for width in widths)
    return [int(width) for width in widths]


def _ticks(ax) -> list[str]:
    return [label.get_text() for label in ax.get_yticklabels()]


def _notes(ax) -> list[str]:
    return [text.get_text() for text in ax.texts]


def _legend(fig: Figure) -> list[str]:
    return [text.get_text() for legend in fig.legends for text in legend.get_texts()]


def _check_frame(fig: Figure, title: str, rows_named_by_ticks: bool = False) -> None:
    """A Figure, outside pyplot, 8 inches wide, with a title, labelled axes and byte ticks."""
    assert isinstance(fig, Figure)
    assert fig.get_size_inches()[0] == 8
    assert fig.get_suptitle() == title or fig.axes[0].get_title(loc="left") == title
    fig.draw_without_rendering()
    for ax in fig.axes:
        assert ax.get_ylabel() or fig.get_supylabel() or rows_named_by_ticks
        for text in ax.get_xticklabels():
            if text.get_text():
                assert re.fullmatch(r"\d+(\.\d)? (B|KiB|MiB|GiB)", text.get_text()), text.get_text()
    assert fig.axes[-1].get_xlabel() == "bytes (uncompressed regular files)"


def _labels(ax) -> list[str]:
    return [container.get_label() for container in ax.containers]


# ---------------------------------------------------------------- layer_bars


@pytest.mark.engine
def test_layer_bars_lab(lab_pair, figures):
    fig = plots.layer_bars(lab_pair)
    figures.append(fig)
    _check_frame(fig, "What each layer stores: visible vs reclaimable bytes")
    expected = {
        "multi-RUN": ([BASE, 0, ARTIFACT, 0], [0, MIB16, 0, 0]),
        "single-RUN": ([BASE, ARTIFACT], [0, 0]),
    }
    assert len(fig.axes) == 2
    for ax, (name, (visible, reclaimable)) in zip(fig.axes, expected.items(), strict=True):
        assert ax.get_title(loc="left").startswith(f"{name}: stores ")
        # every bar says its size, so 85 B and 0 B read apart
        assert _notes(ax) == {"multi-RUN": ["7.4 MiB", "16.0 MiB, all reclaimable", "85 B", "0 B"],
                              "single-RUN": ["7.4 MiB", "85 B"]}[name]
        assert _labels(ax) == ["visible", "reclaimable"]
        assert _widths(ax, "visible") == visible
        assert _widths(ax, "reclaimable") == reclaimable
        # stacked: each reclaimable part starts where the layer's visible part ends
        assert [left for _, left, _ in _bars(ax)["reclaimable"]] == visible
        assert [y for y, _, _ in _bars(ax)["visible"]] == list(range(len(visible)))
        labels = _ticks(ax)
        assert len(labels) == len(LAB_LABELS[name])
        for label, pattern in zip(labels, LAB_LABELS[name], strict=True):
            assert re.fullmatch(pattern, label), label
        assert ax.get_ylim()[0] > ax.get_ylim()[1], "the base must be at the top"
        assert {patch.get_facecolor() for patch in ax.containers[0]} == {to_rgba(plots.VISIBLE_COLOR)}
        assert {patch.get_facecolor() for patch in ax.containers[1]} == {to_rgba(plots.HIDDEN_COLOR)}
    first, second = fig.axes
    assert first.get_shared_x_axes().joined(first, second)
    assert first.get_xlim() == second.get_xlim()
    assert first.get_xlim()[1] >= MIB16  # the widest bar, layer 1 of multi-RUN, fits
    assert fig.axes[0].get_title(loc="left") == "multi-RUN: stores 23.4 MiB, 16.0 MiB of it reclaimable"
    assert _legend(fig) == [plots.VISIBLE_LABEL, plots.HIDDEN_LABEL]
    # ticks at whole MiB, labelled by format_bytes
    ticks = first.xaxis.get_majorticklocs()
    assert all(tick % 2**20 == 0 for tick in ticks)
    assert first.xaxis.get_major_formatter()(MIB16, 0) == "16 MiB"  # no ".0" on a tick
    assert first.xaxis.get_major_formatter()(1.5 * 2**20, 0) == "1.5 MiB"


def test_layer_bars_dive(dive_image, figures):
    fig = plots.layer_bars({"dive": dive_image})
    figures.append(fig)
    _check_frame(fig, "What each layer stores: visible vs reclaimable bytes")
    (ax,) = fig.axes
    visible = [s - r for s, r in zip(DOCKER_SIZES, DIVE_RECLAIMABLE, strict=True)]
    assert _widths(ax, "visible") == visible
    assert _widths(ax, "reclaimable") == DIVE_RECLAIMABLE
    labels = _ticks(ax)
    assert labels[2] == "L2 RUN mkdir -p\n/root/example/really/nested"
    assert labels[9] == "L9 RUN rm -rf /root/example/"
    assert labels[13] == "L13 RUN chmod +x /root/saved.txt"
    assert re.fullmatch(r"L10 ADD dir:[0-9a-f]{8}… in /root/\.data/", labels[10])
    assert all(len(line) <= 40 for label in labels for line in label.splitlines())
    for label, text in zip(labels, dive_image.layers["instruction"], strict=True):  # wrapped, never cut
        assert label.replace("\n", " ").split(" ", 1)[1] == helpers.views.report.short_digests(text)


def test_layer_bars_shares_one_scale_across_images(dive_image, dive_testdata, figures):
    oci = helpers.analyze(helpers.read_image(dive_testdata / "test-oci-uncompressed-image.tar"))
    fig = plots.layer_bars({"dive": dive_image, "oci": oci})
    figures.append(fig)
    dive_ax, oci_ax = fig.axes
    assert dive_ax.get_xlim() == oci_ax.get_xlim()
    assert dive_ax.get_xlim()[1] >= 1154361
    assert _widths(oci_ax, "visible") == [11189]
    assert _ticks(oci_ax) == ["L0 COPY README.md /README.md"]


def test_no_images_is_an_error():
    for plot in (plots.layer_bars, plots.stored_vs_visible):
        with pytest.raises(LayerLabError, match="there is no image to plot"):
            plot({})


# ---------------------------------------------------------------- stored_vs_visible


@pytest.mark.engine
def test_stored_vs_visible_lab(lab_pair, figures):
    fig = plots.stored_vs_visible(lab_pair)
    figures.append(fig)
    _check_frame(fig, "Stored vs visible: where the reclaimable bytes are, and who hid them", rows_named_by_ticks=True)
    multi, single = fig.axes
    final = BASE + ARTIFACT
    assert _bars(multi) == {
        "stored: visible": [(0, 0, final)],
        "stored: reclaimable": [(0, final, MIB16)],
        "visible": [(1, 0, final)],
        "who hid what": [(2, final, MIB16)],  # its own row, right under its segment
    }
    assert _ticks(multi) == ["stored", "visible", "L1 → hidden by L3"]
    assert _notes(multi) == ["23.4 MiB", "7.4 MiB", "16.0 MiB"]
    assert _bars(single) == {"stored: visible": [(0, 0, final)], "stored: reclaimable": [],
                             "visible": [(1, 0, final)], "who hid what": []}
    assert _ticks(single) == ["stored", "visible"]
    assert _notes(single) == ["7.4 MiB, nothing reclaimable", "7.4 MiB"]
    assert multi.get_xlim() == single.get_xlim()
    assert multi.get_xlim()[1] <= 1.25 * (final + MIB16), "no axis stretched to make room for notes"
    assert multi.get_title(loc="left") == "multi-RUN: ships 23.4 MiB, shows 7.4 MiB"
    colors = {label: {patch.get_facecolor() for patch in c} for label, c in zip(_labels(multi), multi.containers,
                                                                                   strict=True)}
    assert colors["stored: visible"] == colors["visible"] == {to_rgba(plots.VISIBLE_COLOR)}
    assert colors["stored: reclaimable"] == colors["who hid what"] == {to_rgba(plots.HIDDEN_COLOR)}


def test_stored_vs_visible_dive(dive_image, figures):
    fig = plots.stored_vs_visible({"dive": dive_image})
    figures.append(fig)
    (ax,) = fig.axes
    bars = _bars(ax)
    pairs = sorted((layer, by) for layer, by, _, _, _ in DOCKER_HIDDEN)  # all 6405 bytes: ordered by layer
    segments = [f"L{layer} → hidden by L{by}" for layer, by in pairs]
    final = dive_image.final_bytes
    assert final == 1188573
    lefts = [final + 6405 * k for k in range(len(segments))]
    assert bars["stored: reclaimable"] == [(0, left, 6405) for left in lefts]
    assert bars["who hid what"] == [(2 + k, left, 6405) for k, left in enumerate(lefts)]
    assert lefts[-1] + 6405 == 1220598  # dive's published size: the stored bar is the whole image
    assert bars["visible"] == [(1, 0, final)]
    assert _ticks(ax) == ["stored", "visible", *segments]
    assert _notes(ax)[2:] == ["6.3 KiB"] * len(segments)


@pytest.mark.engine
def test_stored_vs_visible_stand_in_seed(stand_in_seed, figures):
    fig = plots.stored_vs_visible({"stand-in seed": stand_in_seed})
    figures.append(fig)
    (ax,) = fig.axes
    assert _ticks(ax) == ["stored", "visible", "L0 → hidden by L1", "L1 → hidden by L3", "L2 → hidden by L3",
                          "L1 → hidden by L2"]
    assert [w for _, _, w in _bars(ax)["who hid what"]] == [14206, 10600, 3100, 3000]
    assert _notes(ax)[2:] == ["13.9 KiB", "10.4 KiB", "3.0 KiB", "2.9 KiB"]


def test_stored_vs_visible_puts_the_smallest_pairs_past_eight_in_one_row(dive_image, figures, monkeypatch):
    monkeypatch.setattr(plots, "_MAX_PAIRS", 3)
    fig = plots.stored_vs_visible({"dive": dive_image})
    figures.append(fig)
    (ax,) = fig.axes
    pairs = sorted((layer, by) for layer, by, _, _, _ in DOCKER_HIDDEN)
    assert _ticks(ax)[2:4] == [f"L{layer} → hidden by L{by}" for layer, by in pairs[:2]]
    assert _ticks(ax)[4] == "3 more pairs"
    assert [w for _, _, w in _bars(ax)["who hid what"]] == [6405, 6405, 3 * 6405]


# ---------------------------------------------------------------- biggest_paths


@pytest.mark.engine
@pytest.mark.parametrize(
    ("case", "layer", "depth", "paths", "visible", "hidden"),
    [
        ("lab-multi-run", 1, None, ["opt/build-dep.bin"], [0], [MIB16]),
        ("lab-multi-run", 2, None, ["artifact.sha256"], [ARTIFACT], [0]),
        ("tree-whiteout", 1, None, ["t/3", "t/x/2", "t/x/y/1"], [0, 0, 0], [300, 200, 100]),
        ("tree-whiteout", 1, 1, ["t/"], [0], [600]),
        ("hardlinks", 1, None, ["h1"], [4096], [0]),
        ("opaque", 1, None, ["d/b", "d/a"], [0, 0], [700, 500]),
    ],
)
def test_biggest_paths(built, lab, figures, case, layer, depth, paths, visible, hidden):
    analysis = (lab | built)[case].analysis
    fig = plots.biggest_paths(analysis, layer, depth=depth)
    figures.append(fig)
    (ax,) = fig.axes
    assert _ticks(ax) == paths
    assert _widths(ax, "visible") == visible
    assert _widths(ax, "hidden") == hidden
    assert [left for _, left, _ in _bars(ax)["hidden"]] == visible
    title = ax.get_title(loc="left")
    instruction = analysis.layers.at[layer, "instruction"]
    assert title.replace("\n", " ").startswith(f"L{layer} {instruction}: biggest ")  # whole, wrapped
    assert title.endswith("files" if depth is None else f"directories (first {depth} path component)")
    assert ax.get_ylabel() == ("files" if depth is None else "directories")
    assert ax.get_xlabel() == "bytes (uncompressed regular files)"


def test_biggest_paths_dive_base(dive_image, figures):
    fig = plots.biggest_paths(dive_image, 0, top=4)
    figures.append(fig)
    (ax,) = fig.axes
    assert _ticks(ax) == ["bin/[", "bin/getconf", "etc/passwd", "etc/group"]
    assert _widths(ax, "visible") == [1075464, 77880, 340, 307]
    assert ax.get_ylim()[0] > ax.get_ylim()[1], "the biggest must be at the top"


@pytest.mark.engine
def test_biggest_paths_keeps_the_end_of_long_paths(stand_in_seed, figures):
    fig = plots.biggest_paths(stand_in_seed, 2, top=2)
    figures.append(fig)
    (ax,) = fig.axes
    # usr/lib/python3.12/site-packages/django/__init__.py is 51 characters: whole, wrapped after a "/".
    assert _ticks(ax) == ["root/.cache/pip/http-v2/a/body", "usr/lib/python3.12/site-packages/django/\n__init__.py"]
    assert _widths(ax, "visible") == [9000, 6000]


@pytest.mark.engine
def test_biggest_paths_of_a_layer_without_files(lab, figures):
    fig = plots.biggest_paths(lab["lab-multi-run"].analysis, 3)
    figures.append(fig)
    (ax,) = fig.axes
    assert ax.containers == []
    assert "layer 3 stores no regular files" in _notes(ax)
    assert ax.get_title(loc="left") == "L3 RUN rm /opt/build-dep.bin: biggest files"


# ---------------------------------------------------------------- breakdown


@pytest.mark.engine
def test_breakdown_lab(lab, figures):
    fig = plots.breakdown(lab["lab-multi-run"].analysis, 1)
    figures.append(fig)
    _check_frame(fig, f"What L1 {HEAD16} stores")
    (ax,) = fig.axes
    assert _ticks(ax) == ["other"]
    assert _widths(ax, "still visible") == [0]
    assert _widths(ax, "hidden later") == [MIB16]
    assert _notes(ax) == ["16.0 MiB, hidden by L3"]
    assert _legend(fig) == ["hidden by a later layer"]  # no key for a colour the figure does not show


@pytest.mark.engine
def test_breakdown_stand_in_seed(stand_in_seed, figures):
    fig = plots.breakdown(stand_in_seed, 1)
    figures.append(fig)
    (ax,) = fig.axes
    assert _ticks(ax) == ["pip", "bytecode", "setuptools & packaging", "apk database", "apk index cache"]
    assert _widths(ax, "still visible") == [0, 0, 0, 0, 1500]
    assert _widths(ax, "hidden later") == [4700, 4100, 2800, 2000, 0]
    assert _notes(ax) == [
        "4.6 KiB, hidden by L3",
        "4.0 KiB, hidden by L2, L3",
        "2.7 KiB, hidden by L3",
        "2.0 KiB, hidden by L3",
        "1.5 KiB",
    ]
    assert ax.get_title(loc="left").startswith("What L1 RUN mkdir -p /var/cache/apk\n/usr/lib/python3.1")
    assert ax.get_title(loc="left").count("\n") == 2  # a long instruction: three lines, the last cut with "…"


def test_breakdown_takes_any_categorize(dive_image, figures):
    fig = plots.breakdown(dive_image, 0, categorize=lambda path: path.split("/")[0])
    figures.append(fig)
    (ax,) = fig.axes
    assert _ticks(ax) == ["bin", "etc"]
    assert _widths(ax, "still visible") == [1153344, 1017]
    assert _widths(ax, "hidden later") == [0, 0]
    assert re.fullmatch(r"What L0 ADD file:[0-9a-f]{8}… in / stores", ax.get_title(loc="left"))


def test_breakdown_of_a_layer_without_files(dive_image, figures):
    fig = plots.breakdown(dive_image, 9)
    figures.append(fig)
    (ax,) = fig.axes
    assert ax.containers == []
    assert _notes(ax) == ["layer 9 stores no regular files"]


# ---------------------------------------------------------------- figures


def test_figures_stay_out_of_pyplot_use_rcparams_dpi_and_show_as_png(dive_image, figures):
    with matplotlib.rc_context({"figure.dpi": 50}):
        made = [
            plots.layer_bars({"dive": dive_image}),
            plots.stored_vs_visible({"dive": dive_image}),
            plots.biggest_paths(dive_image, 0),
            plots.breakdown(dive_image, 0),
        ]
    figures.extend(made)
    for fig in made:
        assert isinstance(fig, Figure)
        assert fig.dpi == 50
        assert repr(fig).startswith("<Figure size 400x")
        png, size = fig._repr_png_()
        assert png.startswith(b"\x89PNG\r\n\x1a\n")
        from PIL import Image

        with Image.open(io.BytesIO(png)) as image:  # drawn at twice the pixels, shown at the dpi's size
            assert (size["width"], size["height"]) == (image.size[0] // plots.PIXEL_RATIO,
                                                       image.size[1] // plots.PIXEL_RATIO)
        assert 400 <= size["width"] <= 440
    assert plt.get_fignums() == []


def test_leaderboard_ranks_by_stored_bytes(lab_pair, figures):
    fig = plots.leaderboard(lab_pair)
    figures.append(fig)
    _check_frame(fig, "The leaderboard: bytes each image stores")
    (ax,) = fig.axes
    # single-RUN (7,793,000 stored) ranks above multi-RUN (24,570,216).
    assert _ticks(ax) == ["single-RUN (2 layers)", "multi-RUN (4 layers)"]
    assert _widths(ax, "final") == [BASE + ARTIFACT, BASE + ARTIFACT]
    assert _widths(ax, "reclaimable") == [0, MIB16]
    assert [left for _, left, _ in _bars(ax)["reclaimable"]] == [BASE + ARTIFACT, BASE + ARTIFACT]
    assert _notes(ax) == ["7.4 MiB", "23.4 MiB"]
    assert ax.get_ylim()[0] > ax.get_ylim()[1], "the smallest must be at the top"


def test_savings_waterfall_steps_from_first_to_last(lab_pair, figures):
    fig = plots.savings_waterfall(lab_pair)
    figures.append(fig)
    _check_frame(fig, "What each step saved: 23.4 MiB down to 7.4 MiB")
    (ax,) = fig.axes
    bars = _bars(ax)
    # start and end: visible, then reclaimable; between them, the step's saving
    assert bars["visible"] == [(0, 0, BASE + ARTIFACT), (2, 0, BASE + ARTIFACT)]
    assert bars["reclaimable"] == [(0, BASE + ARTIFACT, MIB16), (2, BASE + ARTIFACT, 0)]
    assert [(left, width) for _, left, width in bars["single-RUN"]] == [(BASE + ARTIFACT, MIB16)]
    assert _notes(ax) == ["23.4 MiB", "7.4 MiB", "saved 16.0 MiB"]
    assert _ticks(ax) == ["multi-RUN (start)", "single-RUN", "single-RUN (end)"]
    assert {p.get_facecolor() for p in bars_of(ax, "single-RUN")} == {to_rgba(plots.SAVED_COLOR)}
    assert _legend(fig) == ["visible", "reclaimable", "bytes saved"]
    reverse = plots.savings_waterfall({"single-RUN": lab_pair["single-RUN"], "multi-RUN": lab_pair["multi-RUN"]})
    figures.append(reverse)
    assert _notes(reverse.axes[0])[-1] == "added 16.0 MiB"
    assert {p.get_facecolor() for p in bars_of(reverse.axes[0], "multi-RUN")} == {to_rgba(plots.ADDED_COLOR)}


def bars_of(ax, label: str):
    return next(container for container in ax.containers if container.get_label() == label)


@pytest.mark.engine
def test_fetch_given_base_splits_what_is_there_from_what_is_stored_and_pulled(lab_pair, figures, docker_client):
    base = helpers.analyze(helpers.read_image("alpine:3.20.3"))
    fig = plots.fetch_given_base(lab_pair, base, "alpine:3.20.3")
    figures.append(fig)
    _check_frame(fig, "What a machine that holds alpine:3.20.3 must still store, and what a pull moves")
    (ax,) = fig.axes
    bars = _bars(ax)
    assert [w for _, _, w in bars["on the machine"]] == [BASE, BASE]
    assert [w for _, _, w in bars["to store: visible"]] == [ARTIFACT, ARTIFACT]
    assert [w for _, _, w in bars["to store: reclaimable"]] == [MIB16, 0]
    assert "a pull moves" not in bars  # not measured: no bar claims it
    assert _notes(ax) == ["store 16.0 MiB", "store 85 B"]
    from helpers.views.tables import unshared_bytes  # noqa: E402

    assert [unshared_bytes(a, base) for a in lab_pair.values()] == [MIB16 + ARTIFACT, ARTIFACT]
    from helpers.building.engine import PULL_GZIP_LEVEL  # noqa: E402
    from helpers.reading.daemon import read_engine_image  # noqa: E402

    pulled = {name: helpers.analyze(read_engine_image(a.image.source, docker_client, gzip_level=PULL_GZIP_LEVEL))
              for name, a in lab_pair.items()}
    measured = plots.fetch_given_base(pulled, base, "alpine:3.20.3")
    figures.append(measured)
    moves = [w for _, _, w in _bars(measured.axes[0])["a pull moves"]]
    assert moves == [sum(layer.pull_bytes for layer in a.image.layers[1:]) for a in pulled.values()]
    assert moves[0] >= MIB16  # the stand-in is random bytes: its pull moves all of it
    assert _notes(measured.axes[0])[0].startswith("store 16.0 MiB, pull 16.0 MiB")


def test_one_colour_means_one_thing():
    meanings = [plots.VISIBLE_COLOR, plots.HIDDEN_COLOR, plots.PULLED_COLOR, plots.SAVED_COLOR, plots.ADDED_COLOR,
                plots.BASE_COLOR]
    assert len(set(meanings)) == len(meanings)
    assert not set(meanings) & set(plots.CATEGORY_COLORS)
    assert len(set(plots.CATEGORY_COLORS)) == len(plots.CATEGORY_COLORS)


@pytest.mark.parametrize(("path", "lines"), [
    ("a/b", ["a/b"]),
    ("usr/lib/python3.12/site-packages/django/__init__.py", ["usr/lib/python3.12/site-packages/django/",
                                                            "__init__.py"]),
    ("x" * 95, ["x" * 40, "x" * 40, "x" * 15]),
    ("d/" * 200, None),
])
def test_wrap_path_keeps_every_character_on_lines_of_forty(path, lines):
    wrapped = plots.wrap_path(path).split("\n")
    assert all(len(line) <= 40 for line in wrapped)
    if lines is None:  # a 400-character path: six lines, the last cut
        assert len(wrapped) == 6 and wrapped[-1].endswith("…")
    else:
        assert wrapped == lines and "".join(wrapped) == path


def test_a_ten_kilobyte_instruction_makes_a_label_of_six_lines():
    label = plots.wrap("RUN " + "echo hello && " * 800)
    assert label.count("\n") == 5 and label.endswith("…")


# ---------------------------------------------------------------- bases and fleets


@pytest.fixture(scope="module")
def alpine_bases(docker_client):
    """Two real Alpine bases, read with what a pull moves measured."""
    import docker.errors
    from layerlab_fixtures import unavailable

    from helpers.building.engine import PULL_GZIP_LEVEL  # noqa: E402
    from helpers.reading.daemon import read_engine_image  # noqa: E402

    names = ["alpine:3.7.3", "alpine:3.20.3"]
    for name in names:
        try:
            docker_client.images.get(name)
        except docker.errors.ImageNotFound:
            unavailable(f"{name} is not in the engine: make it with `python -m helpers base {name}`")
    return {name: helpers.analyze(read_engine_image(name, docker_client, gzip_level=PULL_GZIP_LEVEL))
            for name in names}


def test_bases_draws_each_images_size_and_pull_and_its_make_up(alpine_bases, figures):
    from helpers.views.tables import directory_sizes  # noqa: E402

    fig = plots.bases(alpine_bases)
    figures.append(fig)
    size_ax, mix_ax = fig.axes
    bars = _bars(size_ax)
    assert [w for _, _, w in bars["files a container sees"]] == [a.final_bytes for a in alpine_bases.values()]
    assert [w for _, _, w in bars["what a pull moves (gzip)"]] == [a.compressed_bytes for a in alpine_bases.values()]
    assert _ticks(size_ax) == list(alpine_bases)
    for row in range(len(alpine_bases)):
        shares = sum(width for series in _bars(mix_ax).values() for y, _, width in series if round(y) == row)
        assert shares == pytest.approx(100)
    new = directory_sizes(alpine_bases["alpine:3.20.3"]).set_index("path")
    crypto = [width for y, _, width in _bars(mix_ax)["lib/libcrypto.so.3"] if round(y) == 1]  # Alpine 3.20's biggest
    assert crypto == [pytest.approx(100 * new.at["lib/libcrypto.so.3", "bytes"] / new.bytes.sum())]


def test_fleet_growth_counts_a_shared_layer_once(alpine_bases):
    from helpers.views.fleet import fleet_figures, fleet_growth  # noqa: E402

    both = {"old": alpine_bases["alpine:3.7.3"], "new": alpine_bases["alpine:3.20.3"],
            "new again": alpine_bases["alpine:3.20.3"]}
    figures = fleet_figures(both)
    assert figures["images"] == 3 and figures["layers"] == 2
    assert figures["images_bytes"] == sum(a.stored_bytes for a in both.values())
    assert figures["stored_bytes"] == sum(a.stored_bytes for a in alpine_bases.values())  # 3.20.3 once
    assert figures["pulled_bytes"] == sum(a.compressed_bytes for a in alpine_bases.values())
    growth = fleet_growth({"alpines": both})
    assert growth.stored_bytes.tolist()[-1] == figures["stored_bytes"]
    assert growth.shared_layers.tolist() == [0, 0, 1]
    unmeasured = helpers.analyze(helpers.read_image("alpine:3.20.3"))
    assert fleet_figures({"x": unmeasured})["pulled_bytes"] is None  # not measured, never guessed
    with pytest.raises(LayerLabError, match="a fleet needs at least one image"):
        fleet_growth({"empty": {}})


def test_fleet_draws_stored_and_pulled_bytes_per_number_of_services(alpine_bases, figures):
    from helpers.views.fleet import fleet_growth  # noqa: E402

    one, two = alpine_bases["alpine:3.7.3"], alpine_bases["alpine:3.20.3"]
    growth = fleet_growth({"alpine": {"a": two, "b": two}, "alpine, squashed": {"a": one, "b": two}})
    fig = plots.fleet(growth)
    figures.append(fig)
    stored_ax, pulled_ax = fig.axes
    for ax, column in [(stored_ax, "stored_bytes"), (pulled_ax, "pulled_bytes")]:
        lines = {line.get_label(): line for line in ax.get_lines()}
        for fleet, rows in growth.groupby("fleet"):
            assert list(lines[fleet].get_ydata()) == rows[column].tolist()
        assert lines["alpine, squashed"].get_linestyle() == "--" and lines["alpine"].get_linestyle() == "-"
        assert ax.get_yscale() == "log"
    assert fig._repr_png_()[0].startswith(b"\x89PNG\r\n\x1a\n")
