"""The package's rooms and the way their imports go, checked with import-linter's contracts in pyproject.toml.

Each contract is also shown to break: a copy of the package gets one import
that goes the wrong way, and the linter must name the broken contract.
"""

from __future__ import annotations

import ast
import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
LINT_IMPORTS = Path(sys.executable).with_name("lint-imports")
ROOMS = ["ground", "reading", "measuring", "building", "orchestration", "views", "edges"]


def _lint(root: Path) -> subprocess.CompletedProcess:
    return subprocess.run([str(LINT_IMPORTS), "--config", str(root / "pyproject.toml"), "--no-cache"],
                          cwd=root, capture_output=True, text=True, timeout=300,
                          env={"PATH": "/usr/bin:/bin", "PYTHONPATH": str(root)})


def test_the_import_contracts_hold():
    done = _lint(ROOT)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-2000:]
    assert "0 broken" in done.stdout


def test_every_module_is_in_a_room():
    loose = sorted(path.name for path in (ROOT / "helpers").glob("*.py") if path.name not in ("__init__.py",
                                                                                             "__main__.py"))
    assert loose == []
    assert sorted(path.name for path in (ROOT / "helpers").iterdir() if path.is_dir() and path.name != "__pycache__") \
        == sorted(ROOMS)


@pytest.mark.parametrize(("module", "line", "contract"), [
    ("ground/sizes.py", "from ..edges import cli", "Each room imports only the rooms below it"),
    ("measuring/metrics.py", "from ..reading import archive", "Each room imports only the rooms below it"),
    ("views/report.py", "from ..reading import archive", "Views draw an Analysis: they never read archives"),
    ("building/userns.py", "from ..measuring import analysis",
     "Builders build and read: measuring is orchestration's"),
    ("measuring/merge.py", "from . import analysis", "No cycle among the modules of a room"),
], ids=["upward", "across a layer", "views read", "builders measure", "cycle in a room"])
def test_an_import_the_wrong_way_breaks_its_contract(tmp_path, module, line, contract):
    shutil.copytree(ROOT / "helpers", tmp_path / "helpers", ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copy(ROOT / "pyproject.toml", tmp_path)
    target = tmp_path / "helpers" / module
    target.write_text(target.read_text() + f"\n{line}  # inside a function it would count just the same\n")
    done = _lint(tmp_path)
    assert done.returncode == 1, done.stdout[-2000:]
    assert f"{contract} BROKEN" in done.stdout


def _notebook_imports(path: Path) -> list[ast.ImportFrom | ast.Import]:
    found = []
    for cell in json.loads(path.read_text())["cells"]:
        if cell["cell_type"] != "code":
            continue
        lines = "".join(cell["source"]).splitlines()
        source = "\n".join(line for line in lines if not line.lstrip().startswith(("%", "!")))  # no magics
        found += [node for node in ast.walk(ast.parse(source)) if isinstance(node, (ast.Import, ast.ImportFrom))]
    return found


@pytest.mark.parametrize("notebook", sorted(p.name for p in (ROOT / "notebooks").glob("*.ipynb")))
def test_a_notebook_comes_in_by_the_one_door_and_every_name_it_takes_is_there(notebook):
    """Checked here for every notebook, 01-03 too, which cannot run without the internet."""
    import helpers

    for node in _notebook_imports(ROOT / "notebooks" / notebook):
        if isinstance(node, ast.ImportFrom) and (node.module or "").startswith("helpers"):
            assert node.module == "helpers", f"{notebook}: `from {node.module} import …` goes past helpers/__init__"
            for alias in node.names:
                assert alias.name in helpers.__all__ and getattr(helpers, alias.name) is not None, alias.name
        if isinstance(node, ast.Import):
            assert all(alias.name == "helpers" or not alias.name.startswith("helpers") for alias in node.names)


def test_every_name_the_door_lists_opens():
    import helpers

    for name in helpers.__all__:
        assert getattr(helpers, name) is not None, name


def test_the_text_report_needs_no_pandas(dive_testdata):
    archive = dive_testdata / "test-docker-image.tar"
    script = ("import sys\nfrom helpers.edges.cli import main\n"
              f"code = main(['report', {str(archive)!r}])\n"
              "assert 'pandas' not in sys.modules, 'the report imported pandas'\nsys.exit(code)")
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, cwd=ROOT, timeout=120)
    assert done.returncode == 0, done.stderr[-2000:]
    assert "reclaimable" in done.stdout


def test_a_test_module_borrows_from_another_only_in_its_own_room():
    """What several rooms' tests share lives in tests/*.py support modules, never in another room's tests."""
    for path in (ROOT / "tests").glob("*/test_*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ImportFrom) and (node.module or "").startswith("test_"):
                assert (path.parent / f"{node.module}.py").is_file(), f"{path.relative_to(ROOT)} imports {node.module}"
