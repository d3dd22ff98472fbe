"""Real wheels from PyPI, measured without unpacking them, and measurements a recording replays only as asked.

The download needs PyPI from this machine (CI reaches it; a machine that does
not skips, saying so).  The hostile wheels are made here: a zip that claims to
unpack to more than any wheel does, a ``.py`` that does not compile.
"""

from __future__ import annotations

import os
import struct
import zipfile

import pytest
from layerlab_fixtures import current_settings, need

from helpers.edges.seed import BOOK_WHEELS
from helpers.ground.errors import LayerLabError
from helpers.orchestration.lab import Lab
from helpers.orchestration.recording import RecordingMissing
from helpers.orchestration.wheels import Wheels, WheelsUnavailable, download, wheel_contents, wheels_context


def test_pinned_wheels_download_and_measure_the_same_every_time(pypi, tmp_path):
    first = [wheel_contents(path) for path in download(BOOK_WHEELS, tmp_path / "a")]
    again = [wheel_contents(path) for path in download(BOOK_WHEELS, tmp_path / "b")]
    assert first == again and len(first) == len(BOOK_WHEELS.pins)
    django = first[0]
    assert django["wheel"].lower().startswith("django-3.2.25")
    assert django["unpacked_bytes"] > django["wheel_bytes"] > 0 and django["bytecode_bytes"] > 0
    assert not list(tmp_path.glob("a/**/django"))  # read from the zip's directory, never unpacked


def test_a_pin_that_does_not_exist_is_one_line(pypi, tmp_path):
    with pytest.raises(WheelsUnavailable) as caught:
        download(Wheels(("django==0.0.0.0.1",), "3.11"), tmp_path)
    assert "\n" not in caught.value.message


def test_a_wheel_that_claims_to_unpack_to_terabytes_is_refused_without_unpacking(tmp_path):
    path = tmp_path / "bomb-1.0-py3-none-any.whl"
    with zipfile.ZipFile(path, "w") as archive:
        for number in range(3):
            archive.writestr(f"bomb/data{number}.py", b"x = 1\n")
    data = bytearray(path.read_bytes())
    central = data.find(b"PK\x01\x02")
    while central >= 0:  # each entry of the central directory now says 4 GiB
        struct.pack_into("<I", data, central + 24, 0xFFFFFFF0)
        central = data.find(b"PK\x01\x02", central + 4)
    path.write_bytes(bytes(data))
    with pytest.raises(LayerLabError, match="says it unpacks to"):
        wheel_contents(path)


def test_a_module_that_does_not_compile_counts_no_bytecode(tmp_path):
    path = tmp_path / "broken-1.0-py3-none-any.whl"
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("broken/__init__.py", "def (:\n")
        archive.writestr("broken/ok.py", "x = 1\n")
    measured = wheel_contents(path)
    assert measured["python_files"] == 2 and 0 < measured["bytecode_bytes"] < 200


def test_a_measurement_replays_only_for_what_was_asked(tmp_path, monkeypatch):
    monkeypatch.setenv("LAYERLAB_RECORD", "1")
    recording = tmp_path / "measured.json.gz"
    live = Lab(recording, needs=[], settings=current_settings())
    need(live.live, f"nothing can build here: {live.reason}")
    assert live.measure("answer", "the question", lambda: {"value": 42}) == {"value": 42}
    monkeypatch.setenv("LAYERLAB_ENGINE", "recorded")
    replay = Lab(recording, needs=["engine"], settings=current_settings())
    assert not replay.live
    assert replay.measure("answer", "the question", lambda: pytest.fail("a replay must not measure")) == {"value": 42}
    with pytest.raises(RecordingMissing, match="no recording of 'answer' as asked now"):
        replay.measure("answer", "another question", lambda: None)


SIX = Wheels(("six==1.16.0",), "3.11")
SIX_DOCKERFILE = "FROM alpine:3.20.3\nCOPY wheels /wheels\n"


def _wheels_folders(folder) -> list:
    return sorted(path.name for path in folder.glob("layerlab-wheels-*"))


@pytest.mark.engine
def test_the_wheels_context_lives_only_as_long_as_its_builds(pypi, tmp_path, monkeypatch):
    """A kernel killed after a cell that built with wheels leaves no downloaded wheels behind."""
    import tempfile

    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    lab = Lab(tmp_path / "none.json.gz", needs=["engine"], settings=current_settings())
    need(lab.live, f"nothing can build here: {lab.reason}")
    built = lab.build({"wheels-lifetime": SIX_DOCKERFILE}, SIX)["wheels-lifetime"]
    assert "wheels/six-1.16.0-py2.py3-none-any.whl" in set(built.files.path)  # the build had them
    assert _wheels_folders(tmp_path) == []  # and they are gone once it is done


