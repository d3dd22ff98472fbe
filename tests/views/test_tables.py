"""helpers.views.tables on real images: the engine-built fixtures, dive's archives, and a stand-in for the seed.

Every expected figure is a byte count worked out from a Dockerfile (see
building/test_engine_builds.py), from dive's archives (reading/test_dive_testdata.py), or from
the Alpine minirootfs tarball read here with ``tarfile``.

``STAND_IN_SEED`` (tests/layerlab_fixtures.py) stands in for the seed's multi-RUN image offline,
as the lab's 16 MiB file stands in for a build dependency: each RUN writes ``head -c`` files of
known size where ``apk add py3-pip``, ``pip3 install django`` and
``apk del py3-pip`` would put theirs, so every category of
:func:`helpers.views.tables.categorize` shows up in real layers built by the engine.
"""

from __future__ import annotations

import re
import tarfile

import pandas as pd
import pytest
from dive_figures import DOCKER_HIDDEN
from layerlab_fixtures import ALPINE_TARBALLS, BASE, BASE_APK_INSTALLED, SP, STAND_IN_SEED, STAND_IN_SEED_TAG

import helpers
from helpers.ground.errors import LayerLabError
from helpers.views.report import short_digests
from helpers.views.tables import (
    ATTRIBUTION_COLUMNS,
    BREAKDOWN_COLUMNS,
    CATEGORY_RULES,
    OTHER,
    TOP_PATHS_COLUMNS,
    attribution,
    categorize,
    layer_breakdown,
    top_paths,
)

MIB16 = 16777216
ARTIFACT = 85  # sha256sum's line for /opt/build-dep.bin (building/test_engine_builds.py)
MINIROOTFS = ALPINE_TARBALLS / "alpine-minirootfs-3.20.3-x86_64.tar.gz"

# The stand-in seed's hidden bytes, pair by pair: (layer, hidden_by, bytes).
#   0 -> 1: the base's lib/apk/db/installed, replaced by L1's;
#   1 -> 2: pip's bytecode, rewritten by L2;
#   1 -> 3: 2000 apk db + 4000 + 500 + 200 pip + 1100 bytecode + 2500 + 300 setuptools & packaging = 10600;
#   2 -> 3: L2's pip bytecode, deleted with pip.
STAND_IN_SEED_PAIRS = [(0, 1, BASE_APK_INSTALLED), (1, 2, 3000), (1, 3, 10600), (2, 3, 3100)]


@pytest.fixture(scope="module")
def stand_in_seed(docker_client, alpine):
    return helpers.build(STAND_IN_SEED, name="stand-in-seed", tag=STAND_IN_SEED_TAG, client=docker_client).analysis


@pytest.fixture(scope="module")
def dive_image(dive_testdata):
    return helpers.analyze(helpers.read_image(dive_testdata / "test-docker-image.tar"))


ENGINE = pytest.mark.engine


@pytest.fixture
def image(request):
    """Look an image up by name, building or reading only what the test needs."""

    def get(name: str):
        if name == "dive":
            return request.getfixturevalue("dive_image")
        if name == "stand-in-seed":
            return request.getfixturevalue("stand_in_seed")
        if name.startswith("lab-"):
            return request.getfixturevalue("lab")[name].analysis
        return request.getfixturevalue("built")[name].analysis

    return get


def _engine(*values):
    return pytest.param(*values, marks=ENGINE)


def _rows(frame: pd.DataFrame) -> list[tuple]:
    return [tuple(row) for row in frame.itertuples(index=False, name=None)]


# ---------------------------------------------------------------- categorize

