"""Hostile Dockerfiles, arguments, environments and recordings at the edges: one line, exit 2, nothing left behind.

Each test makes its own bad input.  The CLI cases run the real command in a
fresh process (``run_cli`` checks that nothing is left in the working folder
or in ``TMPDIR``); the recording cases mutate a small real recording, field by
field.
"""

from __future__ import annotations

import copy
import gzip
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from archives import FILE, TEN, docker_archive, make_layer, read_every_way
from test_cli import assert_one_error_line, run_cli

import helpers
from helpers.ground.dockerfile import base_images, dockerfile_text
from helpers.ground.errors import ArchiveError, DockerfileError
from helpers.ground.limits import Limits
from helpers.ground.references import check_tag
from helpers.orchestration.recording import RecordingWriter, load_recording
from helpers.reading.source import check_platform

ROOT = Path(__file__).resolve().parents[2]


# ---------------------------------------------------------------- Dockerfiles, before any engine


@pytest.mark.parametrize("text", ["ARG BASE\nFROM $BASE\n", "FROM ${NOPE}\n", "ARG B=\nFROM $B:3\n"])
def test_a_from_that_uses_an_unset_arg_is_one_clear_error(text):
    with pytest.raises(DockerfileError, match="which is unset"):
        base_images(text)


def test_a_from_with_an_arg_default_is_accepted():
    assert base_images("ARG BASE=alpine:3.20.3\nFROM $BASE\n") == ["alpine:3.20.3"]


def test_a_binary_dockerfile_names_the_byte(tmp_path):
    data = b"FROM alpine:3.20.3\nRUN echo \xff\xfe\n"
    with pytest.raises(DockerfileError, match=r"byte 28 \(0xff\) is not valid UTF-8"):
        dockerfile_text(data)
    (tmp_path / "Dockerfile").write_bytes(data)
    with pytest.raises(DockerfileError, match="is not UTF-8 text"):
        dockerfile_text(tmp_path / "Dockerfile")


def test_a_byte_order_mark_is_dropped_as_docker_drops_it(tmp_path):
    (tmp_path / "Dockerfile").write_bytes(b"\xef\xbb\xbfFROM alpine:3.20.3\n")
    text, _ = dockerfile_text(tmp_path / "Dockerfile")
    assert base_images(text) == ["alpine:3.20.3"]
    assert base_images(dockerfile_text("\ufeffFROM alpine:3.20.3\n")[0]) == ["alpine:3.20.3"]


@pytest.mark.parametrize("tag", ["Bad Tag!", "UPPER/case", "a:b:c", "x@sha256:00", "", "a" * 300, "name:-dash"])
def test_a_tag_docker_would_refuse_is_refused_first(tag):
    with pytest.raises(DockerfileError, match="not a valid image name|empty|characters"):
        check_tag(tag)


@pytest.mark.parametrize("tag", ["layerlab/my-image:1.0", "localhost:5000/a/b:latest", "a__b", "x-y--z:v1"])
def test_valid_tags_are_kept(tag):
    assert check_tag(tag) == tag


@pytest.mark.parametrize("platform", ["banana", "linux", "linux/banana", "plan10/amd64", "linux/arm/7", "a/b/c/d"])
def test_a_platform_that_is_none_is_refused(platform):
    with pytest.raises(Exception, match="is not a platform"):
        check_platform(platform)


# ---------------------------------------------------------------- the command line


def test_report_into_a_closed_pipe_stops_quietly(tmp_path):
    path = tmp_path / "image.tar"
    path.write_bytes(docker_archive([make_layer(*((f"f{i}", b"x", FILE, None) for i in range(50)))] * 3))
    reader = subprocess.run(f"{sys.executable} -m helpers report {path} | head -1", shell=True, cwd=ROOT,
                            capture_output=True, text=True, timeout=120)
    assert reader.stdout.startswith("source")
    assert reader.stderr == ""