def test_an_interrupted_build_removes_the_wheels_it_downloaded(pypi, tmp_path, monkeypatch):
    import tempfile

    from helpers.orchestration import lab as lab_module

    def interrupted(variants, context, **options):  # a learner's Ctrl-C (Jupyter's interrupt) mid-build
        assert (context / "wheels").is_dir() and list((context / "wheels").glob("six-*.whl"))
        raise KeyboardInterrupt

    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    lab = Lab(tmp_path / "none.json.gz", needs=[], settings=current_settings())
    need(lab.live, f"nothing can build here: {lab.reason}")
    monkeypatch.setattr(lab_module, "attempt_builds", interrupted)
    with pytest.raises(KeyboardInterrupt):
        lab.attempt({"interrupted": SIX_DOCKERFILE}, SIX)
    assert _wheels_folders(tmp_path) == []


def test_beside_a_project_the_context_holds_its_files_the_wheels_and_the_dockerignore(pypi, tmp_path):
    project = tmp_path / "project"
    (project / "app").mkdir(parents=True)
    (project / "app" / "main.py").write_text("print('hi')\n")
    (project / "outside").symlink_to("/etc/passwd")  # a link is copied as a link, never followed
    wheels = SIX.beside(project, "wheels/\n")
    with wheels_context(wheels) as context:
        assert (context / "app" / "main.py").read_text() == "print('hi')\n"
        assert (context / "outside").is_symlink() and os.readlink(context / "outside") == "/etc/passwd"
        assert (context / ".dockerignore").read_text() == "wheels/\n"
        assert [path.name for path in (context / "wheels").iterdir()] == ["six-1.16.0-py2.py3-none-any.whl"]
    assert not context.exists()


def test_a_project_context_s_digest_follows_its_files_and_its_dockerignore(tmp_path):
    project = tmp_path / "project"
    project.mkdir()
    (project / "app.py").write_text("one\n")
    plain, ignoring = SIX.beside(project), SIX.beside(project, "wheels/\n")
    digests = {SIX.digest, plain.digest, ignoring.digest}
    (project / "app.py").write_text("two\n")
    digests.add(SIX.beside(project).digest)
    assert len(digests) == 4  # the pins alone, the project, the project with a .dockerignore, the edited project
    assert SIX.beside(project).digest == SIX.beside(project).digest


@pytest.mark.parametrize("made_here", ["wheels", ".dockerignore"])
def test_a_project_that_brings_its_own_wheels_or_dockerignore_is_refused(tmp_path, made_here):
    project = tmp_path / "project"
    project.mkdir()
    (project / made_here).mkdir()
    with pytest.raises(LayerLabError, match="has its own wheels/ or .dockerignore"):
        _ = SIX.beside(project).digest
    assert sorted(path.name for path in project.iterdir()) == [made_here]  # nothing of the project is touched


def test_a_fifo_in_the_project_is_refused_and_never_blocks_the_copy(tmp_path):
    """A FIFO would block a plain copy forever: the digest never opens it, and the copy refuses it."""
    project = tmp_path / "project"
    project.mkdir()
    os.mkfifo(project / "pipe")
    assert SIX.beside(project).digest.startswith("wheels:")  # hashed by name and mode, never read
    with pytest.raises(LayerLabError, match="pipe in the project folder is not a regular file"):
        with wheels_context(SIX.beside(project)):
            pass


def test_a_project_past_its_limit_is_one_clear_error_before_anything_is_copied(tmp_path, monkeypatch):
    from helpers.orchestration import wheels as wheels_module

    monkeypatch.setattr(wheels_module, "MAX_PROJECT_BYTES", 1000)
    project = tmp_path / "project"
    project.mkdir()
    (project / "data.bin").write_bytes(b"x" * 2000)
    with pytest.raises(LayerLabError):
        _ = SIX.beside(project).digest


def test_a_project_that_is_a_link_is_refused(tmp_path):
    real = tmp_path / "real"
    real.mkdir()
    (tmp_path / "link").symlink_to(real)
    with pytest.raises(LayerLabError, match="is not a folder"):
        _ = SIX.beside(tmp_path / "link").digest
