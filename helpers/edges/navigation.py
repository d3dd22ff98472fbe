"""The series' order, in one list, and the navigation made from it: the links atop and below each notebook,
the ``**Next:**`` links, the Contents notebook (with the glossary) and the table in ``notebooks/README.md``.

``python -m helpers.edges.navigation`` writes them all; ``python -m helpers.edges.navigation --check`` changes
nothing and exits 1, naming each file, when any is out of date (the tests run the check).  Only
markdown cells are touched: the outputs a notebook was committed with stay as they are.
"""

from __future__ import annotations

import argparse
import re
import sys
from dataclasses import dataclass
from pathlib import Path

__all__ = ["CONTENTS", "GLOSSARY", "SERIES", "Lesson", "apply", "problems"]

#: The marker that opens a navigation cell (the first and the last cell of every notebook).
MARKER = "<!--NAVIGATION-->"
#: The Contents notebook: it opens as a notebook in JupyterLab, where README.md opens as raw text.
CONTENTS = "contents.ipynb"
_TABLE_START, _TABLE_END = "<!--SERIES-->", "<!--/SERIES-->"
_NEXT = re.compile(r"\*\*Next:\*\*\s*(\[[^\]]*\]\(([^)]*)\))?")


@dataclass(frozen=True)
class Lesson:
    """One notebook of the series: its file, its short title, its full title and what a learner measures in it."""

    file: str
    short: str
    title: str
    measures: str

    @property
    def number(self) -> str:
        return self.file[:2]

    @property
    def link(self) -> str:
        return f"[{self.number} · {self.short}]({self.file})"


#: The series, in order: the only place its order is written down.
SERIES: tuple[Lesson, ...] = (
    Lesson("00-the-layer-lab.ipynb", "The layer lab", "The layer lab: where the bytes of an image live",
           "a stand-in build dependency, multi-RUN vs single-RUN, predicted and measured to the byte; what an "
           "image is made of"),
    Lesson("01-the-book-example.ipynb", "The book's example",
           "The book's example, resolved by Alpine's own apk",
           "the book's Dockerfile step by step on real Alpine releases, as apk resolves it against Alpine's signed "
           "indexes: what each RUN installs and removes, what `apk del py3-pip` does on 3.7, both shapes' layers "
           "predicted from apk's figures and the real wheels, what hadolint says"),
    Lesson("02-where-the-bytes-go.ipynb", "Where the bytes go", "Where the bytes go",
           "every layer on one scale, stored vs visible with the waste attributed, the biggest paths, inside the "
           "`python3-pip` layer"),
    Lesson("03-the-techniques-leaderboard.ipynb", "The techniques leaderboard", "The techniques leaderboard",
           "every common technique on the same Django image, one Dockerfile each in `dockerfiles/techniques/`: "
           "stored, visible and reclaimable bytes, layers, a leaderboard and a waterfall of what each step saved"),
    Lesson("04-your-own-image.ipynb", "Your own image", "Your own image",
           "any image or archive (by default, a small app's image with three everyday mistakes): its figures, its "
           "top reclaimable files with the layer that stores and the layer that hides each, hints, a CI budget, "
           "and a capstone: bring the app under budget, each attempt measured"),
    Lesson("05-multi-stage-and-squash.ipynb", "Multi-stage and squash",
           "Beyond one RUN, in the lab: multi-stage builds and squashing",
           "the lab's stand-in built three ways and squashed twice (docker-squash), predicted and measured to the "
           "byte, and what squashing costs when images share a base"),
    Lesson("06-alpine-or-debian.ipynb", "Alpine or Debian", "Alpine or Debian: the book's two techniques on real "
           "packages",
           "every Alpine base next to Debian's slim base; Docker's `apt` advice measured; a real C toolchain "
           "installed, used and purged, predicted from dpkg's own figures; where every byte goes"),
    Lesson("07-many-services.ipynb", "Many services", "Many services on one machine: shared bases, squashing and "
           "pulls",
           "ten services on Alpine and on Debian, layered and squashed, as they arrive one by one: what adding up "
           "their sizes says, what the engine stores, what pulls move, and what one more service costs"),
    Lesson("08-mounts-and-context.ipynb", "Mounts and the build context", "Build-only, done right: `RUN --mount` "
           "and the build context",
           "the book's shape with a bind mount (the wheels, then pip itself, in no layer); cache mounts against "
           "`rm -rf`; `COPY . .` with and without a `.dockerignore`; which builder built what"),
)

