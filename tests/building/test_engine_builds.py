"""Build the fixture Dockerfiles (tests/fixtures/<case>/Dockerfile) with the real engine and measure them.

Every expected figure is computed by hand from the Dockerfile, on top of the
base: alpine:3.20.3 (FROM scratch + ADD the 3.20.3 minirootfs) stores
BASE = 7,792,915 regular-file bytes in its one layer, which
test_base_image_bytes checks against the image and against the tarball itself.
"""

from __future__ import annotations

import tarfile

import pytest
from layerlab_fixtures import (
    ALPINE_TARBALLS,
    BASE,
    BASE_IMAGE,
    CASES,
    FIXTURES,
    LAB_VARIANTS,
    made_by_buildkit,
    saved_format,
    without_buildkit_run_entry,
)

import helpers
from helpers.ground.errors import BuildFailed

# case -> figures.  Layer entries are (path, kind, size, link) of each layer above the base, sorted by path;
# hidden rows are (layer, hidden_by, how, path, size).
EXPECTED = {
    # RUN head -c 1000 > /f ; RUN head -c 300 > /f
    # stored = BASE + 1000 + 300; the second /f shadows the first: final = BASE + 300, 1000 reclaimable.
    # dive: key f seen in two layers, 1000 + 300 = 1300 wasted (it counts the copy you keep too).
    "shadowed": {
        "layer_stored": [BASE, 1000, 300],
        "stored": BASE + 1300,
        "final": BASE + 300,
        "hidden": [(1, 2, "shadowed", "f", 1000)],
        "dive_wasted": 1300,
        "entries": [
            [("f", "file", 1000, "")],
            [("f", "file", 300, "")],
        ],
        "steps": [
            ("FROM alpine:3.20.3", None),
            ("RUN head -c 1000 /dev/zero > /f", 1000),
            ("RUN head -c 300 /dev/zero > /f", 300),
        ],
    },
    # RUN mkdir /d, d/a 500, d/b 700 ; RUN rm -rf /d && mkdir /d && d/c 100
    # overlay2 records the re-created /d as opaque (d/.wh..wh..opq): it hides d/a and d/b, 500 + 700 = 1200.
    # stored = BASE + 1200 + 100, final = BASE + 100.
    # dive drops the opaque marker: d/a, d/b, d/c are each seen once, so dive finds no waste at all.
    "opaque": {
        "layer_stored": [BASE, 1200, 100],
        "stored": BASE + 1300,
        "final": BASE + 100,
        "hidden": [(1, 2, "opaque", "d/a", 500), (1, 2, "opaque", "d/b", 700)],
        "dive_wasted": 0,
        "entries": [
            [("d", "dir", 0, ""), ("d/a", "file", 500, ""), ("d/b", "file", 700, "")],
            [("d", "dir", 0, ""), ("d/.wh..wh..opq", "opaque", 0, ""), ("d/c", "file", 100, "")],
        ],
        "steps": [
            ("FROM alpine:3.20.3", None),
            ("RUN mkdir /d && head -c 500 /dev/zero > /d/a && head -c 700 /dev/zero > /d/b", 1200),
            ("RUN rm -rf /d && mkdir /d && head -c 100 /dev/zero > /d/c", 100),
        ],
    },
    # RUN 4096 B at /h1 && ln /h1 /h2 ; RUN rm /h1
    # One inode of 4096 bytes with two names; /h2 still names it at the end: final = stored = BASE + 4096.
    # dive: key h1 seen twice (4096, then 0 for the whiteout of a file): 4096 wasted.
    "hardlinks": {
        "layer_stored": [BASE, 4096, 0],
        "stored": BASE + 4096,
        "final": BASE + 4096,
        "hidden": [],
        "dive_wasted": 4096,
        "entries": [
            [("h1", "file", 4096, ""), ("h2", "hardlink", 0, "h1")],
            [(".wh.h1", "whiteout", 0, "")],
        ],
        "steps": [
            ("FROM alpine:3.20.3", None),
            ("RUN head -c 4096 /dev/zero > /h1 && ln /h1 /h2", 4096),
            ("RUN rm /h1", 0),
        ],
    },
    # RUN 2000 B at /s && ln -s /s /link: a symlink stores no file bytes (its target, "/s", is 2 characters,
    # which `docker history` counts: 2002).
    "symlinks": {
        "layer_stored": [BASE, 2000],
        "stored": BASE + 2000,
        "final": BASE + 2000,
        "hidden": [],
        "dive_wasted": 0,
        "entries": [
            [("link", "symlink", 0, "/s"), ("s", "file", 2000, "")],
        ],
        "steps": [
            ("FROM alpine:3.20.3", None),
            ("RUN head -c 2000 /dev/zero > /s && ln -s /s /link", 2002),
        ],
    },
    # RUN mkdir -p /t/x/y, t/x/y/1 100, t/x/2 200, t/3 300 ; RUN rm -rf /t
    # One whiteout, .wh.t, deletes the tree: 100 + 200 + 300 = 600 reclaimable; final = BASE.
    # dive: .wh.t counts t's subtree (600) under key t, seen once; no key seen twice: 0 wasted.
    "tree-whiteout": {
        "layer_stored": [BASE, 600, 0],
        "stored": BASE + 600,
        "final": BASE,
        "hidden": [(1, 2, "deleted", "t/3", 300), (1, 2, "deleted", "t/x/2", 200), (1, 2, "deleted", "t/x/y/1", 100)],
        "dive_wasted": 0,
        "entries": [
            [
                ("t", "dir", 0, ""), ("t/3", "file", 300, ""), ("t/x", "dir", 0, ""), ("t/x/2", "file", 200, ""),
                ("t/x/y", "dir", 0, ""), ("t/x/y/1", "file", 100, ""),
            ],
            [(".wh.t", "whiteout", 0, "")],
        ],
        "steps": [
            ("FROM alpine:3.20.3", None),
            (
                "RUN mkdir -p /t/x/y && head -c 100 /dev/zero > /t/x/y/1 && head -c 200 /dev/zero > /t/x/2 "
                "&& head -c 300 /dev/zero > /t/3",
                600,
            ),
            ("RUN rm -rf /t", 0),
        ],
    },
}