def test_build_with_a_bad_tag_is_exit_2_and_one_line(tmp_path):
    (tmp_path / "Dockerfile").write_text("FROM alpine:3.20.3\n")
    line = assert_one_error_line(run_cli(["build", str(tmp_path / "Dockerfile"), "-t", "Bad Tag!"], tmp_path))
    assert "'Bad Tag!' is not a valid image name: it holds a space" in line


def test_report_with_a_platform_that_is_none_is_exit_2(tmp_path):
    path = tmp_path / "image.tar"
    path.write_bytes(docker_archive([TEN]))
    done = run_cli(["report", str(path), "--platform", "banana"], tmp_path)
    assert done.returncode == 2 and "is not a platform" in done.stderr and "Traceback" not in done.stderr


@pytest.mark.parametrize("args", [["--max-reclaimable", "-5MB"], ["--max-reclaimable=-5MB"]])
def test_a_negative_budget_says_a_size_cannot_be_negative(tmp_path, args):
    path = tmp_path / "image.tar"
    path.write_bytes(docker_archive([TEN]))
    done = run_cli(["report", str(path), *args], tmp_path)
    assert done.returncode == 2, done.stderr
    assert "a size cannot be negative" in done.stderr and "expected one argument" not in done.stderr


@pytest.mark.parametrize("value", ["1G", "lots", "-5"])
def test_a_limit_variable_that_cannot_be_read_is_exit_2_and_one_line(tmp_path, value):
    path = tmp_path / "image.tar"
    path.write_bytes(docker_archive([TEN]))
    done = run_cli(["report", str(path)], tmp_path, LAYERLAB_MAX_ENTRIES=value)
    line = assert_one_error_line(done)
    assert "LAYERLAB_MAX_ENTRIES" in line


def _many_entries(tmp_path: Path) -> Path:
    path = tmp_path / "many.tar"
    path.write_bytes(docker_archive([make_layer(*((f"{layer}/f{i}", b"", FILE, None) for i in range(3_000)))
                                     for layer in range(2)]))
    return path


def test_a_limit_set_in_the_environment_holds_through_the_command_line_and_the_door(tmp_path, monkeypatch):
    """The edges read the settings once and hand them down: nothing below reads the environment itself."""
    path = _many_entries(tmp_path)
    line = assert_one_error_line(run_cli(["report", str(path)], tmp_path, LAYERLAB_MAX_ENTRIES="5000"))
    assert "past the ceiling of 5,000 tar entries" in line
    assert run_cli(["report", str(path)], tmp_path, LAYERLAB_MAX_ENTRIES="6000").returncode == 0
    monkeypatch.setenv("LAYERLAB_MAX_ENTRIES", "5000")
    with pytest.raises(ArchiveError, match="past the ceiling of 5,000 tar entries"):
        helpers.read_image(path)
    monkeypatch.setenv("LAYERLAB_MAX_ENTRIES", "6000")  # the next call through the door reads it again
    assert len(helpers.analyze(helpers.read_image(path)).files) == 6_000


@pytest.mark.parametrize(("variable", "value"), [("LAYERLAB_RUN", "banana"), ("LAYERLAB_ENGINE", "podman")])
def test_a_bad_setting_stops_any_command_before_it_starts(tmp_path, variable, value):
    path = tmp_path / "image.tar"
    path.write_bytes(docker_archive([TEN]))
    line = assert_one_error_line(run_cli(["report", str(path)], tmp_path, **{variable: value}))
    assert repr(value) in line


def test_an_engine_that_is_not_there_is_named_in_words_not_a_repr(tmp_path):
    (tmp_path / "Dockerfile").write_text("FROM alpine:3.20.3\n")
    done = run_cli(["build", str(tmp_path / "Dockerfile"), "--engine", "docker"], tmp_path,
                   DOCKER_HOST="unix:///nonexistent/docker.sock")
    line = assert_one_error_line(done)
    assert "no such socket" in line
    assert "FileNotFoundError" not in line and "Connection aborted" not in line and "(2," not in line


