"""In a notebook, a LayerLabError is one readable message, and the cell still fails."""

from __future__ import annotations

import nbformat
from nbclient import NotebookClient


def test_a_layerlab_error_is_one_line_and_still_an_error(tmp_path):
    notebook = nbformat.v4.new_notebook()
    notebook.cells = [
        nbformat.v4.new_code_cell("import helpers\nhelpers.setup()"),
        nbformat.v4.new_code_cell("raise helpers.LayerLabError('no Docker Engine answered', 'start one')"),
        nbformat.v4.new_code_cell("raise ValueError('an ordinary bug keeps its traceback')"),
    ]
    NotebookClient(notebook, kernel_name="python3", allow_errors=True, resources={"metadata": {"path": tmp_path}}
                   ).execute()
    outputs = notebook.cells[1].outputs
    assert [o.output_type for o in outputs] == ["error"]
    assert outputs[0].ename == "LayerLabError"
    assert outputs[0].traceback == ["LayerLabError: no Docker Engine answered (start one)"]
    assert len(notebook.cells[2].outputs[0].traceback) > 1
