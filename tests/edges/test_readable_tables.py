"""In a notebook, every table shows its byte counts as sizes people read, and still holds the integers."""

from __future__ import annotations

import nbformat
import pandas as pd
from nbclient import NotebookClient

from helpers.edges.notebook import readable


def test_only_integer_byte_columns_are_formatted_and_the_table_is_untouched():
    table = pd.DataFrame({"path": ["a", "b"], "bytes": [406697991, 85], "files": [3, 1], "size": [2048, 0],
                          "pulled_bytes": pd.array([1536, None], dtype="Int64"), "still_visible": [0, 1024],
                          "stored_bytes": ["7.4 MiB", "85 B"], "ratio_bytes": [0.5, 1.0]})
    shown = readable(table)
    assert shown["bytes"].tolist() == ["387.9 MiB", "85 B"]
    assert shown["size"].tolist() == ["2.0 KiB", "0 B"]
    assert shown["pulled_bytes"].tolist() == ["1.5 KiB", ""]  # a missing value stays blank
    assert shown["still_visible"].tolist() == ["0 B", "1.0 KiB"]
    assert shown["files"].tolist() == [3, 1]  # counts are not sizes
    assert shown["stored_bytes"].tolist() == ["7.4 MiB", "85 B"]  # already text
    assert shown["ratio_bytes"].tolist() == [0.5, 1.0]  # not integers: not counts of bytes
    assert table["bytes"].tolist() == [406697991, 85]  # a copy: the numbers stay numbers


def test_after_setup_a_notebook_shows_sizes_and_computes_on_bytes(tmp_path):
    notebook = nbformat.v4.new_notebook()
    notebook.cells = [
        nbformat.v4.new_code_cell("import helpers, pandas as pd\nhelpers.setup()"),
        nbformat.v4.new_code_cell("table = pd.DataFrame({'layer': [1, 2], 'bytes': [406697991, 85]})\ntable"),
        nbformat.v4.new_code_cell("int(table['bytes'].sum())"),
    ]
    NotebookClient(notebook, kernel_name="python3", resources={"metadata": {"path": tmp_path}}).execute()
    [shown] = notebook.cells[1].outputs
    assert "387.9 MiB" in shown.data["text/plain"] and "406697991" not in shown.data["text/plain"]
    assert "<td>387.9 MiB</td>" in shown.data["text/html"] and "406697991" not in shown.data["text/html"]
    assert notebook.cells[2].outputs[0].data["text/plain"] == str(406697991 + 85)
