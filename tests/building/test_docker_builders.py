"""Which of the Docker Engine's builders builds, and what each commits by itself.

``LAYERLAB_DOCKER_BUILDER=auto`` (the default) builds with BuildKit where a Docker CLI
here can drive it, as a current ``docker build`` does, and with the classic builder
where none can.  A machine without a CLI is made for real: ``PATH`` holds no
``docker`` at all (the classic builder needs none: it talks to the engine through the
Docker SDK).  BuildKit's own entry (the ``/etc`` folder of each ``RUN`` layer) is
found by :attr:`helpers.Analysis.builder_entries`, and only where the ``RUN`` wrote
nothing under ``/etc``.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import uuid

import pytest
from layerlab_fixtures import processes_naming

import helpers
from helpers.building.docker_builder import uses_buildkit
from helpers.ground.errors import LayerLabError
from helpers.ground.settings import Settings

SIMPLE = "FROM alpine:3.20.3\nRUN echo a > /a\n"
MOUNTED = "FROM alpine:3.20.3\nRUN --mount=type=tmpfs,target=/scratch echo a > /scratch/a\n"
#: L1 changes nothing; L2 writes under /etc (so /etc is its own change); L3 writes elsewhere.
ENTRIES = "FROM alpine:3.20.3\nRUN true\nRUN echo x > /etc/x\nRUN echo a > /a\n"


@pytest.fixture
def no_docker_cli(tmp_path, monkeypatch):
    """A ``PATH`` with no ``docker`` command on it: no CLI here can drive BuildKit."""
    empty = tmp_path / "bin"
    empty.mkdir()
    monkeypatch.setenv("PATH", str(empty))


def test_the_default_is_auto_and_each_explicit_value_is_kept():
    assert Settings().docker_builder == "auto"
    assert uses_buildkit(Settings(docker_builder="buildkit")) is True
    assert uses_buildkit(Settings(docker_builder="classic")) is False


def test_auto_asks_for_no_cli_it_cannot_find(no_docker_cli):
    assert uses_buildkit(Settings(docker_builder="auto")) is False


@pytest.mark.engine
def test_auto_builds_with_buildkit_where_a_cli_drives_it(docker_client, alpine, monkeypatch):
    monkeypatch.setenv("LAYERLAB_DOCKER_BUILDER", "auto")
    built = helpers.build(SIMPLE, name="auto", tag="layerlab-test/auto:latest", client=docker_client,
                          progress=lambda name, step: None)
    assert built.analysis.image.built_by == "docker+buildkit"  # CI installs Debian's CLI: it drives BuildKit


@pytest.mark.engine
def test_auto_falls_back_to_the_classic_builder_where_no_cli_drives_buildkit(docker_client, alpine, monkeypatch,
                                                                             no_docker_cli):
    monkeypatch.setenv("LAYERLAB_DOCKER_BUILDER", "auto")
    built = helpers.build(SIMPLE, name="auto", tag="layerlab-test/auto-classic:latest", client=docker_client,
                          progress=lambda name, step: None)
    assert built.analysis.image.built_by == "docker"


@pytest.mark.engine
@pytest.mark.parametrize(("builder", "dockerfile", "why"), [
    ("buildkit", SIMPLE, "LAYERLAB_DOCKER_BUILDER=buildkit, and no Docker CLI here can drive BuildKit"),
    ("auto", MOUNTED, "this Dockerfile uses `RUN --mount`, which only BuildKit builds, and no Docker CLI"),
    ("classic", MOUNTED, "this Dockerfile uses `RUN --mount`, which only BuildKit builds, and no Docker CLI"),
])
def test_where_buildkit_must_build_and_no_cli_can_it_is_one_clear_error(docker_client, alpine, monkeypatch,
                                                                         no_docker_cli, builder, dockerfile, why):
    monkeypatch.setenv("LAYERLAB_DOCKER_BUILDER", builder)
    with pytest.raises(LayerLabError) as caught:
        helpers.build(dockerfile, name="nocli", tag="layerlab-test/no-cli:latest", client=docker_client,
                      progress=lambda name, step: None)
    assert caught.value.message.startswith(why)
    assert "there is no `docker` command" in caught.value.message
    assert "docker-buildx" in caught.value.hint and "\n" not in str(caught.value)


@pytest.mark.engine
@pytest.mark.parametrize("builder", ["classic", "buildkit"])
def test_builder_entries_are_buildkit_s_etc_where_a_run_wrote_nothing_there(docker_client, alpine, monkeypatch,
                                                                             builder):
    monkeypatch.setenv("LAYERLAB_DOCKER_BUILDER", builder)
    built = helpers.build(ENTRIES, name="entries", tag=f"layerlab-test/builder-entries-{builder}:latest",
                          client=docker_client, progress=lambda name, step: None)
    analysis = built.analysis
    own = analysis.builder_entries
    note = helpers.builder_note(analysis).data
    if builder == "buildkit":
        assert sorted(zip(own.layer, own.path, own.kind, strict=True)) == [(1, "etc", "dir"), (3, "etc", "dir")]
        files = analysis.files
        assert ((files.layer == 2) & (files.path == "etc")).any()  # L2's /etc is the RUN's own change
        assert note.startswith("**BuildKit** built this image") and "`/etc` in L1 and L3:" in note
    else:
        assert own.empty
        assert note.startswith("The Docker Engine (classic builder) built this image: each layer holds only what")
    # a RUN that changes nothing: BuildKit commits a layer holding /etc, the classic builder an empty_layer entry
    assert len(analysis.image.layers) == (4 if builder == "buildkit" else 3)


@pytest.mark.engine
@pytest.mark.parametrize("how", [signal.SIGINT, signal.SIGKILL], ids=["SIGINT", "SIGKILL"])
def test_an_interrupted_buildkit_build_leaves_no_docker_cli_behind(docker_client, alpine, tmp_path, how):
    """The Docker CLI cancels only on a first signal, and never while blocked: the builder ends it, or the kernel."""
    context = tmp_path / "context"
    context.mkdir()
    # a step no cache can hold (one an earlier run let finish would be CACHED, and the build end with 0)
    (context / "Dockerfile").write_text(f"FROM alpine:3.20.3\nRUN sleep 120 # {uuid.uuid4()}\n")
    tag = f"layerlab-test/interrupted-{how.name.lower()}-{os.getpid()}:latest"
    environment = {**os.environ, "LAYERLAB_DOCKER_BUILDER": "buildkit"}
    # SIGINT as a terminal leaves it: a test run started in the background (`cmd &`) ignores it, and so would the
    # build, which would then run to its end and exit 0
    with subprocess.Popen([sys.executable, "-m", "helpers", "build", str(context), "--tag", tag],
                          stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True, env=environment,
                          preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL)) as cli:
        assert cli.stderr is not None
        for line in cli.stderr:
            if "sleep 120" in line:  # BuildKit reports the step as it starts
                break
        assert processes_naming(tag), "the Docker CLI runs the build"
        cli.send_signal(how)
        rest = cli.stderr.read()
        status = cli.wait(timeout=60)
    if how == signal.SIGINT:
        assert status == 130 and "error: interrupted" in rest
    deadline = time.monotonic() + 10
    while processes_naming(tag) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert processes_naming(tag) == []
