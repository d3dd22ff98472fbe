"""The series' navigation is made from one ordered list (``helpers.edges.navigation.SERIES``) and kept true."""

from __future__ import annotations

import shutil
from pathlib import Path

import nbformat

from helpers.edges import navigation

NOTEBOOKS = Path(__file__).resolve().parents[2] / "notebooks"


def test_the_committed_navigation_is_what_the_list_makes():
    assert navigation.problems(NOTEBOOKS) == {}, "run `python -m helpers.edges.navigation`"


def _copy(tmp_path: Path) -> Path:
    folder = tmp_path / "notebooks"
    folder.mkdir()
    for path in [*NOTEBOOKS.glob("*.ipynb"), NOTEBOOKS / "README.md"]:
        shutil.copy(path, folder / path.name)
    return folder


def test_a_next_link_to_the_wrong_notebook_is_found(tmp_path):
    folder = _copy(tmp_path)
    path = folder / navigation.SERIES[4].file
    notebook = nbformat.read(path, as_version=4)
    summary = next(cell for cell in notebook.cells if "**Next:**" in cell.source)
    summary.source = summary.source.replace(navigation.SERIES[5].file, navigation.SERIES[3].file)
    nbformat.write(notebook, path)
    assert navigation.problems(folder) == {path: [f"its **Next:** leads to {navigation.SERIES[3].file}, "
                                                  f"not to {navigation.SERIES[5].file}"]}


def test_stale_navigation_is_found_and_rewritten_without_touching_outputs(tmp_path):
    folder = _copy(tmp_path)
    path = folder / navigation.SERIES[0].file
    notebook = nbformat.read(path, as_version=4)
    notebook.cells[0].source = notebook.cells[0].source.replace("contents.ipynb", "README.md")
    outputs = [cell.get("outputs") for cell in notebook.cells]
    nbformat.write(notebook, path)
    assert "out of date" in navigation.problems(folder)[path][0]
    assert navigation.apply(folder) == [path]
    assert navigation.problems(folder) == {}
    assert [cell.get("outputs") for cell in nbformat.read(path, as_version=4).cells] == outputs
    assert path.read_bytes() == (NOTEBOOKS / path.name).read_bytes()


def test_a_notebook_missing_from_the_list_is_found(tmp_path):
    folder = _copy(tmp_path)
    shutil.copy(folder / navigation.SERIES[0].file, folder / "07-new.ipynb")
    assert navigation.problems(folder)[folder / "07-new.ipynb"] == ["not in SERIES: add it, in its place"]


def test_every_link_in_the_navigation_names_a_file_that_exists():
    import re

    for path in [*NOTEBOOKS.glob("*.ipynb")]:
        for cell in nbformat.read(path, as_version=4).cells:
            if cell.cell_type == "markdown":
                for target in re.findall(r"\]\(([^)#:]+\.(?:ipynb|md))\)", cell.source):
                    assert (NOTEBOOKS / target).exists(), f"{path.name} links to {target}"