CATEGORIES = [
    # (path, category)
    ("var/cache/apk/APKINDEX.ba9ac8d5.tar.gz", "apk index cache"),
    ("/var/cache/apk/APKINDEX.ba9ac8d5.tar.gz", "apk index cache"),
    ("var/cache/apkfoo/x", OTHER),
    ("lib/apk/db/installed", "apk database"),
    ("./lib/apk/db/scripts.tar", "apk database"),
    ("etc/apk/world", OTHER),
    ("var/lib/apt/lists/mirror.example_debian_dists_bookworm_main_binary-amd64_Packages.lz4", "apt package lists"),
    ("var/lib/apt/lists/partial/x", "apt package lists"),
    ("var/cache/apt/archives/gcc_12.deb", "apt cache"),
    ("var/cache/apt/pkgcache.bin", "apt cache"),
    ("var/lib/dpkg/status", "dpkg database"),
    ("var/lib/dpkg/info/gcc-12.list", "dpkg database"),
    ("var/lib/dpkgx/status", OTHER),
    ("var/log/dpkg.log", "logs"),
    ("var/log/apt/term.log", "logs"),
    ("usr/include/python3.11/Python.h", "python dev files"),
    ("usr/lib/python3.11/config-3.11-x86_64-linux-gnu/libpython3.11.a", "python dev files"),
    ("usr/lib/x86_64-linux-gnu/libpython3.11.a", "python dev files"),
    ("usr/lib/x86_64-linux-gnu/libpython3.11.so.1.0", "python"),
    ("usr/lib/gcc/x86_64-linux-gnu/12/cc1", "C compiler"),
    ("usr/libexec/gcc/x86_64-linux-gnu/12/lto-wrapper", "C compiler"),
    ("usr/bin/gcc", "C compiler"),
    ("usr/bin/x86_64-linux-gnu-gcc-12", "C compiler"),
    ("usr/bin/x86_64-linux-gnu-lto-dump-12", "C compiler"),
    ("usr/bin/cpp-12", "C compiler"),
    ("usr/lib/x86_64-linux-gnu/libasan.so.8.0.0", "C compiler"),
    ("usr/lib/x86_64-linux-gnu/libisl.so.23.2.0", "C compiler"),
    ("usr/bin/x86_64-linux-gnu-ld.gold", "binutils"),
    ("usr/bin/x86_64-linux-gnu-as", "binutils"),
    ("usr/bin/objdump", "binutils"),
    ("usr/bin/x86_64-linux-gnu-gp-display-html", "binutils"),
    ("usr/lib/x86_64-linux-gnu/libbfd-2.40-system.so", "binutils"),
    ("usr/lib/x86_64-linux-gnu/libctf.so.0.0.0", "binutils"),
    ("usr/lib/x86_64-linux-gnu/ldscripts/elf_x86_64.x", "binutils"),
    ("usr/lib/x86_64-linux-gnu/gprofng/libgp-collector.so", "binutils"),
    ("usr/lib/x86_64-linux-gnu/libbfdx.so", OTHER),
    ("usr/bin/asdf", OTHER),
    ("usr/include/stdio.h", "C headers & static libraries"),
    ("usr/lib/x86_64-linux-gnu/libc.a", "C headers & static libraries"),
    ("usr/lib/x86_64-linux-gnu/crt1.o", "C headers & static libraries"),
    ("usr/lib/x86_64-linux-gnu/libc.so.6", OTHER),
    ("usr/share/doc/gcc-12/copyright", "docs & man pages"),
    ("usr/share/man/man1/gcc.1.gz", "docs & man pages"),
    ("usr/share/info/gcc.info.gz", "docs & man pages"),
    ("usr/share/locale/de/LC_MESSAGES/gcc.mo", OTHER),
    (f"{SP[1:]}/pip/__pycache__/__init__.cpython-312.pyc", "bytecode"),
    ("usr/lib/python3.12/__pycache__/os.cpython-312.pyc", "bytecode"),
    (f"{SP[1:]}/django/__pycache__/__init__.cpython-312.pyc", "bytecode"),
    ("usr/lib/python3.12/__pycache__/README", "bytecode"),
    ("opt/app/old.pyc", "bytecode"),
    ("srv/.git/objects/pack/pack-1.pack", "version control"),
    (".git/HEAD", "version control"),
    ("srv/app/not.git/x", OTHER),
    (f"{SP[1:]}/pip/__init__.py", "pip"),
    (f"{SP[1:]}/pip/_vendor/rich/console.py", "pip"),
    (f"{SP[1:]}/pip-24.0.dist-info/RECORD", "pip"),
    ("usr/lib/python3.12/dist-packages/pip/__init__.py", "pip"),
    ("usr/bin/pip", "pip"),
    ("usr/bin/pip3", "pip"),
    ("usr/bin/pip3.12", "pip"),
    ("usr/local/bin/pip3", "pip"),
    (f"{SP[1:]}/pipx/main.py", "python"),
    (f"{SP[1:]}/pip_tools-7.4.1.dist-info/RECORD", "python"),
    (f"{SP[1:]}/setuptools/__init__.py", "setuptools & packaging"),
    (f"{SP[1:]}/setuptools-70.3.0.dist-info/RECORD", "setuptools & packaging"),
    (f"{SP[1:]}/pkg_resources/__init__.py", "setuptools & packaging"),
    (f"{SP[1:]}/_distutils_hack/__init__.py", "setuptools & packaging"),
    (f"{SP[1:]}/distutils-precedence.pth", "setuptools & packaging"),
    (f"{SP[1:]}/packaging/version.py", "setuptools & packaging"),
    (f"{SP[1:]}/packaging-24.0.dist-info/METADATA", "setuptools & packaging"),
    ("root/.cache/pip/http-v2/a/b/c/d/e/0123abcd.body", "pip's download cache"),
    ("root/.cache/pip/selfcheck/x.json", "pip's download cache"),
    ("root/.cache/other/x", OTHER),
    (f"{SP[1:]}/django/__init__.py", "django"),
    (f"{SP[1:]}/django/contrib/admin/static/admin/css/base.css", "django"),
    (f"{SP[1:]}/Django-3.2.25.dist-info/METADATA", "django"),
    (f"{SP[1:]}/django-5.0.6.dist-info/RECORD", "django"),
    ("usr/local/lib/python3.12/site-packages/django/db/models/base.py", "django"),
    ("usr/bin/django-admin", "django"),
    (f"{SP[1:]}/djangorestframework/x.py", "python"),
    (f"{SP[1:]}/django_filter-24.2.dist-info/METADATA", "python"),
    (f"{SP[1:]}/asgiref/sync.py", "django's dependencies"),
    (f"{SP[1:]}/sqlparse-0.5.3.dist-info/RECORD", "django's dependencies"),
    ("usr/lib/python3.12/os.py", "python"),
    ("usr/lib/python3.6/os.py", "python"),
    ("usr/local/lib/python3.12/os.py", "python"),
    ("usr/lib/libpython3.12.so.1.0", "python"),
    ("usr/bin/python3", "python"),
    ("usr/bin/python3.12", "python"),
    ("usr/lib/python2.7/os.py", OTHER),
    ("usr/bin/pydoc3", OTHER),
    ("opt/build-dep.bin", OTHER),
    ("bin/busybox", OTHER),
    ("", OTHER),
]