#: The words the series uses, each in one or two sentences (shown in the Contents notebook).
GLOSSARY: tuple[tuple[str, str], ...] = (
    ("layer", "A tar archive of the files one instruction added, changed or deleted. An image is its layers, "
              "applied in order, plus a JSON config; a layer is never changed once committed."),
    ("whiteout", "An empty entry named `.wh.NAME` in a later layer: it deletes `NAME` from the merged view. "
                 "The deleted file's bytes stay in the layer that stored them."),
    ("opaque directory", "A folder marked with a `.wh..wh..opq` entry: everything lower layers put in it is "
                         "hidden, and only this layer's contents show."),
    ("stored bytes", "The bytes of the files each layer holds, added up over all layers: what the image ships."),
    ("visible bytes", "The bytes of the files a container sees: the merged filesystem's regular files. The series "
                      "also calls them *final*."),
    ("reclaimable bytes", "Stored bytes no container can see, because a later layer replaced or deleted the file, "
                          "or made its folder opaque: *stored − visible*. A better Dockerfile never writes them."),
    ("efficiency", "*visible ÷ stored*: 1.0 when no byte is wasted."),
    ("dive's wasted bytes", "dive's own figure: the size of every copy of a path that shows up in two or more "
                            "layers, the first copy included (a deletion is a copy of size 0). It differs from "
                            "reclaimable bytes on purpose; the series reproduces it rule for rule to show both."),
)


def _nav(index: int) -> str:
    parts = []
    if index > 0:
        parts.append(f"< {SERIES[index - 1].link}")
    parts.append(f"[Contents]({CONTENTS})")
    if index + 1 < len(SERIES):
        parts.append(f"{SERIES[index + 1].link} >")
    return f"{MARKER}\n" + " | ".join(parts)


def _next_target(index: int) -> str:
    return SERIES[index + 1].file if index + 1 < len(SERIES) else CONTENTS


def _contents_cells() -> list[str]:
    rows = "\n".join(f"| {lesson.number} | [{lesson.title}]({lesson.file}) | {lesson.measures} |" for lesson in SERIES)
    glossary = "\n".join(f"- **{word}**: {meaning}" for word, meaning in GLOSSARY)
    return [
        f"{MARKER}\n[Start: {SERIES[0].number} · {SERIES[0].short}]({SERIES[0].file}) >",
        "# Why container images are big, and how to make them small, layer by layer\n\n"
        "Each notebook builds real images, measures every layer with `helpers`, and shows where every byte "
        "goes. Take them in order: each one uses what the one before it taught.\n\n"
        "| # | notebook | what you measure |\n|---|---|---|\n" + rows,
        "## Glossary\n\n" + glossary,
        "Which notebooks run where (offline, on Binder, with Docker or the embedded builder) is in "
        "[the notebooks' README](README.md); the project's README says how to run the tests. Running the "
        "series for a room: [the instructors' guide](INSTRUCTORS.md) has each notebook's time, measured, and "
        "how to prepare Binder or a JupyterHub.",
    ]


def _readme_table() -> str:
    rows = "\n".join(f"| {lesson.number} | [{lesson.title}]({lesson.file}) | {lesson.measures} |" for lesson in SERIES)
    return f"{_TABLE_START}\n| # | notebook | what you measure |\n|---|---|---|\n{rows}\n{_TABLE_END}"