# ---------------------------------------------------------------- recordings


@pytest.fixture()
def small_recording(tmp_path) -> Path:
    """A real recording of two small images and one failed build, written by the project's own writer."""
    writer = RecordingWriter({"recorded_on": "2026-12-02", "engine": "Docker Engine", "engine_version": "test",
                              "platform": "linux/amd64"})
    two = docker_archive([TEN, make_layer(("b", b"y" * 3, FILE, None))])
    writer.add_build("two", "FROM scratch\n", None, read_every_way(two))
    writer.add_read("base", read_every_way(docker_archive([TEN])))
    from helpers.ground.errors import BuildFailed

    writer.add_build("broken", "FROM scratch\nRUN false\n", None,
                     BuildFailed("it failed", "fix it", ["log"], step=2, instruction="RUN false", reason="exit 1"))
    return writer.write(tmp_path / "small.json.gz")


def _paths(value: object, prefix: tuple = ()) -> list[tuple]:
    found = [prefix] if prefix else []
    if isinstance(value, dict):
        for key, item in value.items():
            found += _paths(item, (*prefix, key))
    elif isinstance(value, list):
        for index, item in enumerate(value[:3]):
            found += _paths(item, (*prefix, index))
    return found


def _write(path: Path, document: object) -> None:
    with gzip.open(path, "wb") as stream:
        stream.write(json.dumps(document).encode())


def test_every_field_of_a_recording_tampered_with_is_one_clear_error(small_recording, tmp_path):
    document = json.loads(gzip.open(small_recording).read())
    assert load_recording(small_recording).outcomes  # the untampered one replays
    tampered = tmp_path / "tampered.json.gz"
    tried = refused = 0
    for where in _paths(document):
        for wrong in (None, [], {}, "x", 5, [1, 2], {"a": 1}, True):
            changed = copy.deepcopy(document)
            holder = changed
            for key in where[:-1]:
                holder = holder[key]
            holder[where[-1]] = wrong
            _write(tampered, changed)
            tried += 1
            try:
                load_recording(tampered)
            except ArchiveError:
                refused += 1
    assert tried > 500 and refused > tried // 2


@pytest.mark.parametrize("case", ["wrong arity", "list for a mapping", "missing key", "unknown layer",
                                  "unknown builder"])
def test_the_tampering_seen_in_the_wild_names_the_field(small_recording, tmp_path, case):
    document = json.loads(gzip.open(small_recording).read())
    digest = next(iter(document["layers"]))
    if case == "wrong arity":
        document["layers"][digest]["entries"][0] = ["a", "file"]
    elif case == "list for a mapping":
        document["images"] = [1, 2]
    elif case == "missing key":
        del document["builds"]["two"]["dockerfile"]
    elif case == "unknown builder":
        document["images"]["build/two"]["built_by"] = "kaniko"
    else:
        document["images"]["build/two"]["layers"].append("sha256:nothere")
    _write(small_recording, document)
    with pytest.raises(ArchiveError, match="is malformed: (layers|images|builds)"):
        load_recording(small_recording)


def test_a_recording_past_the_entry_ceiling_is_refused_before_it_is_replayed(small_recording):
    with pytest.raises(ArchiveError, match="past the ceiling of 2.*LAYERLAB_MAX_RECORDING_ENTRIES"):
        load_recording(small_recording, Limits(recording_entries=2))


def test_a_small_recording_of_dense_rows_is_refused_before_a_row_is_made(tmp_path):
    import tracemalloc

    path = tmp_path / "dense.json.gz"
    with gzip.open(path, "wb") as stream:  # about 1 MB on disk; 3 million rows once parsed
        stream.write(b'{"format": "layerlab-recording", "version": 2, "layers": {"sha256:x": {"entries": [')
        stream.write(b'["a","file",1,0,0,0,""],' * 3_000_000 + b'["a","file",1,0,0,0,""]]}}}')
    assert path.stat().st_size < 2 << 20
    tracemalloc.start()
    with pytest.raises(ArchiveError, match="rows, past its ceiling"):
        load_recording(path)
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    assert peak < 300 << 20  # the decompressed text, never its rows