@pytest.mark.parametrize(("path", "category"), CATEGORIES)
def test_categorize(path, category):
    assert categorize(path) == category


def test_category_rules_are_ordered_data():
    names = list(dict.fromkeys(category for category, _ in CATEGORY_RULES))
    assert names == [
        "apk index cache", "apk database", "apt package lists", "apt cache", "dpkg database", "logs",
        "python dev files", "C compiler", "binutils", "C headers & static libraries", "docs & man pages",
        "bytecode", "pip", "setuptools & packaging", "pip's download cache", "django", "django's dependencies",
        "python", "version control",
    ]
    for _, pattern in CATEGORY_RULES:
        re.compile(pattern)
    # The docstring documents every category, in the same order.
    doc = categorize.__doc__
    positions = [doc.index(f"``{name}``") for name in [*names, OTHER]]
    assert positions == sorted(positions)
    # The table above exercises every category.
    assert {category for _, category in CATEGORIES} == {*names, OTHER}


# ---------------------------------------------------------------- top_paths

TOP_PATHS = [
    # (image, layer, depth, top, [(path, bytes, visible_bytes, hidden_bytes, files)])
    _engine("lab-multi-run", 1, None, 15, [("opt/build-dep.bin", MIB16, 0, MIB16, 1)]),
    _engine("lab-multi-run", 1, 1, 15, [("opt/", MIB16, 0, MIB16, 1)]),
    _engine("lab-multi-run", 2, None, 15, [("artifact.sha256", ARTIFACT, ARTIFACT, 0, 1)]),
    _engine("lab-multi-run", 3, None, 15, []),  # a whiteout and a directory: no file bytes
    _engine("lab-single-run", 1, None, 15, [("artifact.sha256", ARTIFACT, ARTIFACT, 0, 1)]),
    _engine("shadowed", 1, None, 15, [("f", 1000, 0, 1000, 1)]),
    _engine("shadowed", 2, None, 15, [("f", 300, 300, 0, 1)]),
    _engine("opaque", 1, None, 15, [("d/b", 700, 0, 700, 1), ("d/a", 500, 0, 500, 1)]),
    _engine("opaque", 1, 1, 15, [("d/", 1200, 0, 1200, 2)]),
    _engine("opaque", 2, 1, 15, [("d/", 100, 100, 0, 1)]),
    # h2 is a hard link: it holds no bytes and is not listed; it keeps h1's 4096 bytes visible.
    _engine("hardlinks", 1, None, 15, [("h1", 4096, 4096, 0, 1)]),
    _engine("hardlinks", 2, None, 15, []),
    _engine("symlinks", 1, None, 15, [("s", 2000, 2000, 0, 1)]),
    _engine("tree-whiteout", 1, None, 15, [("t/3", 300, 0, 300, 1), ("t/x/2", 200, 0, 200, 1),
                                           ("t/x/y/1", 100, 0, 100, 1)]),
    _engine("tree-whiteout", 1, None, 2, [("t/3", 300, 0, 300, 1), ("t/x/2", 200, 0, 200, 1)]),
    _engine("tree-whiteout", 1, 1, 15, [("t/", 600, 0, 600, 3)]),
    # a tie at 300 bytes: path breaks it; t/3 is a file one level down, so it keeps its own path.
    _engine("tree-whiteout", 1, 2, 15, [("t/3", 300, 0, 300, 1), ("t/x/", 300, 0, 300, 2)]),
    _engine("tree-whiteout", 1, 3, 15, [("t/3", 300, 0, 300, 1), ("t/x/2", 200, 0, 200, 1),
                                        ("t/x/y/", 100, 0, 100, 1)]),
    _engine("tree-whiteout", 1, 9, 15, [("t/3", 300, 0, 300, 1), ("t/x/2", 200, 0, 200, 1),
                                        ("t/x/y/1", 100, 0, 100, 1)]),
    _engine("stand-in-seed", 3, None, 15, [("lib/apk/db/installed", 1800, 1800, 0, 1)]),
    # 3100 (pip's bytecode, deleted by L3) + 6000 + 2000 + 400 under site-packages; the cache 4 levels down.
    _engine("stand-in-seed", 2, 4, 3, [
        ("usr/lib/python3.12/site-packages/", 11500, 8400, 3100, 4),
        ("root/.cache/pip/http-v2/", 9000, 9000, 0, 1),
        ("usr/bin/django-admin", 100, 100, 0, 1),
    ]),
    _engine("stand-in-seed", 2, 4, 1, [("usr/lib/python3.12/site-packages/", 11500, 8400, 3100, 4)]),
    # dive's busybox base: 6 regular files, 1154361 bytes; its 392 hard links add nothing.
    ("dive", 0, None, 3, [("bin/[", 1075464, 1075464, 0, 1), ("bin/getconf", 77880, 77880, 0, 1),
                          ("etc/passwd", 340, 340, 0, 1)]),
    ("dive", 0, 1, 15, [("bin/", 1153344, 1153344, 0, 2), ("etc/", 1017, 1017, 0, 4)]),
    ("dive", 2, None, 15, []),
    ("dive", 4, None, 15, [("root/example/somefile1.txt", 6405, 0, 6405, 1)]),
    ("dive", 10, 2, 15, [("root/.data/", 2187, 2187, 0, 2)]),
    ("dive", 13, None, 15, [("root/saved.txt", 6405, 6405, 0, 1)]),
]


