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
    ("measuring/metrics.py", "from ..reading import files", "Each room imports only the rooms below it"),
    ("views/report.py", "from ..reading import files", "Views draw an Analysis: they never read archives"),
    ("building/userns.py", "from ..measuring import analysis",
     "Builders build and read: measuring is orchestration's"),
    ("measuring/merge.py", "from . import analysis", "No cycle among the modules of a room"),
    ("building/engine.py", "import docker.errors", "Only the daemon adapter imports the Docker SDK"),
    ("reading/images.py", "from docker import DockerClient", "Only the daemon adapter imports the Docker SDK"),
], ids=["upward", "across a layer", "views read", "builders measure", "cycle in a room", "the SDK in a builder",
        "the SDK beside the adapter"])
def test_an_import_the_wrong_way_breaks_its_contract(tmp_path, module, line, contract):
    shutil.copytree(ROOT / "helpers", tmp_path / "helpers", ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copy(ROOT / "pyproject.toml", tmp_path)
    target = tmp_path / "helpers" / module
    target.write_text(target.read_text() + f"\n{line}  # inside a function it would count just the same\n")
    done = _lint(tmp_path)
    assert done.returncode == 1, done.stdout[-2000:]
    assert f"{contract} BROKEN" in done.stdout


#: The longest a module of reading/ may be: one backend, document or stage each, as go-containerregistry keeps them.
MAX_READING_LINES = 400


def test_reading_keeps_one_small_module_for_each_backend_and_stage():
    sizes = {path.name: len(path.read_text().splitlines()) for path in (ROOT / "helpers" / "reading").glob("*.py")}
    assert {name: lines for name, lines in sizes.items() if lines > MAX_READING_LINES} == {}
    for backend in ("tar_archives", "oci_layout", "daemon", "store", "docker_save", "oci_image", "source"):
        assert f"{backend}.py" in sizes, backend


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


#: What the report of a small image never imports: no thread (nor a pool, which loads ``concurrent.futures``
#: and ``logging``), no OpenSSL (``hashlib``), no Docker SDK, and no module a report can start without.
NOT_FOR_A_SMALL_REPORT = ("threading", "concurrent.futures", "logging", "hashlib", "docker", "argparse",
                          "dataclasses", "typing", "signal", "tarfile")


def test_the_report_of_a_small_image_loads_only_what_it_needs(dive_testdata):
    """A small image's layers are scanned in the caller's thread, and none is hashed unless asked.

    A thread pool and OpenSSL cost about a fifth of what a small image's report took before they
    waited for their first use. The report's plain form is read without :mod:`argparse` (see
    :mod:`helpers.edges.arguments`), and its records are named tuples, not dataclasses (see
    :mod:`helpers.ground.model`): together another third of it, before any work. The outer archive is
    read by the layer reader's own header code (:mod:`helpers.reading.tar_members`), not :mod:`tarfile`.
    """
    archive = dive_testdata / "test-docker-image.tar"
    script = ("import sys\nfrom helpers.edges.cli import main\n"
              f"code = main(['report', '--json', {str(archive)!r}])\n"
              f"loaded = [m for m in {NOT_FOR_A_SMALL_REPORT!r} if m in sys.modules]\n"
              "assert not loaded, f'the report loaded {loaded}'\nsys.exit(code)")
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, cwd=ROOT, timeout=120)
    assert done.returncode == 0, done.stderr[-2000:]
    assert '"layers"' in done.stdout


def test_the_report_of_an_alpine_image_loads_only_what_it_needs(tmp_path):
    """Reading apk's database takes its paragraph reader alone, not what reads apk's printed output (dataclasses)."""
    from archives import docker_archive, files_layer

    archive = tmp_path / "alpine.tar"
    archive.write_bytes(docker_archive([files_layer({"lib/apk/db/installed": b"P:musl\nV:1.2\nI:4096\n\n"})]))
    script = ("import sys\nfrom helpers.edges.cli import main\n"
              f"code = main(['report', '--json', {str(archive)!r}])\n"
              f"loaded = [m for m in {NOT_FOR_A_SMALL_REPORT!r} if m in sys.modules]\n"
              "assert not loaded, f'the report loaded {loaded}'\n"
              "assert 'helpers.reading.apk_paragraphs' in sys.modules, 'the database was not read'\nsys.exit(code)")
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, cwd=ROOT, timeout=120)
    assert done.returncode == 0, done.stderr[-2000:]


