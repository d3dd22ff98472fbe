"""The lab notebook as Binder runs it: an unprivileged user, no access to a Docker daemon, offline.

The user cannot open the Docker socket, so the helpers fall back to the
embedded builder (skopeo + umoci + proot), which builds the lab for real from
Alpine's minirootfs tarball; the notebook must then pass strict nbval against
its stored outputs, which the Docker Engine produced, under the project's own
collection rules (``conftest.py``): a cell tagged ``layerlab-builder-output``,
which shows what BuildKit commits and the embedded builder does not, is run
but not compared.

The user has a Python of its own, as on Binder: a virtual environment made
from the system's ``/usr/bin/python3`` with the project's pinned packages
(kept between runs, keyed by requirements.txt), and the helpers from the
checkout on ``PYTHONPATH``.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest
from binder_user import as_user, unprivileged_user, users_python
from layerlab_fixtures import ALPINE_TARBALLS

ROOT = Path(__file__).resolve().parents[2]
#: The notebooks that run offline, with no internet and no package registry: each must pass as Binder runs it.
OFFLINE_NOTEBOOKS = ["00-the-layer-lab.ipynb", "04-your-own-image.ipynb", "05-multi-stage-and-squash.ipynb"]
#: The one that runs offline too, but is checked on its invariants (a compressed layer's size moves between builds).
FLEET_NOTEBOOK = "07-many-services.ipynb"
#: The one whose builds mount wheels from PyPI and run apt: live where both answer, checked on its invariants.
MOUNTS_NOTEBOOK = "08-mounts-and-context.ipynb"


def test_every_notebook_that_needs_only_an_engine_is_checked_here():
    import json

    only_engine = sorted(path.name for path in (ROOT / "notebooks").glob("[0-9]*.ipynb")
                         if json.loads(path.read_text())["metadata"]["layerlab"]["needs"] == ["engine"])
    assert only_engine == sorted([*OFFLINE_NOTEBOOKS, FLEET_NOTEBOOK])


@pytest.mark.engine
@pytest.mark.parametrize("notebook", OFFLINE_NOTEBOOKS)
def test_an_offline_notebook_passes_strict_nbval_for_anunprivileged_user_without_docker(notebook):
    import json

    user = unprivileged_user()
    work = Path(user.pw_dir) / "lab"
    shutil.rmtree(work, ignore_errors=True)
    shutil.rmtree(Path(user.pw_dir) / "layerlab-store", ignore_errors=True)
    work.mkdir()
    for name in (notebook, "nbval-sanitize.cfg"):
        shutil.copy(ROOT / "notebooks" / name, work / name)
    shutil.copy(ROOT / "conftest.py", work / "conftest.py")
    shutil.chown(work, user.pw_uid, user.pw_gid)

    python = users_python(user)
    connect = "from helpers.reading.daemon import docker_client; docker_client()"
    no_docker = as_user(user, [python, "-c", connect], work)
    assert no_docker.returncode != 0
    assert "no Docker Engine answered at unix:///var/run/docker.sock" in no_docker.stderr
    assert "Permission denied" in no_docker.stderr

    done = as_user(user, [python, "-m", "pytest", "-p", "no:cacheprovider", "-c", "/dev/null",
                           "--rootdir", str(work), "--nbval", "--nbval-current-env",
                           "--nbval-sanitize-with", "nbval-sanitize.cfg", notebook], work)
    assert done.returncode == 0, done.stdout[-4000:] + done.stderr[-2000:]
    cells = sum(cell["cell_type"] == "code" for cell in json.loads((work / notebook).read_text())["cells"])
    assert f"{cells} passed" in done.stdout
    index = json.loads((Path(user.pw_dir) / "layerlab-store" / "oci" / "index.json").read_text())
    refs = {(d.get("annotations") or {}).get("org.opencontainers.image.ref.name", "") for d in index["manifests"]}
    assert any(ref.startswith("layerlab-") for ref in refs), refs  # built here by the embedded builder, not replayed


def _notebook_folder(user, name: str, notebook: str, with_recordings: bool) -> Path:
    """A fresh folder of ``user``'s with ``notebook`` and what it reads: its Dockerfiles, its recordings or none."""
    work = Path(user.pw_dir) / name
    shutil.rmtree(work, ignore_errors=True)
    work.mkdir()
    notebooks = ROOT / "notebooks"
    for item in (notebook, "nbval-sanitize.cfg"):
        shutil.copy(notebooks / item, work / item)
    shutil.copy(ROOT / "conftest.py", work / "conftest.py")
    shutil.copytree(notebooks / "dockerfiles", work / "dockerfiles")
    if with_recordings:
        shutil.copytree(notebooks / "recordings", work / "recordings")
    else:
        (work / "recordings").mkdir()
    subprocess.run(["chown", "-R", f"{user.pw_uid}:{user.pw_gid}", str(work)], check=True)
    return work


