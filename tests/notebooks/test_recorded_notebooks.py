"""Notebook 06 replays its committed recording exactly, and says in one line what it needs when it cannot.

CI runs 06 live with the Docker Engine in the main test run (on the lesson's
invariants, as its sizes drift with Debian's updates), live with the embedded
builder in test_binder_like.py, and here by replay, which must reproduce every
stored output: the stored outputs and the recording come from the same real run.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import nbformat
from nbclient import NotebookClient

ROOT = Path(__file__).resolve().parents[2]
NOTEBOOK = "06-alpine-or-debian.ipynb"
CLOSED = "http://127.0.0.1:9/debian"  # a closed port on loopback: a mirror that never answers


def _copy(tmp_path: Path, recording: bool = True) -> Path:
    shutil.copy(ROOT / "conftest.py", tmp_path)
    notebooks = tmp_path / "notebooks"
    notebooks.mkdir()
    for name in (NOTEBOOK, "nbval-sanitize.cfg"):
        shutil.copy(ROOT / "notebooks" / name, notebooks)
    shutil.copytree(ROOT / "notebooks" / "dockerfiles", notebooks / "dockerfiles")
    (notebooks / "recordings").mkdir()
    if recording:
        shutil.copy(ROOT / "notebooks" / "recordings" / "debian.json.gz", notebooks / "recordings")
    return notebooks / NOTEBOOK


def _nbval(tmp_path: Path, **env: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "-c", "/dev/null", "--rootdir", str(tmp_path),
         "-rs", "--nbval", "--nbval-current-env", "--nbval-sanitize-with", "notebooks/nbval-sanitize.cfg",
         f"notebooks/{NOTEBOOK}"],
        cwd=tmp_path, capture_output=True, text=True, timeout=900, env={**os.environ, **env},
    )


def test_the_recording_is_committed_with_the_outputs_of_its_own_run():
    notebook = json.loads((ROOT / "notebooks" / NOTEBOOK).read_text())
    assert notebook["metadata"]["layerlab"]["recording"] == "recordings/debian.json.gz"
    assert (ROOT / "notebooks" / "recordings" / "debian.json.gz").is_file()
    code = [cell for cell in notebook["cells"] if cell["cell_type"] == "code"]
    assert all(cell.get("execution_count") for cell in code), "every cell ran"
    pngs = sum("image/png" in output.get("data", {}) for cell in code for output in cell["outputs"])
    assert pngs >= 5  # at least one figure per section


def test_the_notebook_replays_its_recording_exactly(tmp_path):
    _copy(tmp_path)
    done = _nbval(tmp_path, LAYERLAB_ENGINE="recorded", LAYERLAB_OFFLINE="1")
    assert done.returncode == 0, done.stdout[-3000:]
    assert " passed" in done.stdout and "skipped" not in done.stdout


def test_a_replay_is_checked_strictly_so_a_changed_output_fails(tmp_path):
    path = _copy(tmp_path)
    notebook = nbformat.read(path, as_version=4)
    table = next(cell for cell in notebook.cells if cell.cell_type == "code" and "base_table = " in cell.source)
    table.outputs[0]["data"]["text/plain"] = table.outputs[0]["data"]["text/plain"].replace("MiB", "MB", 1)
    nbformat.write(notebook, path)
    done = _nbval(tmp_path, LAYERLAB_ENGINE="recorded", LAYERLAB_OFFLINE="1")
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