def test_a_test_module_borrows_from_another_only_in_its_own_room():
    """What several rooms' tests share lives in tests/*.py support modules, never in another room's tests."""
    for path in (ROOT / "tests").glob("*/test_*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ImportFrom) and (node.module or "").startswith("test_"):
                assert (path.parent / f"{node.module}.py").is_file(), f"{path.relative_to(ROOT)} imports {node.module}"


#: Modules that look up the environment for something that is not a ``LAYERLAB_*`` setting.
_OTHER_ENVIRONMENT = {
    "helpers/reading/daemon.py": "DOCKER_HOST, the Docker SDK's own variable",
    "helpers/building/embedded.py": "the user's environment, passed on to a RUN step's proot",
    "helpers/building/buildkit_cli.py": "PATH, to find every Docker CLI, and the environment the CLI runs in",
}


def _calls_and_reads(path: Path) -> tuple[set[str], bool]:
    """The attributes a module calls (``Settings.from_environment``), and whether it looks up the environment."""
    calls, looks_up = set(), False
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute):
            calls.add(node.func.attr)
        if isinstance(node, ast.Attribute) and node.attr in ("environ", "getenv"):
            looks_up = True
    return calls, looks_up


def _reads_below_the_edges(root: Path) -> list[str]:
    """Modules below the edges that read the settings, or read the environment outside ``ground/settings``."""
    found = []
    for path in sorted((root / "helpers").rglob("*.py")):
        name = path.relative_to(root).as_posix()
        room = path.relative_to(root / "helpers").parts[0]
        calls, looks_up = _calls_and_reads(path)
        at_an_edge = room in ("edges", "__init__.py") or name == "helpers/ground/settings.py"
        if "from_environment" in calls and not at_an_edge:
            found.append(f"{name} reads the settings")
        if looks_up and name not in ("helpers/ground/settings.py", "helpers/ground/limits.py", *_OTHER_ENVIRONMENT):
            found.append(f"{name} reads the environment")
    return found


def test_the_settings_are_read_at_the_edges_only_and_handed_down():
    """``Settings.from_environment`` runs at the edges (the command line, the door, the notebooks' Lab) only."""
    assert _reads_below_the_edges(ROOT) == []


def test_a_settings_read_planted_below_the_edges_is_caught(tmp_path):
    shutil.copytree(ROOT / "helpers", tmp_path / "helpers", ignore=shutil.ignore_patterns("__pycache__"))
    planted = tmp_path / "helpers" / "orchestration" / "builds.py"
    planted.write_text(planted.read_text() + "\n\ndef _now():\n    return Settings.from_environment()\n")
    sneaky = tmp_path / "helpers" / "reading" / "files.py"
    sneaky.write_text(sneaky.read_text() + "\n\nVERIFY = os.environ.get('LAYERLAB_VERIFY')\n")
    assert _reads_below_the_edges(tmp_path) == ["helpers/orchestration/builds.py reads the settings",
                                               "helpers/reading/files.py reads the environment"]


def test_every_helpers_name_a_notebook_s_prose_sends_the_learner_to_is_on_the_door():
    """An exercise or solution that names ``helpers.something`` names what ``import helpers`` gives, never a
    module inside the package."""
    import re

    import helpers

    for path in sorted((ROOT / "notebooks").glob("*.ipynb")):
        for cell in json.loads(path.read_text())["cells"]:
            if cell["cell_type"] != "markdown":
                continue
            for name in re.findall(r"`helpers\.(\w+)", "".join(cell["source"])):
                assert name in helpers.__all__, f"{path.name} sends the learner to helpers.{name}"
