"""Notebooks 06, 07 and 08 replay their committed recordings exactly; 06 says in one line what it needs when it cannot.

CI runs each live with the Docker Engine in the main test run (on the lessons'
invariants: 06's and 08's sizes drift with Debian's updates, 07's compressed
sizes with each build), live with the embedded builder in test_binder_like.py, and here by
replay, which must reproduce every stored output: the stored outputs and the
recording come from the same real run.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import nbformat
import pytest
from nbclient import NotebookClient

ROOT = Path(__file__).resolve().parents[2]
NOTEBOOK = "06-alpine-or-debian.ipynb"
#: Each recorded notebook tested here: its recording, a cell whose stored table a replay must reproduce, and
#: how many figures it shows at least.
REPLAYED = {
    NOTEBOOK: ("debian.json.gz", "base_table = ", 5),
    "07-many-services.ipynb": ("fleet.json.gz", "growth[growth.services.isin", 1),
    "08-mounts-and-context.ipynb": ("mounts.json.gz", "helpers.headline(book)", 3),
}
CLOSED = "http://127.0.0.1:9/debian"  # a closed port on loopback: a mirror that never answers


def _copy(tmp_path: Path, recording: bool = True, notebook: str = NOTEBOOK) -> Path:
    shutil.copy(ROOT / "conftest.py", tmp_path)
    notebooks = tmp_path / "notebooks"
    notebooks.mkdir()
    for name in (notebook, "nbval-sanitize.cfg"):
        shutil.copy(ROOT / "notebooks" / name, notebooks)
    shutil.copytree(ROOT / "notebooks" / "dockerfiles", notebooks / "dockerfiles")
    (notebooks / "recordings").mkdir()
    if recording:
        shutil.copy(ROOT / "notebooks" / "recordings" / REPLAYED[notebook][0], notebooks / "recordings")
    return notebooks / notebook


def _nbval(tmp_path: Path, notebook: str = NOTEBOOK, **env: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "-c", "/dev/null", "--rootdir", str(tmp_path),
         "-rs", "--nbval", "--nbval-current-env", "--nbval-sanitize-with", "notebooks/nbval-sanitize.cfg",
         f"notebooks/{notebook}"],
        cwd=tmp_path, capture_output=True, text=True, timeout=900, env={**os.environ, **env},
    )


@pytest.mark.parametrize("name", REPLAYED)
def test_the_recording_is_committed_with_the_outputs_of_its_own_run(name):
    recording, _cell, figures = REPLAYED[name]
    notebook = json.loads((ROOT / "notebooks" / name).read_text())
    assert notebook["metadata"]["layerlab"]["recording"] == f"recordings/{recording}"
    assert (ROOT / "notebooks" / "recordings" / recording).is_file()
    code = [cell for cell in notebook["cells"] if cell["cell_type"] == "code"]
    assert all(cell.get("execution_count") for cell in code), "every cell ran"
    pngs = sum("image/png" in output.get("data", {}) for cell in code for output in cell["outputs"])
    assert pngs >= figures
    lab = next(cell for cell in code if "Lab(" in "".join(cell["source"]))
    assert "".join(lab["outputs"][0]["data"]["text/plain"]).startswith("Building live with"), "a live run"


@pytest.mark.parametrize("name", REPLAYED)
def test_the_notebook_replays_its_recording_exactly(tmp_path, name):
    _copy(tmp_path, notebook=name)
    done = _nbval(tmp_path, name, LAYERLAB_ENGINE="recorded", LAYERLAB_OFFLINE="1")
    assert done.returncode == 0, done.stdout[-3000:]
    assert " passed" in done.stdout and "skipped" not in done.stdout


@pytest.mark.parametrize("name", REPLAYED)
def test_a_replay_is_checked_strictly_so_a_changed_output_fails(tmp_path, name):
    path = _copy(tmp_path, notebook=name)
    notebook = nbformat.read(path, as_version=4)
    marker = REPLAYED[name][1]
    table = next(cell for cell in notebook.cells if cell.cell_type == "code" and marker in cell.source)
    table.outputs[0]["data"]["text/plain"] = table.outputs[0]["data"]["text/plain"].replace("MiB", "MB", 1)
    nbformat.write(notebook, path)
    done = _nbval(tmp_path, name, LAYERLAB_ENGINE="recorded", LAYERLAB_OFFLINE="1")
    assert done.returncode == 1 and "1 failed" in done.stdout


def test_with_no_registry_and_no_recording_the_notebook_is_skipped_with_the_reason(tmp_path):
    _copy(tmp_path, recording=False)
    done = _nbval(tmp_path, LAYERLAB_OFFLINE="1", LAYERLAB_DEBIAN_MIRROR=CLOSED, LAYERLAB_REQUIRE_ENGINE="1")
    assert done.returncode == 0, done.stdout[-3000:]
    assert f"needs Debian's package registry, and {CLOSED} does not answer" in done.stdout
    assert "and its recording recordings/debian.json.gz does not exist yet" in done.stdout


def test_in_the_notebook_it_is_one_line_that_names_the_cause_and_the_fix(tmp_path, monkeypatch):
    monkeypatch.setenv("LAYERLAB_OFFLINE", "1")
    monkeypatch.setenv("LAYERLAB_DEBIAN_MIRROR", CLOSED)
    notebook = nbformat.v4.new_notebook()
    notebook.cells = [
        nbformat.v4.new_code_cell("import helpers\nhelpers.setup()"),
        nbformat.v4.new_code_cell('import helpers\n'
                                  'helpers.Lab("recordings/debian.json.gz", needs=["engine", "packages"])'),
    ]
    NotebookClient(notebook, kernel_name="python3", allow_errors=True, resources={"metadata": {"path": tmp_path}}
                   ).execute()
    [output] = notebook.cells[1].outputs
    [line] = output.traceback
    assert line.startswith(f"RecordingMissing: cannot build here (needs Debian's package registry, and {CLOSED} "
                           "does not answer")
    assert "LAYERLAB_RECORD=1" in line