@pytest.mark.parametrize(("name", "layer", "depth", "top", "expected"), TOP_PATHS)
def test_top_paths(image, name, layer, depth, top, expected):
    table = top_paths(image(name), layer, top=top, depth=depth)
    assert list(table.columns) == TOP_PATHS_COLUMNS
    assert _rows(table) == expected
    assert list(table.index) == list(range(len(expected)))
    assert {str(t) for t in table.dtypes[1:]} == {"int64"}


@pytest.mark.engine
def test_top_paths_of_the_base_layer_match_the_minirootfs(lab):
    """The base layer's top-level directories, against the tarball that ADD unpacked (read with tarfile)."""
    if not MINIROOTFS.is_file():
        pytest.skip(f"the Alpine minirootfs is missing: expected it at {MINIROOTFS}")
    expected: dict[str, list[int]] = {}
    with tarfile.open(MINIROOTFS) as tar:
        for member in tar:
            if member.isreg():
                parts = member.name.removeprefix("./").split("/")
                key = parts[0] + "/" if len(parts) > 1 else parts[0]
                expected.setdefault(key, [0, 0])
                expected[key][0] += member.size
                expected[key][1] += 1
    rows = sorted(((k, b, b, 0, n) for k, (b, n) in expected.items()), key=lambda r: (-r[1], r[0]))
    table = top_paths(lab["lab-multi-run"].analysis, 0, top=100, depth=1)
    assert _rows(table) == rows
    assert table["bytes"].sum() == BASE
    # lib/ is the biggest: 10 files, 6,236,544 bytes.
    assert rows[0] == ("lib/", 6236544, 6236544, 0, 10)