MIB16 = 16777216
#: sha256sum's line: 64 hex digits, 2 spaces, "/opt/build-dep.bin" (18), a newline: 64 + 2 + 18 + 1 = 85.
ARTIFACT = 64 + 2 + len("/opt/build-dep.bin") + 1

LAB_EXPECTED = {
    # RUN 16 MiB at /opt/build-dep.bin ; RUN sha256sum > /artifact.sha256 (85 B) ; RUN rm /opt/build-dep.bin
    # stored = BASE + 16777216 + 85; the whiteout in layer 3 hides the 16 MiB of layer 1; final = BASE + 85.
    "lab-multi-run": {
        "layer_stored": [BASE, MIB16, ARTIFACT, 0],
        "stored": BASE + MIB16 + ARTIFACT,
        "final": BASE + ARTIFACT,
        "hidden": [(1, 3, "deleted", "opt/build-dep.bin", MIB16)],
        "dive_wasted": MIB16,
        "entries": [
            [("opt", "dir", 0, ""), ("opt/build-dep.bin", "file", MIB16, "")],
            [("artifact.sha256", "file", ARTIFACT, "")],
            [("opt", "dir", 0, ""), ("opt/.wh.build-dep.bin", "whiteout", 0, "")],
        ],
        "steps": [
            ("FROM alpine:3.20.3", None),
            ("RUN head -c 16777216 /dev/urandom > /opt/build-dep.bin", MIB16),
            ("RUN sha256sum /opt/build-dep.bin > /artifact.sha256", ARTIFACT),
            ("RUN rm /opt/build-dep.bin", 0),
        ],
    },
    # The same, chained with && in one RUN: the 16 MiB never reach a layer (only /opt's new mtime does).
    "lab-single-run": {
        "layer_stored": [BASE, ARTIFACT],
        "stored": BASE + ARTIFACT,
        "final": BASE + ARTIFACT,
        "hidden": [],
        "dive_wasted": 0,
        "entries": [
            [("artifact.sha256", "file", ARTIFACT, ""), ("opt", "dir", 0, "")],
        ],
        "steps": [
            ("FROM alpine:3.20.3", None),
            (
                "RUN head -c 16777216 /dev/urandom > /opt/build-dep.bin && sha256sum /opt/build-dep.bin "
                "> /artifact.sha256 && rm /opt/build-dep.bin",
                ARTIFACT,
            ),
        ],
    },
}

ALL = {**EXPECTED, **LAB_EXPECTED}


@pytest.fixture(scope="module")
def images(built, lab):
    return {**built, **lab}