def _updated_notebook(path: Path, index: int) -> tuple[object, list[str]]:
    """The notebook with its navigation made from :data:`SERIES`, and what was wrong with it."""
    import nbformat

    notebook = nbformat.read(path, as_version=4)
    wrong: list[str] = []
    cells = notebook.cells
    for position in (0, -1):
        if not cells or cells[position].cell_type != "markdown" or not cells[position].source.startswith(MARKER):
            cells.insert(0 if position == 0 else len(cells), nbformat.v4.new_markdown_cell(""))
            wrong.append(f"no navigation cell {'at the top' if position == 0 else 'at the bottom'}")
        if cells[position].source != _nav(index):
            if cells[position].source:
                wrong.append(f"the navigation {'at the top' if position == 0 else 'at the bottom'} is out of date")
            cells[position].source = _nav(index)
    target = _next_target(index)
    for cell in cells:
        if cell.cell_type != "markdown":
            continue
        for match in _NEXT.finditer(cell.source):
            if match.group(2) != target:
                wrong.append(f"its **Next:** leads to {match.group(2) or 'nothing'}, not to {target}")
    return notebook, wrong


def problems(folder: Path) -> dict[Path, list[str]]:
    """What is out of date in ``folder`` (``notebooks/``), file by file; empty when everything is."""
    import nbformat

    found: dict[Path, list[str]] = {}
    for index, lesson in enumerate(SERIES):
        path = folder / lesson.file
        if not path.exists():
            found[path] = ["missing: SERIES names it"]
            continue
        _, wrong = _updated_notebook(path, index)
        if wrong:
            found[path] = wrong
    listed = {lesson.file for lesson in SERIES} | {CONTENTS}
    for path in sorted(folder.glob("*.ipynb")):
        if path.name not in listed:
            found[path] = ["not in SERIES: add it, in its place"]
    contents = folder / CONTENTS
    if not contents.exists() or [c.source for c in nbformat.read(contents, as_version=4).cells] != _contents_cells():
        found[contents] = ["out of date"]
    readme = folder / "README.md"
    if _readme_table() not in readme.read_text(encoding="utf-8"):
        found[readme] = [f"its table between {_TABLE_START} and {_TABLE_END} is out of date"]
    return found


def apply(folder: Path) -> list[Path]:
    """Write the navigation into ``folder``: the notebooks' navigation cells, Contents, the README's table.

    A wrong ``**Next:**`` link is prose, and is reported (see :func:`problems`), not rewritten.
    """
    import nbformat

    written = []
    for index, lesson in enumerate(SERIES):
        path = folder / lesson.file
        before = path.read_text(encoding="utf-8")
        notebook, _ = _updated_notebook(path, index)
        after = nbformat.writes(notebook) + "\n"
        if after != before:
            path.write_text(after, encoding="utf-8")
            written.append(path)
    contents = nbformat.v4.new_notebook(cells=[nbformat.v4.new_markdown_cell(text) for text in _contents_cells()])
    contents.metadata = {"kernelspec": {"display_name": "Python 3", "language": "python", "name": "python3"},
                         "language_info": {"name": "python"}}
    for cell in contents.cells:
        cell.id = f"contents-{contents.cells.index(cell)}"
    path = folder / CONTENTS
    text = nbformat.writes(contents) + "\n"
    if not path.exists() or path.read_text(encoding="utf-8") != text:
        path.write_text(text, encoding="utf-8")
        written.append(path)
    readme = folder / "README.md"
    body = readme.read_text(encoding="utf-8")
    if _TABLE_START in body and _TABLE_END in body:
        start, end = body.index(_TABLE_START), body.index(_TABLE_END) + len(_TABLE_END)
        updated = body[:start] + _readme_table() + body[end:]
    else:
        updated = body
    if updated != body:
        readme.write_text(updated, encoding="utf-8")
        written.append(readme)
    return written


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m helpers.edges.navigation", description=__doc__.splitlines()[0])
    parser.add_argument("folder", nargs="?", default="notebooks", help="the notebooks' folder (default: notebooks)")
    parser.add_argument("--check", action="store_true", help="change nothing; exit 1 if anything is out of date")
    args = parser.parse_args(argv)
    folder = Path(args.folder)
    if not args.check:
        for path in apply(folder):
            print(f"wrote {path}")
    found = problems(folder)
    for path, wrong in found.items():
        for line in wrong:
            print(f"{path}: {line}", file=sys.stderr)
    return 1 if found else 0


if __name__ == "__main__":
    sys.exit(main())