def _all_images():
    return [_engine(name) for name in (
        "lab-multi-run", "lab-single-run", "shadowed", "opaque", "hardlinks", "symlinks", "tree-whiteout",
        "stand-in-seed",
    )] + ["dive"]


@pytest.mark.parametrize("name", _all_images())
@pytest.mark.parametrize("depth", [None, 1, 3])
def test_top_paths_account_for_every_byte_of_every_layer(image, name, depth):
    analysis = image(name)
    for layer, row in analysis.layers.iterrows():
        table = top_paths(analysis, layer, top=10**9, depth=depth)
        assert table["bytes"].sum() == row.stored_bytes, layer
        assert table["visible_bytes"].sum() == row.visible_bytes, layer
        assert table["hidden_bytes"].sum() == row.reclaimable_bytes, layer
        assert (table["bytes"] == table["visible_bytes"] + table["hidden_bytes"]).all()


@pytest.mark.parametrize(
    ("layer", "depth", "message"),
    [
        (14, None, "the image has no layer 14: its layers are numbered 0–13"),
        (-1, None, "the image has no layer -1"),
        (0, 0, "depth must be a whole number of path components, 1 or more, not 0"),
        (0, 1.5, "not 1.5"),
    ],
)
def test_top_paths_bad_input(dive_image, layer, depth, message):
    with pytest.raises(LayerLabError, match=re.escape(message)):
        top_paths(dive_image, layer, depth=depth)


def test_top_zero_is_empty(dive_image):
    assert top_paths(dive_image, 0, top=0).empty


# ---------------------------------------------------------------- layer_breakdown

BREAKDOWNS = [
    # (image, layer, [(category, bytes, still_visible, hidden_later, hidden_by, files)])
    _engine("lab-multi-run", 1, [("other", MIB16, 0, MIB16, "3", 1)]),
    _engine("lab-multi-run", 2, [("other", ARTIFACT, ARTIFACT, 0, "", 1)]),
    _engine("lab-multi-run", 3, []),
    _engine("lab-single-run", 1, [("other", ARTIFACT, ARTIFACT, 0, "", 1)]),
    _engine("shadowed", 1, [("other", 1000, 0, 1000, "2", 1)]),
    _engine("opaque", 1, [("other", 1200, 0, 1200, "2", 2)]),
    _engine("hardlinks", 1, [("other", 4096, 4096, 0, "", 1)]),
    _engine("tree-whiteout", 1, [("other", 600, 0, 600, "2", 3)]),
    _engine("stand-in-seed", 1, [
        ("pip", 4700, 0, 4700, "3", 3),
        ("bytecode", 4100, 0, 4100, "2, 3", 2),  # pip's rewritten by L2, setuptools' deleted by L3
        ("setuptools & packaging", 2800, 0, 2800, "3", 2),
        ("apk database", 2000, 0, 2000, "3", 1),
        ("apk index cache", 1500, 1500, 0, "", 1),
    ]),
    _engine("stand-in-seed", 2, [
        ("pip's download cache", 9000, 9000, 0, "", 1),
        ("django", 6500, 6500, 0, "", 3),
        ("bytecode", 5100, 2000, 3100, "3", 2),
    ]),
    _engine("stand-in-seed", 3, [("apk database", 1800, 1800, 0, "", 1)]),
    ("dive", 4, [("other", 6405, 0, 6405, "9", 1)]),
    ("dive", 13, [("other", 6405, 6405, 0, "", 1)]),
]


@pytest.mark.parametrize(("name", "layer", "expected"), BREAKDOWNS)
def test_layer_breakdown(image, name, layer, expected):
    table = layer_breakdown(image(name), layer)
    assert list(table.columns) == BREAKDOWN_COLUMNS
    assert _rows(table) == expected


