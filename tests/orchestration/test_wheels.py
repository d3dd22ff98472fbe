"""Real wheels from PyPI, measured without unpacking them, and measurements a recording replays only as asked.

The download needs PyPI from this machine (CI reaches it; a machine that does
not skips, saying so).  The hostile wheels are made here: a zip that claims to
unpack to more than any wheel does, a ``.py`` that does not compile.
"""

from __future__ import annotations

import struct
import zipfile

import pytest
from layerlab_fixtures import current_settings, need

from helpers.edges.seed import BOOK_WHEELS
from helpers.ground.errors import LayerLabError
from helpers.orchestration.lab import Lab
from helpers.orchestration.recording import RecordingMissing
from helpers.orchestration.wheels import Wheels, WheelsUnavailable, download, pypi_reason, wheel_contents


@pytest.fixture(scope="module")
def pypi():
    reason = pypi_reason()
    need(reason is None, f"PyPI does not answer here: {reason}")


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