def test_every_fixture_folder_is_built_and_checked():
    folders = sorted(p.name for p in FIXTURES.iterdir() if (p / "Dockerfile").is_file())
    assert folders == sorted(ALL)
    assert sorted(CASES) == sorted(EXPECTED)
    assert sorted(LAB_VARIANTS.values()) == sorted(LAB_EXPECTED)


@pytest.mark.engine
def test_base_image_bytes(docker_client, alpine):
    analysis = helpers.analyze(helpers.read_image(alpine))
    assert analysis.summary() == {
        "layers": 1,
        "stored_bytes": BASE,
        "final_bytes": BASE,
        "reclaimable_bytes": 0,
        "efficiency": 1.0,
        "dive_efficiency": 1.0,
        "dive_wasted_bytes": 0,
    }
    assert analysis.image.format == "docker-engine/" + saved_format(docker_client)
    assert BASE_IMAGE in analysis.image.tags


def test_base_constant_matches_the_minirootfs_tarball():
    """BASE measured independently: the regular files of the tarball that ADD unpacked into the base layer."""
    tarball = ALPINE_TARBALLS / "alpine-minirootfs-3.20.3-x86_64.tar.gz"
    if not tarball.is_file():
        pytest.skip(f"the Alpine minirootfs is missing: expected it at {tarball}")
    with tarfile.open(tarball) as tar:
        assert sum(member.size for member in tar if member.isreg()) == BASE


@pytest.mark.engine
@pytest.mark.parametrize("case", list(ALL))
def test_figures(images, case):
    expected = ALL[case]
    analysis = images[case].analysis
    assert analysis.stored_bytes == expected["stored"]
    assert analysis.final_bytes == expected["final"]
    assert analysis.reclaimable_bytes == expected["stored"] - expected["final"]
    assert analysis.efficiency == expected["final"] / expected["stored"]
    assert analysis.dive_wasted_bytes == expected["dive_wasted"]
    assert list(analysis.layers.stored_bytes) == expected["layer_stored"]
    hidden = sorted(analysis.hidden[["layer", "hidden_by", "how", "path", "size"]].itertuples(index=False, name=None))
    assert hidden == sorted(expected["hidden"])


@pytest.mark.engine
@pytest.mark.parametrize("case", list(ALL))
def test_layer_entries(images, case):
    """Each layer's entries, exactly; BuildKit's ``RUN`` layers hold ``/etc`` besides (:data:`BUILDKIT_RUN_ENTRY`)."""
    from helpers.ground.history import instruction

    layers = images[case].analysis.image.layers
    found = [without_buildkit_run_entry(sorted((e.path, e.kind, e.size, e.link) for e in layer.entries),
                                        layer.created_by) for layer in layers[1:]]
    assert found == ALL[case]["entries"]
    assert [instruction(layer.created_by) for layer in layers[1:]] == [
        instruction for instruction, _ in ALL[case]["steps"][1:]
    ]


@pytest.mark.engine
def test_opaque_dive_differs(images):
    """dive ignores opaque directories: it sees no waste where 1200 bytes are reclaimable."""
    analysis = images["opaque"].analysis
    assert analysis.reclaimable_bytes == 1200
    assert analysis.dive_wasted_bytes == 0
    assert analysis.dive_efficiency == 1.0
    assert analysis.efficiency == (BASE + 100) / (BASE + 1300)


@pytest.mark.engine
def test_lab_pattern(images):
    multi, single = images["lab-multi-run"].analysis, images["lab-single-run"].analysis
    assert multi.final_bytes == single.final_bytes == BASE + ARTIFACT == BASE + 85
    assert multi.reclaimable_bytes == MIB16
    assert single.reclaimable_bytes == 0
    assert list(multi.layers.reclaimable_bytes) == [0, MIB16, 0, 0]
    assert list(multi.layers.hides_bytes) == [0, 0, 0, MIB16]
    assert multi.reclaimable_matrix.to_dict() == {3: {1: MIB16}}
    assert images["lab-multi-run"].tag == "layerlab/layerlab-test-multi-run:latest"


@pytest.mark.engine
@pytest.mark.parametrize("case", list(ALL))
def test_progress_reports_every_step_with_its_layer_size(images, case):
    """Each step once; the classic builder reports it as it lands, in order, with its layer's size,
    BuildKit as it starts, without one (the image's layers are measured once it is built), and
    cached steps in any order."""
    steps = images[case].steps
    expected = ALL[case]["steps"]
    assert {name for name, _ in steps} == {case if case in EXPECTED else _variant_name(case)}
    as_it_lands = images[case].analysis.image.built_by == "docker"
    reported = [(s.number, s.total, s.instruction, s.layer_bytes) for _, s in steps]
    assert (reported if as_it_lands else sorted(reported)) == [
        (k, len(expected), instruction, size if as_it_lands else None)
        for k, (instruction, size) in enumerate(expected, start=1)
    ]