def _minirootfs_apk_database() -> tuple[int, int, int, int]:
    """Bytes and files under lib/apk/ in the minirootfs, the size of lib/apk/db/installed, and all its files."""
    if not MINIROOTFS.is_file():
        pytest.skip(f"the Alpine minirootfs is missing: expected it at {MINIROOTFS}")
    with tarfile.open(MINIROOTFS) as tar:
        files = [m for m in tar if m.isreg()]
    apk = [m for m in files if m.name.removeprefix("./").startswith("lib/apk/")]
    installed = next(m.size for m in apk if m.name.removeprefix("./") == "lib/apk/db/installed")
    return sum(m.size for m in apk), len(apk), installed, len(files)


@pytest.mark.engine
@pytest.mark.parametrize("name", ["lab-multi-run", "stand-in-seed"])
def test_layer_breakdown_of_the_base(image, name):
    """The base's apk database, against the tarball; in the stand-in seed, L1's apk run hides its `installed`."""
    apk_bytes, apk_files, installed, files = _minirootfs_apk_database()
    # installed 14206 + scripts.tar 10240 + triggers 76 + lock 0; 87 regular files in all.
    assert (apk_bytes, apk_files, installed, files) == (24522, 4, BASE_APK_INSTALLED, 87)
    hidden, hidden_by = (installed, "1") if name == "stand-in-seed" else (0, "")
    assert _rows(layer_breakdown(image(name), 0)) == [
        ("other", BASE - apk_bytes, BASE - apk_bytes, 0, "", files - apk_files),
        ("apk database", apk_bytes, apk_bytes - hidden, hidden, hidden_by, apk_files),
    ]


def test_layer_breakdown_takes_any_categorize(dive_image):
    def first_component(path: str) -> str:
        return path.split("/")[0]

    assert _rows(layer_breakdown(dive_image, 0, categorize=first_component)) == [
        ("bin", 1153344, 1153344, 0, "", 2),
        ("etc", 1017, 1017, 0, "", 4),
    ]
    assert _rows(layer_breakdown(dive_image, 7, categorize=first_component)) == [("root", 6405, 0, 6405, "13", 1)]


@pytest.mark.parametrize("name", _all_images())
def test_layer_breakdown_accounts_for_every_byte_of_every_layer(image, name):
    analysis = image(name)
    for layer, row in analysis.layers.iterrows():
        table = layer_breakdown(analysis, layer)
        assert table["bytes"].sum() == row.stored_bytes, layer
        assert table["still_visible"].sum() == row.visible_bytes, layer
        assert table["hidden_later"].sum() == row.reclaimable_bytes, layer
        assert ((table["hidden_by"] == "") == (table["hidden_later"] == 0)).all()


def test_layer_breakdown_bad_layer(dive_image):
    with pytest.raises(LayerLabError, match="no layer 99"):
        layer_breakdown(dive_image, 99)


# ---------------------------------------------------------------- attribution

RM = "RUN rm /opt/build-dep.bin"
HEAD16 = "RUN head -c 16777216 /dev/urandom > /opt/build-dep.bin"

ATTRIBUTIONS = [
    # (image, [(layer, hidden_by, how, files, bytes)])
    _engine("lab-multi-run", [(1, 3, "deleted", 1, MIB16)]),
    _engine("lab-single-run", []),
    _engine("shadowed", [(1, 2, "shadowed", 1, 1000)]),
    _engine("opaque", [(1, 2, "opaque", 2, 1200)]),
    _engine("hardlinks", []),  # deleting one name of a hard-linked file hides nothing
    _engine("symlinks", []),
    _engine("tree-whiteout", [(1, 2, "deleted", 3, 600)]),
    _engine("stand-in-seed", [
        (0, 1, "shadowed", 1, BASE_APK_INSTALLED),
        (1, 3, "deleted, shadowed", 7, 10600),
        (2, 3, "deleted", 1, 3100),
        (1, 2, "shadowed", 1, 3000),
    ]),
    # dive: five files of 6405 bytes, each its own pair; ties sort by layer.
    ("dive", sorted([(layer, by, how, 1, size) for layer, by, how, _, size in DOCKER_HIDDEN])),
]


