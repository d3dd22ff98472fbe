"""Where a layer's bytes are, and who hid them: tables that read an :class:`~helpers.measuring.analysis.Analysis`.

Everything here counts what :mod:`helpers.measuring.metrics` counts: *uncompressed
regular-file bytes*, the ``size`` of tar entries of kind ``file``.
Directories, symlinks, whiteouts and hard links add no bytes (a hard link
points at bytes some regular file already stores).  A file's bytes are
*hidden* when the final image cannot see them, because a later layer deleted
or replaced the file or made its directory opaque (:mod:`helpers.measuring.merge`);
they are *visible* otherwise, which includes a file that is deleted under one
name but still reachable through a hard link.

These are tables only; :mod:`helpers.views.plots` draws them.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping

import pandas as pd

from ..ground.apk_plan import ApkResolution
from ..ground.errors import BuildFailed, LayerLabError
from ..ground.sizes import format_bytes
from ..measuring.analysis import Analysis
from ..measuring.prediction import PredictedLayer
from .report import short_digests

#: Columns of :func:`top_paths`.
TOP_PATHS_COLUMNS = ["path", "bytes", "visible_bytes", "hidden_bytes", "files"]
#: Columns of :func:`layer_breakdown`.
BREAKDOWN_COLUMNS = ["category", "bytes", "still_visible", "hidden_later", "hidden_by", "files"]
#: Columns of :func:`directory_sizes`.
DIRECTORY_COLUMNS = ["path", "bytes", "files"]
#: Columns of :func:`installed_packages`.
PACKAGE_COLUMNS = ["layer", "manager", "package", "version", "installed_bytes"]
#: Columns of :func:`package_changes`.
CHANGE_COLUMNS = ["layer", "instruction", "change", "package", "version", "installed_bytes"]
#: Columns of :func:`attribution`.
ATTRIBUTION_COLUMNS = ["layer", "instruction", "hidden_by", "hidden_by_instruction", "how", "files", "bytes"]

_SITE = r"(?:^|/)(?:site|dist)-packages/"
_LOCAL = r"^usr/(?:local/)?"
_MULTIARCH = r"^usr/lib/[^/]*-linux-gnu/"
_TRIPLET = r"^usr/bin/(?:[\w-]+-linux-gnu-)?"

#: :func:`categorize`'s rules, in order: the first pattern that matches a path names its category.
#: Paths are matched as the analysis stores them: no leading ``/``.
CATEGORY_RULES: list[tuple[str, str]] = [
    ("apk index cache", r"^var/cache/apk/"),
    ("apk database", r"^lib/apk/"),
    ("apt package lists", r"^var/lib/apt/lists/"),
    ("apt cache", r"^var/cache/apt/"),
    ("dpkg database", r"^var/lib/dpkg/"),
    ("logs", r"^var/log/"),
    ("python dev files", r"^usr/include/python3"),
    ("python dev files", r"^usr/lib/python3[^/]*/config-"),
    ("python dev files", _MULTIARCH + r"libpython3[^/]*\.a$"),
    ("C compiler", r"^usr/(?:lib|libexec)/gcc/"),
    ("C compiler", _TRIPLET + r"(?:gcc|cpp|gcov|lto-dump|cc|c89|c99)(?:-[\w.]+)?$"),
    ("C compiler", _MULTIARCH + r"lib(?:asan|tsan|lsan|ubsan|hwasan|itm|quadmath|gomp|atomic|cc1|isl|mpc|mpfr)\.so"),
    ("binutils", _TRIPLET + r"(?:as|ld(?:\.\w+)?|dwp|ar|nm|objcopy|objdump|ranlib|readelf|strip|gprof|gp-[\w-]+"
                            r"|addr2line|size|strings|elfedit|c\+\+filt)$"),
    ("binutils", _MULTIARCH + r"(?:lib(?:bfd|opcodes|ctf|ctf-nobfd|gprofng|sframe)[-.]|gprofng/|ldscripts/)"),
    ("C headers & static libraries", r"^usr/include/"),
    ("C headers & static libraries", _MULTIARCH + r"[^/]+\.(?:a|o)$"),
    ("docs & man pages", r"^usr/share/(?:doc|man|info)/"),
    ("bytecode", r"(?:^|/)__pycache__/|\.pyc$"),
    ("pip", _SITE + r"pip(?:/|-[^/-]*\.dist-info/)"),
    ("pip", _LOCAL + r"bin/pip[^/]*$"),
    (
        "setuptools & packaging",
        _SITE + r"(?:setuptools|pkg_resources|_distutils_hack|packaging)(?:/|-[^/-]*\.dist-info/)",
    ),
    ("setuptools & packaging", _SITE + r"distutils-precedence\.pth$"),
    ("pip's download cache", r"^root/\.cache/pip/"),
    ("django", _SITE + r"(?:django/|[Dd]jango-[^/-]*\.dist-info/)"),
    ("django", _LOCAL + r"bin/django-admin[^/]*$"),
    ("django's dependencies", _SITE + r"(?:asgiref|sqlparse|tzdata|pytz)(?:/|-[^/-]*\.dist-info/)"),
    ("python", _LOCAL + r"lib/python3[^/]*/"),
    ("python", _LOCAL + r"lib/(?:[^/]*-linux-gnu/)?libpython3[^/]*$"),
    ("python", _LOCAL + r"bin/python[^/]*$"),
    ("version control", r"(?:^|/)\.git/"),
]
#: The category of a path that no rule matches.
OTHER = "other"

_COMPILED = [(category, re.compile(pattern)) for category, pattern in CATEGORY_RULES]


def _shown(instruction: object) -> object:
    """An instruction as a table shows it: every 64-hex digest cut to 8 (``ADD file:2373b71a… in /``)."""
    return short_digests(instruction) if isinstance(instruction, str) else instruction


def categorize(path: str) -> str:
    """A plain-language category for a file of an Alpine or Debian image with Python: the first rule that matches.

    The rules (:data:`CATEGORY_RULES`, tried in this order; a leading ``/`` or
    ``./`` is ignored; "site-packages" also means "dist-packages", ``usr/``
    also means ``usr/local/``, and ``MULTIARCH/`` is ``usr/lib/<triplet>/``,
    e.g. ``usr/lib/x86_64-linux-gnu/``):

    1. ``apk index cache``: under ``var/cache/apk/`` (the indexes ``apk add``
       downloads when run without ``--no-cache``);
    2. ``apk database``: under ``lib/apk/`` (apk's record of installed packages);
    3. ``apt package lists``: under ``var/lib/apt/lists/`` (what ``apt-get update``
       downloads);
    4. ``apt cache``: under ``var/cache/apt/`` (downloaded ``.deb`` files and apt's caches);
    5. ``dpkg database``: under ``var/lib/dpkg/`` (dpkg's record of installed packages and their files);
    6. ``logs``: under ``var/log/`` (dpkg's and apt's logs, among others);
    7. ``python dev files``: ``usr/include/python3*``, ``usr/lib/python3.*/config-*``,
       ``MULTIARCH/libpython3*.a`` (what ``python3-dev`` adds to build extensions);
    8. ``C compiler``: ``usr/lib/gcc/``, ``usr/libexec/gcc/``, ``usr/bin/[<triplet>-]gcc``,
       ``cpp``, ``gcov``, ``lto-dump`` (with a version suffix), and gcc's runtime and helper
       libraries in ``MULTIARCH/`` (``libasan``, ``libtsan``, ``libisl``, ``libmpc``…);
    9. ``binutils``: ``usr/bin/[<triplet>-]`` ``as``, ``ld``, ``ld.bfd``, ``ld.gold``, ``dwp``,
       ``ar``, ``nm``, ``objcopy``, ``objdump``, ``strip`` and the rest, ``libbfd``,
       ``libopcodes``, ``libctf``, ``libgprofng``, ``libsframe``, ``gprofng/`` and ``ldscripts/``
       in ``MULTIARCH/``;
    10. ``C headers & static libraries``: under ``usr/include/``, and ``MULTIARCH/*.a`` or ``*.o``;
    11. ``docs & man pages``: under ``usr/share/doc/``, ``usr/share/man/``, ``usr/share/info/``;
    12. ``bytecode``: anything in a ``__pycache__`` directory, or a ``.pyc`` file,
        whichever package it belongs to;
    13. ``pip``: ``site-packages/pip/``, ``site-packages/pip-*.dist-info/``, ``usr/bin/pip*``;
    14. ``setuptools & packaging``: ``site-packages/`` ``setuptools``,
        ``pkg_resources``, ``_distutils_hack`` and ``packaging``, with their
        ``*.dist-info/``, and ``distutils-precedence.pth``;
    15. ``pip's download cache``: under ``root/.cache/pip/``;
    16. ``django``: ``site-packages/django/``, ``site-packages/[Dd]jango-*.dist-info/``,
        ``usr/bin/django-admin*``;
    17. ``django's dependencies``: ``site-packages/`` ``asgiref``, ``sqlparse``,
        ``tzdata`` and ``pytz``, with their ``*.dist-info/``;
    18. ``python``: anything else under ``usr/lib/python3*/`` (the standard library
        and other installed packages), ``usr/lib/[MULTIARCH/]libpython3*``, ``usr/bin/python*``;
    19. ``version control``: anything in a ``.git`` directory (a build context's history,
        which ``COPY .`` brings in unless a ``.dockerignore`` leaves it out);
    20. ``other``: everything else.
    """
    path = path.removeprefix("./").lstrip("/")
    for category, pattern in _COMPILED:
        if pattern.search(path):
            return category
    return OTHER


def _check_layer(analysis: Analysis, layer: int) -> None:
    indexes = list(analysis.layers.index)
    if layer not in indexes:
        raise LayerLabError(
            f"the image has no layer {layer!r}: its layers are numbered {indexes[0]}–{indexes[-1]}"
            if indexes else f"the image has no layer {layer!r}: it has no layers",
            "pick a layer from analysis.layers.index (0 is the base)",
        )


def _regular_files(analysis: Analysis, layer: int) -> pd.DataFrame:
    """The layer's regular-file entries: path, size, and ``hidden`` (their bytes end up invisible)."""
    _check_layer(analysis, layer)
    files = analysis.files
    rows = files.loc[(files["layer"] == layer) & (files["kind"] == "file"), ["path", "size", "hidden_by"]]
    return rows.assign(hidden=rows["hidden_by"].notna())


def _split(rows: pd.DataFrame, key: pd.Series) -> pd.DataFrame:
    """Per key: bytes, visible bytes, hidden bytes, files."""
    hidden_size = rows["size"].where(rows["hidden"], 0)
    frame = pd.DataFrame({"key": key, "bytes": rows["size"], "hidden": hidden_size, "files": 1})
    grouped = frame.groupby("key", sort=False).sum()
    grouped["visible"] = grouped["bytes"] - grouped["hidden"]
    return grouped.astype("int64")


def top_paths(analysis: Analysis, layer: int, top: int = 15, depth: int | None = None) -> pd.DataFrame:
    """The biggest files of ``layer`` (``depth=None``), or its biggest directories (``depth=N``).

    Counts the layer's regular-file bytes (the tar entries of kind ``file``;
    directories, symlinks, whiteouts and hard links hold none, as in
    :mod:`helpers.measuring.metrics`, and are not listed).

    * ``depth=None``: one row per file path (a path the layer's tar lists twice
      sums both copies);
    * ``depth=N``: files are grouped by their first ``N`` path components, and a
      directory's row ends with ``/`` (``usr/lib/``); a file fewer than ``N``
      levels deep keeps its own path.

    Columns: ``path``; ``bytes``, the regular-file bytes the layer stores there;
    ``visible_bytes``, the part the final image still shows; ``hidden_bytes``, the
    part that ends up invisible (``bytes = visible_bytes + hidden_bytes``);
    ``files``, how many regular files.  The ``top`` biggest rows, sorted by
    ``bytes`` descending, then ``path``.  Paths are written as in
    :attr:`Analysis.files`, without a leading ``/``.
    """
    if depth is not None and (not isinstance(depth, int) or depth < 1):
        raise LayerLabError(f"depth must be a whole number of path components, 1 or more, not {depth!r}",
                            "use depth=None for files, depth=1 for top-level directories")
    rows = _regular_files(analysis, layer)
    if depth is None:
        key = rows["path"]
    else:
        key = rows["path"].map(
            lambda path: "/".join(parts[:depth]) + "/" if len(parts := path.split("/")) > depth else path
        )
    grouped = _split(rows, key)
    table = pd.DataFrame({
        "path": grouped.index.astype(str),
        "bytes": grouped["bytes"].to_numpy(),
        "visible_bytes": grouped["visible"].to_numpy(),
        "hidden_bytes": grouped["hidden"].to_numpy(),
        "files": grouped["files"].to_numpy(),
    }, columns=TOP_PATHS_COLUMNS)
    table = table.astype({column: "int64" for column in TOP_PATHS_COLUMNS[1:]})
    table = table.sort_values(["bytes", "path"], ascending=[False, True], kind="mergesort")
    return table.head(top).reset_index(drop=True)


def directory_sizes(analysis: Analysis, depth: int = 2) -> pd.DataFrame:
    """What a container sees, by directory: the visible regular-file bytes under each of the first ``depth`` levels.

    Counts the files of the merged filesystem (``visible`` in
    :attr:`Analysis.files`; a hard-linked file counts once, through its
    regular-file entry), grouped by their first ``depth`` path components (a
    directory's row ends with ``/``; a file fewer than ``depth`` levels deep
    keeps its own path).  Columns: ``path``, ``bytes``, ``files``; sorted by
    ``bytes`` descending, then ``path``.
    """
    if not isinstance(depth, int) or depth < 1:
        raise LayerLabError(f"depth must be a whole number of path components, 1 or more, not {depth!r}",
                            "use depth=1 for top-level directories")
    files = analysis.files
    rows = files.loc[files["visible"] & (files["kind"] == "file"), ["path", "size"]]
    key = rows["path"].map(lambda path: "/".join(parts[:depth]) + "/" if len(parts := path.split("/")) > depth
                           else path)
    grouped = pd.DataFrame({"key": key, "bytes": rows["size"], "files": 1}).groupby("key", sort=False).sum()
    table = pd.DataFrame({"path": grouped.index.astype(str), "bytes": grouped["bytes"].to_numpy(),
                          "files": grouped["files"].to_numpy()}, columns=DIRECTORY_COLUMNS)
    table = table.astype({"bytes": "int64", "files": "int64"})
    return table.sort_values(["bytes", "path"], ascending=[False, True], kind="mergesort").reset_index(drop=True)


def installed_packages(analysis: Analysis, layer: int | None = None) -> pd.DataFrame:
    """The packages installed as of ``layer`` (default: the top layer), as the package manager recorded them.

    Read from the last layer at or below ``layer`` that stores a package
    database (see :mod:`helpers.reading.packages`): ``layer`` is that layer,
    ``installed_bytes`` the manager's own size for the package (dpkg's
    ``Installed-Size`` × 1024, apk's ``I:``).  Sorted by ``installed_bytes``
    descending, then package.  Empty when no layer stores a readable database.
    """
    top = len(analysis.image.layers) - 1 if layer is None else layer
    if layer is not None:
        _check_layer(analysis, layer)
    rows = []
    for candidate in reversed(analysis.image.layers[: top + 1]):
        db = candidate.packages
        if db is not None and db.packages is not None:
            rows = [[candidate.index, db.manager, p.name, p.version, p.installed_bytes] for p in db.packages]
            break
    table = pd.DataFrame(rows, columns=PACKAGE_COLUMNS).astype({"layer": "int64", "installed_bytes": "int64"})
    return table.sort_values(["installed_bytes", "package"], ascending=[False, True], kind="mergesort"
                             ).reset_index(drop=True)


def package_changes(analysis: Analysis) -> pd.DataFrame:
    """Which packages each layer installed, removed or changed, by the package manager's own records.

    A layer that stores a package database is compared with the database
    below it (the base's counts as installed from nothing): ``change`` is
    ``added``, ``removed`` or ``upgraded`` (another version); ``version`` and
    ``installed_bytes`` are the new ones (the old ones for ``removed``).  The
    sum of ``installed_bytes`` over a layer's ``added`` rows is the manager's
    own prediction of what that layer installs.  Sorted by layer, then change,
    then ``installed_bytes`` descending.
    """
    rows = []
    before: dict[str, tuple[str, int]] = {}
    for layer in analysis.image.layers:
        db = layer.packages
        if db is None or db.packages is None:
            continue
        now = {p.name: (p.version, p.installed_bytes) for p in db.packages}
        step = _shown(analysis.layers.at[layer.index, "instruction"])
        for name, (version, size) in now.items():
            if name not in before:
                rows.append([layer.index, step, "added", name, version, size])
            elif before[name][0] != version:
                rows.append([layer.index, step, "upgraded", name, version, size])
        for name, (version, size) in before.items():
            if name not in now:
                rows.append([layer.index, step, "removed", name, version, size])
        before = now
    table = pd.DataFrame(rows, columns=CHANGE_COLUMNS).astype({"layer": "int64", "installed_bytes": "int64"})
    table = table.sort_values(["layer", "change", "installed_bytes", "package"],
                              ascending=[True, True, False, True], kind="mergesort")
    return table.reset_index(drop=True)


def layer_breakdown(
    analysis: Analysis, layer: int, categorize: Callable[[str], str] = categorize
) -> pd.DataFrame:
    """What ``layer``'s bytes are, by category, and how much of each a later layer hid.

    Counts the layer's regular-file bytes (hard links, symlinks, directories
    and whiteouts count 0, as in :mod:`helpers.measuring.metrics`), grouping each file by
    ``categorize(path)`` (default :func:`categorize`).

    Columns: ``category``; ``bytes``, what the layer stores in that category;
    ``still_visible``, the part the final image shows; ``hidden_later``, the part
    that ends up invisible (``bytes = still_visible + hidden_later``), hidden by a
    later layer, or, in the rare tar that lists one path twice, by the layer's
    own second copy; ``hidden_by``, the layers that hid those bytes, ascending,
    as text (``"3"``, ``"3, 5"``, or ``""`` when nothing was hidden); ``files``,
    how many regular files.  One row per category the layer has files in,
    sorted by ``bytes`` descending, then category.
    """
    rows = _regular_files(analysis, layer)
    categories = {path: categorize(path) for path in rows["path"].unique()}
    key = rows["path"].map(categories)
    grouped = _split(rows, key)
    hiders = rows.loc[rows["hidden"]].groupby(key[rows["hidden"]])["hidden_by"].agg(
        lambda layers: ", ".join(str(n) for n in sorted(set(layers)))
    )
    table = pd.DataFrame({
        "category": grouped.index.astype(str),
        "bytes": grouped["bytes"].to_numpy(),
        "still_visible": grouped["visible"].to_numpy(),
        "hidden_later": grouped["hidden"].to_numpy(),
        "hidden_by": [hiders.get(category, "") for category in grouped.index],
        "files": grouped["files"].to_numpy(),
    }, columns=BREAKDOWN_COLUMNS)
    table = table.astype({"bytes": "int64", "still_visible": "int64", "hidden_later": "int64", "files": "int64",
                          "hidden_by": str})
    table = table.sort_values(["bytes", "category"], ascending=[False, True], kind="mergesort")
    return table.reset_index(drop=True)


def attribution(analysis: Analysis) -> pd.DataFrame:
    """Which layer holds the reclaimable bytes, and which layer hid them.

    One row per (layer storing, layer hiding) pair, from :attr:`Analysis.hidden`:
    ``bytes`` is the regular-file bytes stored in ``layer`` that ``hidden_by``
    made invisible (a hard-linked file counts once, and only once its last name
    is gone, as in :mod:`helpers.measuring.metrics`); ``files`` how many files; ``how``
    the ways they were hidden (``deleted``, ``opaque``, ``shadowed``, joined with
    ``", "``); ``instruction`` and ``hidden_by_instruction`` the two layers'
    instructions.  The ``bytes`` column sums to
    :attr:`Analysis.reclaimable_bytes`.  Sorted by ``bytes`` descending, then
    ``layer``, then ``hidden_by``; empty when nothing is reclaimable.
    """
    hidden = analysis.hidden
    instructions = analysis.layers["instruction"].map(_shown)
    grouped = hidden.groupby(["layer", "hidden_by"]).agg(
        files=("size", "size"),
        bytes=("size", "sum"),
        how=("how", lambda hows: ", ".join(sorted(set(hows)))),
    ).reset_index()
    table = pd.DataFrame({
        "layer": grouped["layer"],
        "instruction": grouped["layer"].map(instructions),
        "hidden_by": grouped["hidden_by"],
        "hidden_by_instruction": grouped["hidden_by"].map(instructions),
        "how": grouped["how"],
        "files": grouped["files"],
        "bytes": grouped["bytes"],
    }, columns=ATTRIBUTION_COLUMNS)
    table = table.astype({"layer": "int64", "hidden_by": "int64", "files": "int64", "bytes": "int64",
                          "instruction": object, "hidden_by_instruction": object, "how": object})
    table = table.sort_values(["bytes", "layer", "hidden_by"], ascending=[False, True, True], kind="mergesort")
    return table.reset_index(drop=True)


#: Columns of :func:`reclaimable_paths`.
RECLAIMABLE_COLUMNS = ["path", "bytes", "layer", "instruction", "hidden_by", "hidden_by_instruction", "how", "hint"]

#: :func:`hint`'s rules, in order: by category first, then by how the bytes were hidden.
HINTS_BY_CATEGORY = {
    "apk index cache": "apk's package index cache: install with `apk add --no-cache`",
    "pip's download cache": "pip's download cache: install with `pip install --no-cache-dir`",
    "bytecode": "Python bytecode: remove __pycache__ in the step that writes it, or set PYTHONDONTWRITEBYTECODE=1",
    "version control": "the build context's .git: leave it out of the context with a .dockerignore",
}
#: Files a layer above the base copied in from the build context (``COPY``/``ADD`` without ``--from``).
HINT_FROM_CONTEXT = ("copied in from the build context and removed or replaced later: leave it out of the context "
                     "with a .dockerignore, or COPY only what the image needs")
_FROM_CONTEXT = re.compile(r"^(?:COPY|ADD)\b(?!.*--from)", re.IGNORECASE)
HINTS_BY_HOW = {
    "deleted": "removed in a later step: install, use and remove it in one RUN, or build it in another stage",
    "opaque": "its directory was deleted and re-created later: fill the directory in one step",
    "shadowed": "overwritten later (a chmod, chown or edit stores the whole file again): "
                "do it in the step that creates the file",
}


def hint(path: str, how: str, instruction: str | None = None, layer: int | None = None) -> str:
    """A plain-language hint for one reclaimable file, by the first rule that applies.

    1. its category's (:data:`HINTS_BY_CATEGORY`), if it has one;
    2. :data:`HINT_FROM_CONTEXT` when the ``instruction`` that first brought the path into the
       image, in a ``layer`` above the base (``layer > 0``), is a ``COPY`` or ``ADD`` from the
       build context (:func:`reclaimable_paths` passes that layer, for every copy of the path);
    3. how it was hidden (:data:`HINTS_BY_HOW`).
    """
    category = HINTS_BY_CATEGORY.get(categorize(path))
    if category is not None:
        return category
    if layer is not None and layer > 0 and instruction is not None and _FROM_CONTEXT.match(instruction):
        return HINT_FROM_CONTEXT
    return HINTS_BY_HOW.get(how, "")


def reclaimable_paths(analysis: Analysis, top: int = 15) -> pd.DataFrame:
    """The biggest reclaimable files: where each is stored, which layer hid it, how, and a hint.

    One row per file of :attr:`Analysis.hidden` (regular-file bytes stored but
    invisible in the final image), sorted by ``bytes`` descending, then path;
    at most ``top`` rows.
    """
    instructions = analysis.layers["instruction"].map(_shown)
    hidden = analysis.hidden.sort_values(["size", "path"], ascending=[False, True], kind="mergesort").head(top)
    files = analysis.files
    first = files[files["path"].isin(hidden["path"])].groupby("path")["layer"].min().astype(int)  # what brought it in
    table = pd.DataFrame({
        "path": hidden["path"],
        "bytes": hidden["size"],
        "layer": hidden["layer"],
        "instruction": hidden["layer"].map(instructions),
        "hidden_by": hidden["hidden_by"],
        "hidden_by_instruction": hidden["hidden_by"].map(instructions),
        "how": hidden["how"],
        "hint": [hint(path, how, instructions.get(layer), layer) for path, how, layer
                 in zip(hidden["path"], hidden["how"], hidden["path"].map(first), strict=True)],
    }, columns=RECLAIMABLE_COLUMNS)
    return table.reset_index(drop=True)


def unshared_bytes(analysis: Analysis, base: Analysis) -> int:
    """``Σ stored_bytes`` of the layers of ``analysis`` whose digest is not a layer of ``base``.

    What a machine that already holds ``base`` must still fetch and keep for this
    image, counted in uncompressed regular-file bytes like every other figure
    (registries move compressed blobs, so the real download is smaller).
    """
    shared = {layer.digest for layer in base.image.layers}
    table = analysis.layers
    return int(sum(table.at[layer.index, "stored_bytes"] for layer in analysis.image.layers
                   if layer.digest not in shared))


#: Columns of :func:`helpers.orchestration.builds.attempt_builds`' table.
ATTEMPT_COLUMNS = ["variant", "outcome", "failed_step", "instruction", "reason", "last_log_line",
                   "stored_bytes", "reclaimable_bytes"]


def attempts_table(outcomes: Mapping[str, Analysis | BuildFailed]) -> pd.DataFrame:
    """One row per variant: ``built`` with its stored and reclaimable bytes, or ``failed`` with where and why."""
    rows = []
    for name, outcome in outcomes.items():
        if isinstance(outcome, BuildFailed):
            last = outcome.log_tail[-1] if outcome.log_tail else ""
            rows.append([name, "failed", outcome.step, outcome.instruction, outcome.reason, last, None, None])
        else:
            rows.append([name, "built", None, None, None, None, outcome.stored_bytes, outcome.reclaimable_bytes])
    return pd.DataFrame(rows, columns=ATTEMPT_COLUMNS).astype(
        {"failed_step": "Int64", "stored_bytes": "Int64", "reclaimable_bytes": "Int64"}
    )


# ---------------------------------------------------------------- what apk said, and what it predicts


def apk_steps(resolutions: Mapping[str, ApkResolution]) -> pd.DataFrame:
    """One row per ``apk`` step per base: what apk installs and purges, with the index's ``S:`` and ``I:`` sums.

    ``to download`` is Σ ``S:`` (the package files), ``installed`` is Σ ``I:``
    (what the layer gains); ``apk says`` is apk's own words, where it printed
    more than the plan (an error, or why it removes nothing).
    """
    rows = []
    for name, resolution in resolutions.items():
        for step in resolution.steps:
            rows.append({
                "base": name, "step": step.command, "outcome": "resolved" if step.ok else "refused",
                "installs": len(step.installed), "to download": format_bytes(step.download_bytes),
                "installed": format_bytes(step.installed_bytes), "purges": len(step.purged),
                "apk says": " ".join(" ".join(step.messages).split()),
            })
    return pd.DataFrame(rows).set_index(["base", "step"])


def apk_packages(resolution: ApkResolution, command: str) -> pd.DataFrame:
    """The packages one step installs, as the index lists them: version, ``S:`` (download) and ``I:`` (installed)."""
    step = resolution.step(command)
    rows = [{"package": p.name, "version": p.version, "to download": format_bytes(p.download_bytes),
             "installed": format_bytes(p.installed_bytes), "installed_bytes": p.installed_bytes}
            for p in step.installed]
    total = {"package": f"all {len(rows)}", "version": "", "to download": format_bytes(step.download_bytes),
             "installed": format_bytes(step.installed_bytes), "installed_bytes": step.installed_bytes}
    return pd.DataFrame([*rows, total]).set_index("package")


def prediction_table(predictions: Mapping[str, list[PredictedLayer]]) -> pd.DataFrame:
    """The predicted layers of each shape: instruction, bytes stored and hidden, and what each figure comes from."""
    rows = []
    for shape, layers in predictions.items():
        for number, layer in enumerate(layers):
            rows.append({"shape": shape, "layer": f"L{number}", "instruction": layer.instruction,
                         "stores": format_bytes(layer.stored_bytes),
                         "hides": format_bytes(layer.hidden_bytes) if layer.hidden_bytes else "",
                         "from": layer.source})
        rows.append({"shape": shape, "layer": "all", "instruction": "", "hides": "", "from": "",
                     "stores": format_bytes(sum(layer.stored_bytes for layer in layers))})
    return pd.DataFrame(rows).set_index(["shape", "layer"])