def test_a_layer_no_image_uses_is_refused(small_recording):
    document = json.loads(gzip.open(small_recording).read())
    document["layers"]["sha256:" + "0" * 64] = next(iter(document["layers"].values()))
    _write(small_recording, document)
    with pytest.raises(ArchiveError, match="layers that no image uses"):
        load_recording(small_recording)


def test_one_layer_listed_thousands_of_times_meets_the_live_reader_s_ceiling(small_recording):
    document = json.loads(gzip.open(small_recording).read())
    image = document["images"]["build/two"]
    image["layers"] = image["layers"] * 1_500
    _write(small_recording, document)
    with pytest.raises(ArchiveError, match="past the ceiling of 2,000 a live read keeps to"):
        load_recording(small_recording, Limits(entries=2_000))


@pytest.mark.parametrize("value", [-1, 10**30])
def test_a_size_no_tar_could_hold_is_refused(small_recording, value):
    document = json.loads(gzip.open(small_recording).read())
    next(iter(document["layers"].values()))["entries"][0][2] = value
    _write(small_recording, document)
    with pytest.raises(ArchiveError, match="which no size or id can be"):
        load_recording(small_recording)


def test_a_recording_that_decompresses_past_its_budget_is_refused(tmp_path):
    path = tmp_path / "bomb.json.gz"
    with gzip.open(path, "wb") as stream:
        stream.write(b'{"format": "layerlab-recording", "pad": "' + b" " * (70 << 20) + b'"}')
    with pytest.raises(ArchiveError, match="decompression bomb"):
        load_recording(path, Limits(recording_entries=1))


def test_a_recording_nested_past_the_stack_is_one_clear_error(tmp_path):
    path = tmp_path / "deep.json.gz"
    with gzip.open(path, "wb") as stream:
        stream.write(b"[" * 200_000 + b"]" * 200_000)
    with pytest.raises(ArchiveError, match="nests deeper"):
        load_recording(path)


# ---------------------------------------------------------------- leftovers


@pytest.mark.engine
def test_a_build_with_no_context_leaves_no_folder_in_tmp(tmp_path, monkeypatch, alpine):
    import helpers

    scratch = tmp_path / "tmp"
    scratch.mkdir()
    monkeypatch.setenv("TMPDIR", str(scratch))
    monkeypatch.setattr("tempfile.tempdir", None)
    helpers.build("FROM alpine:3.20.3\nRUN true\n", name="no-context", engine="docker")
    assert os.listdir(scratch) == []


@pytest.mark.parametrize("where", ["a folder", "under a file", "a long name"])
def test_record_refuses_an_output_it_cannot_write_before_it_builds_anything(tmp_path, where):
    (tmp_path / "file").write_text("x")
    output = {"a folder": tmp_path, "under a file": tmp_path / "file" / "r.json.gz",
              "a long name": tmp_path / ("r" * 250 + ".json.gz")}[where]
    dockerfile = tmp_path / "Dockerfile"
    dockerfile.write_text("FROM scratch\nCOPY nothing-here /\n")  # would fail if it were ever built
    done = subprocess.run([sys.executable, "-m", "helpers", "record", str(output), "-v", f"v={dockerfile}"],
                          capture_output=True, text=True, cwd=ROOT)
    assert done.returncode == 2 and done.stderr.count("\n") == 1 and done.stderr.startswith("error: ")
    assert "nothing-here" not in done.stderr


def test_a_source_name_longer_than_the_system_allows_is_one_line():
    done = subprocess.run([sys.executable, "-m", "helpers", "report", "a" * 100_000], capture_output=True,
                          text=True, cwd=ROOT)
    assert done.returncode == 2 and done.stderr.count("\n") == 1 and len(done.stderr) < 2_500