def _strict_nbval(user, work: Path, notebook: str, *extra: str) -> subprocess.CompletedProcess:
    return as_user(user, ["env", *extra, users_python(user), "-m", "pytest", "-p", "no:cacheprovider", "-c",
                          "/dev/null", "--rootdir", str(work), "--nbval", "--nbval-current-env",
                          "--nbval-sanitize-with", "nbval-sanitize.cfg", notebook], work, timeout=1800)


@pytest.mark.engine
def test_the_book_notebook_asks_apk_live_as_binder_would_and_gives_its_stored_outputs():
    """01 for real with the embedded builder, no Docker, offline with Alpine's signed indexes: strictly its outputs."""
    import json

    user = unprivileged_user()
    notebook = "01-the-book-example.ipynb"
    work = _notebook_folder(user, "book-notebook", notebook, with_recordings=False)  # live, or it fails
    done = _strict_nbval(user, work, notebook)
    assert done.returncode == 0, done.stdout[-4000:] + done.stderr[-2000:]
    cells = sum(cell["cell_type"] == "code" for cell in json.loads((work / notebook).read_text())["cells"])
    assert f"{cells} passed" in done.stdout


@pytest.mark.engine
@pytest.mark.parametrize("notebook", ["02-where-the-bytes-go.ipynb", "03-the-techniques-leaderboard.ipynb"])
def test_a_registry_notebook_replays_its_recording_strictly_as_binder_would(notebook):
    """02 and 03 where nothing builds (LAYERLAB_ENGINE=recorded): the recording of one real run, compared strictly."""
    import json

    user = unprivileged_user()
    work = _notebook_folder(user, "replayed-notebook", notebook, with_recordings=True)
    done = _strict_nbval(user, work, notebook, "LAYERLAB_ENGINE=recorded")
    assert done.returncode == 0, done.stdout[-4000:] + done.stderr[-2000:]
    cells = sum(cell["cell_type"] == "code" for cell in json.loads((work / notebook).read_text())["cells"])
    assert f"{cells} passed" in done.stdout


@pytest.mark.engine
def test_an_unreadable_file_in_the_build_context_is_one_clear_error():
    user = unprivileged_user()
    python = users_python(user)
    context = Path(user.pw_dir) / "context"
    shutil.rmtree(context, ignore_errors=True)
    context.mkdir()
    (context / "Dockerfile").write_text("FROM alpine:3.20.3\nCOPY secret.txt /secret.txt\n")
    (context / "secret.txt").write_text("not for you\n")
    (context / "secret.txt").chmod(0o000)
    shutil.chown(context, user.pw_uid, user.pw_gid)
    done = as_user(user, [python, "-m", "helpers", "build", str(context)], context)
    assert done.returncode == 2
    lines = done.stderr.splitlines()
    assert lines[-1].startswith("error: ") and "secret.txt: permission denied" in lines[-1]
    assert "Traceback" not in done.stderr


@pytest.mark.engine
def test_the_debian_notebook_runs_live_with_the_embedded_builder_as_binder_would(registry, debian_rootfs):
    """06 for real, as an unprivileged user with no Docker: apt-get under proot, on the lesson's invariants.

    Its builds reach Debian's package registry (they ask for the network);
    everything else stays offline.  Exact sizes differ from the Docker Engine's
    (umoci writes layers its own way), so only the marked cells are compared.
    """
    index = _live_with_the_embedded_builder("debian-notebook", "06-alpine-or-debian.ipynb", debian_rootfs)
    assert "layerlab-toolchain-single-run-latest" in index


def _live_with_the_embedded_builder(folder: str, notebook: str, debian_rootfs: Path) -> str:
    """``notebook`` run live by an unprivileged user with the embedded builder, on its invariants (nbval-lax);
    the index of the user's store, which names every image the run built."""
    user = unprivileged_user()
    work = _notebook_folder(user, folder, notebook, with_recordings=False)  # live, or it fails
    rootfs = f"{ALPINE_TARBALLS}{os.pathsep}{debian_rootfs.parent}"
    done = as_user(user, ["env", f"LAYERLAB_ROOTFS={rootfs}", users_python(user), "-m", "pytest", "-p",
                          "no:cacheprovider", "-c", "/dev/null", "--rootdir", str(work), "--nbval-lax",
                          "--nbval-current-env", notebook], work, timeout=3600)
    assert done.returncode == 0, done.stdout[-4000:] + done.stderr[-2000:]
    assert " passed" in done.stdout and "failed" not in done.stdout
    return (Path(user.pw_dir) / "layerlab-store" / "oci" / "index.json").read_text()