def _variant_name(folder: str) -> str:
    return next(name for name, f in LAB_VARIANTS.items() if f == folder)


def _engine_layer_sizes(client, tag: str) -> list[int]:
    """`docker history` sizes, oldest first, without the metadata-only (#(nop), Size 0) entries."""
    history = client.api.history(tag)
    kept = [h for h in history if not (h["Size"] == 0 and "#(nop)" in (h["CreatedBy"] or ""))]
    return [int(h["Size"]) for h in reversed(kept)]


@pytest.mark.engine
@pytest.mark.parametrize("case", ["base", *ALL])
def test_layer_sizes_agree_with_docker_history(docker_client, alpine, images, case):
    """The engine's own per-layer sizes (`docker history`) agree with the layers' tar entries.

    On overlay2 the classic builder's history Size counts every non-directory entry of
    the container's upper folder as the filesystem reports it: regular-file bytes (a
    hard-linked file once) plus each symlink's target length
    (../shared/facts/image-formats.md §5).  BuildKit's layers are applied from their tar,
    and the engine counts what the tar's headers say a member holds: regular-file bytes
    only.  So the rules checked are ``Size == Σ regular-file sizes + Σ len(symlink target)``
    per classic layer and ``Size == Σ regular-file sizes`` per BuildKit layer.
    """
    if case == "base":
        tag, layers = alpine, helpers.read_image(alpine).layers
    else:
        tag, layers = images[case].tag, images[case].analysis.image.layers
    expected = [
        sum(e.size for e in layer.entries if e.kind == "file")
        + (0 if made_by_buildkit(layer.created_by) else sum(len(e.link) for e in layer.entries if e.kind == "symlink"))
        for layer in layers
    ]
    assert _engine_layer_sizes(docker_client, tag) == expected
    if case == "base":
        # 7,797,760 = 7,792,915 file bytes + 4,845 bytes of symlink targets.
        assert expected == [7797760]


@pytest.mark.engine
def test_build_failure_keeps_the_log_tail(docker_client, alpine):
    with pytest.raises(BuildFailed) as caught:
        helpers.build("FROM alpine:3.20.3\nRUN echo boom-output && false\n", name="boom", client=docker_client,
                      tag="layerlab-test/boom:latest")
    assert caught.value.log_tail == ["boom-output"]
    assert caught.value.message.startswith("boom: step 2/2 `RUN echo boom-output && false` failed: ")


#: Three stages; BuildKit numbers each stage's steps by itself, the classic builder the whole Dockerfile's.
THREE_STAGES = (
    "ARG BASE=alpine:3.20.3\n"
    "FROM ${BASE} AS one\nRUN echo a > /a\n"
    "FROM ${BASE} AS Two\nRUN echo b > /b\n"
    "FROM ${BASE}\nCOPY --from=one /a /a\nCOPY --from=two /b /b\n"
)


@pytest.mark.engine
@pytest.mark.parametrize("builder", ["classic", "buildkit"])
def test_steps_are_numbered_in_the_whole_dockerfile_by_either_builder(docker_client, alpine, monkeypatch, builder):
    """Step ``k/n`` is the Dockerfile's k-th instruction of n, whichever builder built it and in whichever stage."""
    from helpers.ground.dockerfile import parse_dockerfile_text

    monkeypatch.setenv("LAYERLAB_DOCKER_BUILDER", builder)
    steps = []
    built = helpers.build(THREE_STAGES, name="stages", tag="layerlab-test/three-stages:latest", client=docker_client,
                          progress=lambda name, step: steps.append(step))
    assert built.analysis.image.built_by == {"classic": "docker", "buildkit": "docker+buildkit"}[builder]
    written = [f"{item['instruction']} {item['value']}" for item in parse_dockerfile_text(THREE_STAGES).instructions]
    assert {step.total for step in steps} == {len(written)} == {8}
    for step in steps:
        if not step.instruction.startswith(("FROM", "ARG")):  # FROM: BuildKit names the base it resolved
            assert step.instruction == written[step.number - 1]
    assert {step.number for step in steps} >= {3, 5, 7, 8}  # every RUN and COPY, once
    assert len({step.number for step in steps}) == len(steps)