@pytest.mark.parametrize(("name", "expected"), ATTRIBUTIONS)
def test_attribution(image, name, expected):
    analysis = image(name)
    table = attribution(analysis)
    assert list(table.columns) == ATTRIBUTION_COLUMNS
    assert _rows(table[["layer", "hidden_by", "how", "files", "bytes"]]) == expected
    assert table["bytes"].sum() == analysis.reclaimable_bytes
    instructions = analysis.layers["instruction"].map(short_digests)  # as a table shows them: digests cut to 8
    assert list(table["instruction"]) == [instructions[n] for n in table["layer"]]
    assert list(table["hidden_by_instruction"]) == [instructions[n] for n in table["hidden_by"]]
    assert not table["instruction"].str.contains(r"[0-9a-f]{64}").any()


@pytest.mark.engine
def test_attribution_names_both_instructions(lab):
    assert attribution(lab["lab-multi-run"].analysis).to_dict("records") == [{
        "layer": 1, "instruction": HEAD16, "hidden_by": 3, "hidden_by_instruction": RM, "how": "deleted",
        "files": 1, "bytes": MIB16,
    }]


def test_attribution_of_dive_names_its_instructions(dive_image):
    first = attribution(dive_image).iloc[0]
    assert (first.instruction, first.hidden_by_instruction) == (
        "RUN cp /somefile.txt /root/example/somefile1.txt", "RUN chmod 444 /root/example/somefile1.txt",
    )


@pytest.mark.engine
def test_attribution_matches_the_reclaimable_matrix(lab, built, stand_in_seed):
    for analysis in [lab["lab-multi-run"].analysis, built["opaque"].analysis, stand_in_seed]:
        table = attribution(analysis)
        matrix = {(layer, by): int(n) for by, column in analysis.reclaimable_matrix.items()
                  for layer, n in column.items() if n}
        assert dict(zip(zip(table["layer"], table["hidden_by"], strict=True), table["bytes"], strict=True)) == matrix


# ---------------------------------------------------------------- reclaimable paths and hints
@pytest.mark.parametrize(("path", "how", "expected"), [
    ("var/cache/apk/APKINDEX.a.tar.gz", "deleted", "apk add --no-cache"),
    ("root/.cache/pip/http-v2/a/body", "deleted", "--no-cache-dir"),
    (f"{SP[1:]}/pip/__pycache__/__init__.cpython-312.pyc", "shadowed", "PYTHONDONTWRITEBYTECODE"),
    (f"{SP[1:]}/pip/__init__.py", "deleted", "in one RUN"),
    ("d/a", "opaque", "fill the directory in one step"),
    ("root/saved.txt", "shadowed", "chmod"),
])
def test_hint_names_the_fix(path, how, expected):
    from helpers.views.tables import hint

    assert expected in hint(path, how)


@pytest.mark.parametrize(("instruction", "layer", "expected"), [
    ("COPY dir:cbffb600… in /srv/", 2, ".dockerignore"),  # the classic builder's spelling
    ("COPY . /srv/", 1, ".dockerignore"),
    ("ADD data.tar /data/", 3, ".dockerignore"),
    ("COPY --from=build /out /out", 2, "in one RUN"),  # from a stage, not the context
    ("ADD file:2373b71a… in /", 0, "in one RUN"),  # the base's own files
    ("RUN make", 1, "in one RUN"),
])
def test_a_file_copied_in_from_the_context_is_told_to_stay_out_of_it(instruction, layer, expected):
    from helpers.views.tables import hint

    assert expected in hint("srv/tests/fixtures/recording.bin", "deleted", instruction, layer)
    assert "apk add --no-cache" in hint("var/cache/apk/APKINDEX.a.tar.gz", "deleted", instruction, layer)


def test_reclaimable_paths_of_dive_s_image(dive_image):
    from helpers.views.tables import RECLAIMABLE_COLUMNS, reclaimable_paths

    table = reclaimable_paths(dive_image)
    assert list(table.columns) == RECLAIMABLE_COLUMNS
    assert table.bytes.sum() == dive_image.reclaimable_bytes == 32025
    rows = table[["path", "layer", "hidden_by", "how"]].values.tolist()
    assert rows == sorted([[p, layer, by, how] for layer, by, how, p, _ in DOCKER_HIDDEN])
    assert table.loc[table.how == "shadowed", "hint"].str.contains("chmod").all()
    assert len(reclaimable_paths(dive_image, top=2)) == 2