@pytest.mark.engine
def test_the_fleet_notebook_runs_live_with_the_embedded_builder_as_binder_would(debian_rootfs):
    """07 for real, as an unprivileged user with no Docker and no network: forty builds, on its invariants."""
    index = _live_with_the_embedded_builder("fleet-notebook", FLEET_NOTEBOOK, debian_rootfs)
    assert "layerlab-alpine-svc-10-squashed-latest" in index and "layerlab-debian-svc-10-squashed-latest" in index


@pytest.mark.engine
def test_the_mounts_notebook_runs_live_with_the_embedded_builder_as_binder_would(registry, pypi, debian_rootfs):
    """08 for real, as an unprivileged user with no Docker: every RUN --mount, apt and pip, on the invariants.

    Its apt builds reach Debian's package registry, and pip on the machine downloads the wheels the
    builds mount; everything else stays offline.
    """
    index = _live_with_the_embedded_builder("mounts-notebook", MOUNTS_NOTEBOOK, debian_rootfs)
    assert "layerlab-pip-mounted-too-latest" in index and "layerlab-cache-mounts-latest" in index


def test_binder_s_post_build_puts_every_notebook_base_in_the_store(tmp_path):
    """What repo2docker runs once per Binder image: every base the notebooks name, imported for real."""
    import json
    import sys

    post_build = ROOT / "binder" / "postBuild"
    assert os.access(post_build, os.X_OK) and "binder/prepull.py" in post_build.read_text()
    rootfs = os.environ.get("LAYERLAB_ROOTFS") or str(ALPINE_TARBALLS)
    wanted = {image for path in (ROOT / "notebooks").glob("*.ipynb")
              for image in json.loads(path.read_text())["metadata"].get("layerlab", {}).get("images", [])}
    environment = {**os.environ, "LAYERLAB_STORE": str(tmp_path / "store"), "LAYERLAB_OFFLINE": "1",
                   "LAYERLAB_ROOTFS": rootfs}
    done = subprocess.run([sys.executable, str(ROOT / "binder" / "prepull.py")], capture_output=True, text=True,
                          env=environment, timeout=900)
    index = (tmp_path / "store" / "oci" / "index.json").read_text()
    missing = [line for line in done.stderr.splitlines() if line.startswith("error: ")]
    made = {line.split(":", 2)[0] + ":" + line.split(":", 2)[1] for line in done.stdout.splitlines()}
    assert made | {line[len("error: "):].split(": ")[0] for line in missing} == wanted
    for image in made:
        assert f'"base-{image.replace(":", "-")}"' in index
    if os.environ.get("LAYERLAB_REQUIRE_ENGINE") == "1":
        assert done.returncode == 0, done.stderr


def test_each_base_binder_cannot_get_is_named_on_a_line_of_its_own(tmp_path):
    import sys

    environment = {**os.environ, "LAYERLAB_STORE": str(tmp_path / "store"), "LAYERLAB_OFFLINE": "1",
                   "LAYERLAB_ROOTFS": str(tmp_path / "empty")}
    (tmp_path / "empty").mkdir()
    done = subprocess.run([sys.executable, str(ROOT / "binder" / "prepull.py")], capture_output=True, text=True,
                          env=environment, timeout=300)
    assert done.returncode == 2
    assert "Traceback" not in done.stderr
    assert all(line.startswith("error: ") and "offline mode" in line for line in done.stderr.splitlines())


def test_a_bad_setting_stops_binder_s_post_build_before_it_imports_anything(tmp_path):
    """The script is an edge: it reads the settings once, so a bad one is one line and nothing in the store."""
    import sys

    environment = {**os.environ, "LAYERLAB_STORE": str(tmp_path / "store"), "LAYERLAB_RUN": "chroot"}
    done = subprocess.run([sys.executable, str(ROOT / "binder" / "prepull.py")], capture_output=True, text=True,
                          env=environment, timeout=120)
    assert done.returncode == 2 and done.stdout == ""
    assert done.stderr.splitlines() == [done.stderr.strip()] and "LAYERLAB_RUN='chroot'" in done.stderr
    assert not (tmp_path / "store").exists()
