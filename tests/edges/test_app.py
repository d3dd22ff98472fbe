"""04's app and its capstone: the image breaks the budget, and the notebook's solution meets it with either builder."""

from __future__ import annotations

import pytest
from layerlab_fixtures import ALPINE_TARBALLS, embedded_tools

import helpers
from helpers import APP_BUDGET, APP_DOCKERFILE, app_context
from helpers.views.budget import Budget, parse_budget_size

#: The solution 04 gives, folded away under its check cell.
SOLUTION_DOCKERFILE = 'FROM alpine:3.20.3\nCOPY . /srv/\nCMD ["/bin/sh", "/srv/app/serve.sh"]\n'
SOLUTION_DOCKERIGNORE = ".git\ntests\n.dockerignore\n"
APP = {"srv/app/serve.sh", "srv/app/static/logo.png"}
BUDGET = Budget(max_reclaimable=parse_budget_size(APP_BUDGET["max_reclaimable"]),
                min_efficiency=APP_BUDGET["min_efficiency"])


def _build(dockerfile: str, dockerignore: str = "", **options) -> helpers.Analysis:
    with app_context(dockerignore) as context:
        return helpers.build(dockerfile, context, progress=lambda name, step: None, **options).analysis


def test_the_app_folder_is_the_same_bytes_every_time_and_its_temporary_folder_goes(tmp_path):
    with app_context() as first, app_context(".git\n") as second:
        names = sorted(p.relative_to(first).as_posix() for p in first.rglob("*") if p.is_file())
        assert names == [".git/HEAD", ".git/objects/pack/pack-1.pack", "app/serve.sh", "app/static/logo.png",
                         "tests/fixtures/recording.bin"]
        assert all((first / name).read_bytes() == (second / name).read_bytes() for name in names)
        assert (second / ".dockerignore").read_text() == ".git\n"
    assert not first.exists() and not second.exists()


def test_the_notebook_shows_the_solution_this_test_builds():
    import json
    from pathlib import Path

    notebook = Path(__file__).resolve().parents[2] / "notebooks" / "04-your-own-image.ipynb"
    text = "".join("".join(cell["source"]) for cell in json.loads(notebook.read_text())["cells"])
    assert 'MY_DOCKERIGNORE = ".git\\ntests\\n.dockerignore\\n"' in text
    assert '"""FROM alpine:3.20.3\nCOPY . /srv/\nCMD ["/bin/sh", "/srv/app/serve.sh"]\n"""' in text


@pytest.mark.engine
def test_the_app_breaks_the_budget_and_the_solution_meets_it_with_the_docker_engine(docker_client, alpine):
    app = _build(APP_DOCKERFILE, name="app", tag="layerlab-test/app:latest", client=docker_client)
    assert len(BUDGET.broken(app)) == 2  # both rules
    solved = _build(SOLUTION_DOCKERFILE, SOLUTION_DOCKERIGNORE, name="solved", tag="layerlab-test/app:solved",
                    client=docker_client)
    assert BUDGET.broken(solved) == [] and solved.reclaimable_bytes == 0
    assert APP <= set(solved.files.loc[solved.files.visible, "path"])
    assert solved.final_bytes == app.final_bytes  # the container sees the same files
    table = helpers.reclaimable_paths(app, top=50)
    hints = table.loc[table.path == "srv/tests/fixtures/recording.bin", "hint"].tolist()
    assert len(hints) == 2 and all(".dockerignore" in hint for hint in hints)  # every copy came from the context


def test_the_solution_meets_the_budget_with_the_embedded_builder(tmp_path, monkeypatch):
    embedded_tools()
    monkeypatch.setenv("LAYERLAB_STORE", str(tmp_path / "store"))
    monkeypatch.setenv("LAYERLAB_ROOTFS", str(ALPINE_TARBALLS))
    solved = _build(SOLUTION_DOCKERFILE, SOLUTION_DOCKERIGNORE, name="solved", engine="embedded")
    assert BUDGET.broken(solved) == [] and solved.reclaimable_bytes == 0
    assert APP <= set(solved.files.loc[solved.files.visible, "path"])
