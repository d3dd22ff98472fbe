"""``python -m helpers``, run as a learner runs it: a subprocess, real inputs, real exit codes.

Bad input must give exactly one ``error: …`` line on stderr, exit status 2, no
traceback, and leave no file behind (the commands run with ``TMPDIR`` pointing
at an empty folder that must still be empty afterwards).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from layerlab_fixtures import BASE, DIVE_DOCKER_IMAGE, FIXTURES, run_failure, saved_format

from helpers.ground.errors import EngineUnavailable
from helpers.ground.settings import BUILDER_LABELS
from helpers.ground.sizes import format_bytes
from helpers.reading.daemon import docker_client as connect

DOCKER_IMAGE = "test-docker-image.tar"
GZIP_IMAGE = "test-oci-gzip-image.tar"
EXIT_BAD_INPUT = 2

# test-docker-image.tar, per layer: (created_by, stored bytes, reclaimable bytes, tar entries), from
# the config's history (the CMD entry is empty_layer) and `tar tvf` of each layer.tar; see
# reading/test_dive_testdata.py for the derivation.
DOCKER_LAYERS = [
    ("/bin/sh -c #(nop) ADD file:ce026b62356eec3ad1214f92be2c9dc063fe205bd5e600be3492c4dfb17148bd in / ",
     1154361, 0, 415),
    ("/bin/sh -c #(nop) ADD file:139c3708fb6261126453e34483abd8bf7b26ed16d952fd976994d68e72d93be2 in /somefile.txt ",
     6405, 0, 1),
    ("/bin/sh -c mkdir -p /root/example/really/nested", 0, 0, 4),
    ("/bin/sh -c cp /somefile.txt /root/example/somefile1.txt", 6405, 6405, 3),
    ("/bin/sh -c chmod 444 /root/example/somefile1.txt", 6405, 6405, 3),
    ("/bin/sh -c cp /somefile.txt /root/example/somefile2.txt", 6405, 6405, 3),
    ("/bin/sh -c cp /somefile.txt /root/example/somefile3.txt", 6405, 6405, 3),
    ("/bin/sh -c mv /root/example/somefile3.txt /root/saved.txt", 6405, 6405, 4),
    ("/bin/sh -c cp /root/saved.txt /root/.saved.txt", 6405, 0, 2),
    ("/bin/sh -c rm -rf /root/example/", 0, 0, 2),
    ("/bin/sh -c #(nop) ADD dir:7ec14b81316baa1a31c38c97686a8f030c98cba2035c968412749e33e0c4427e in /root/.data/ ",
     2187, 0, 4),
    ("/bin/sh -c cp /root/saved.txt /tmp/saved.again1.txt", 6405, 0, 2),
    ("/bin/sh -c cp /root/saved.txt /root/.data/saved.again2.txt", 6405, 0, 3),
    ("/bin/sh -c chmod +x /root/saved.txt", 6405, 0, 2),
]


def run_cli(args: list[str], tmp_path: Path, **env: str) -> subprocess.CompletedProcess:
    """Run ``python -m helpers ARGS`` in ``tmp_path/cwd`` with ``TMPDIR=tmp_path/tmpdir``; check both stay empty."""
    cwd = tmp_path / "cwd"
    scratch = tmp_path / "tmpdir"
    cwd.mkdir(exist_ok=True)
    scratch.mkdir(exist_ok=True)
    environment = {**os.environ, "TMPDIR": str(scratch), **env}
    result = subprocess.run(
        [sys.executable, "-m", "helpers", *args],
        cwd=cwd, env=environment, capture_output=True, text=True, timeout=300,
    )
    assert sorted(p.name for p in scratch.iterdir()) == [], "files left behind in TMPDIR"
    assert sorted(p.name for p in cwd.iterdir()) == [], "files left behind in the working directory"
    return result


def assert_one_error_line(result: subprocess.CompletedProcess, *, only_line: bool = True) -> str:
    """Exit status 2, no traceback, exactly one ``error:`` line (the last one); return it."""
    assert result.returncode == EXIT_BAD_INPUT, result.stderr
    assert "Traceback" not in result.stderr
    assert result.stdout == ""
    lines = result.stderr.splitlines()
    errors = [line for line in lines if line.startswith("error:")]
    assert len(errors) == 1, result.stderr
    assert lines[-1] == errors[0]
    if only_line:
        assert lines == errors
    return errors[0]


# ---------------------------------------------------------------- report


def test_report_json_shape_and_figures(dive_testdata, tmp_path):
    archive = dive_testdata / DOCKER_IMAGE
    result = run_cli(["report", str(archive), "--json"], tmp_path)
    assert result.returncode == 0, result.stderr
    assert result.stderr == ""
    report = json.loads(result.stdout)
    assert report == {
        "source": str(archive),
        "format": "docker-archive",
        "image": DIVE_DOCKER_IMAGE,
        "layers": [
            {"index": i, "created_by": created_by, "stored_bytes": stored, "reclaimable_bytes": lost, "entries": n}
            for i, (created_by, stored, lost, n) in enumerate(DOCKER_LAYERS)
        ],
    }


def test_report_json_carries_the_budget_verdict(dive_testdata, tmp_path):
    archive = dive_testdata / DOCKER_IMAGE
    over = run_cli(["report", str(archive), "--json", "--max-reclaimable", "10KB"], tmp_path)
    assert over.returncode == 1
    verdict = json.loads(over.stdout)["budget"]
    assert verdict == {"max_reclaimable_bytes": 10_000, "min_efficiency": None, "within": False,
                       "broken": over.stderr.splitlines()}
    assert verdict["broken"][0].startswith("over budget: reclaimable bytes 31.3 KiB (32,025 bytes)")
    within = run_cli(["report", str(archive), "--json", "--min-efficiency", "0.5"], tmp_path)
    assert within.returncode == 0 and json.loads(within.stdout)["budget"]["within"] is True
    plain = run_cli(["report", str(archive), "--json"], tmp_path)
    assert "budget" not in json.loads(plain.stdout)  # no budget asked for, no verdict


def test_report_text(dive_testdata, tmp_path):
    archive = dive_testdata / DOCKER_IMAGE
    result = run_cli(["report", str(archive)], tmp_path)
    assert result.returncode == 0, result.stderr
    assert result.stderr == ""
    lines = result.stdout.splitlines()
    # 1220598 B = 1.16 MiB, 1188573 B = 1.13 MiB, 32025 B = 31.27 KiB; 6405 B = 6.25 KiB.
    assert lines[:8] == [
        f"source      {archive}",
        "format      docker-archive",
        "layers      14",
        "stored           1,220,598 B  (1.2 MiB)",
        "final            1,188,573 B  (1.1 MiB)",
        "reclaimable         32,025 B  (31.3 KiB)",
        "efficiency  0.9738   (dive: 0.9844, wasted 31.3 KiB)",
        "",
    ]
    assert lines[8].split() == ["layer", "stored", "reclaimable", "entries", "instruction"]
    assert lines[9 + 3] == "    3     6.3 KiB      6.3 KiB        3  RUN cp /somefile.txt /root/example/somefile1.txt"
    assert lines[9 + 9] == "    9         0 B          0 B        2  RUN rm -rf /root/example/"
    # then every reclaimable file (five here, 6,405 B each: the 32,025 B above), with who stores and who hides it
    assert lines[9 + 14:9 + 14 + 3] == [
        "", "top reclaimable files (5 of 5; stored in one layer, hidden by a later one)",
        "      size  stored in  hidden by  how       path"]
    files = [line.split() for line in lines[9 + 14 + 3:]]
    assert len(files) == 5
    assert files[0] == ["6.3", "KiB", "layer", "3", "layer", "4", "replaced", "root/example/somefile1.txt"]
    assert ["6.3", "KiB", "layer", "4", "layer", "9", "deleted", "root/example/somefile1.txt"] in files


def test_report_oci_archive_json(dive_testdata, tmp_path):
    result = run_cli(["report", str(dive_testdata / GZIP_IMAGE), "--json"], tmp_path)
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    assert report["format"] == "oci-archive"
    assert report["image"]["stored_bytes"] == report["image"]["final_bytes"] == 11189
    assert report["layers"] == [
        {"index": 0, "created_by": "COPY README.md /README.md # buildkit", "stored_bytes": 11189,
         "reclaimable_bytes": 0, "entries": 1}
    ]


def test_no_engine_and_no_such_file(tmp_path):
    result = run_cli(["report", "no-such-image-or-file:1.0"], tmp_path, DOCKER_HOST="unix:///nonexistent.sock")
    line = assert_one_error_line(result)
    assert "no Docker Engine answered at unix:///nonexistent.sock" in line


@pytest.mark.parametrize("path", ["./mistyped.tar", "/srv/images/app.tar.gz", "~/image.tar", "backup.TAR",
                                  "/tmp/no/layout:v1"])
def test_a_mistyped_path_is_named_a_missing_path_never_a_missing_engine(tmp_path, path):
    """Docker refuses a name that starts with / . or ~: such a source is a path, whether an engine answers or not."""
    for engine in ("unix:///nonexistent.sock", os.environ.get("DOCKER_HOST", "unix:///var/run/docker.sock")):
        line = assert_one_error_line(run_cli(["report", path], tmp_path, DOCKER_HOST=engine))
        assert line.startswith(f"error: {path} does not exist (check the path"), line
        assert "Docker" not in line


def test_not_a_tar(tmp_path):
    inputs = tmp_path / "inputs"
    inputs.mkdir()
    garbage = inputs / "garbage.tar"
    garbage.write_bytes(b"this is not a tar archive\n" * 100)
    result = run_cli(["report", str(garbage)], tmp_path)
    line = assert_one_error_line(result)
    assert line.startswith(f"error: {garbage} is not a readable tar archive")
    assert sorted(p.name for p in inputs.iterdir()) == ["garbage.tar"]


def test_truncated_archive(dive_testdata, tmp_path):
    inputs = tmp_path / "inputs"
    inputs.mkdir()
    data = (dive_testdata / GZIP_IMAGE).read_bytes()
    truncated = inputs / "truncated.tar"
    truncated.write_bytes(data[: len(data) // 2])
    result = run_cli(["report", str(truncated), "--json"], tmp_path)
    line = assert_one_error_line(result)
    assert str(truncated) in line
    assert sorted(p.name for p in inputs.iterdir()) == ["truncated.tar"]


def test_truncated_archive_is_called_truncated(dive_testdata, tmp_path):
    """A cut-off download must be reported as truncated, with the fix "download it again".

    Telling the learner to "pass a `docker save` archive, an OCI layout … or an
    image name" sends them after the wrong cause: the file *is* an OCI archive.
    """
    data = (dive_testdata / GZIP_IMAGE).read_bytes()
    download = tmp_path / "download.tar"  # a name that does not itself say "truncated"
    download.write_bytes(data[: len(data) // 2])
    result = run_cli(["report", str(download)], tmp_path)
    line = assert_one_error_line(result)
    assert "truncated" in line.replace(str(download), "")


@pytest.mark.parametrize("members", [["oci-layout"], ["oci-layout", "blobs/sha256/"], []])
def test_layout_directory_without_index(tmp_path, members):
    layout = tmp_path / "layout"
    layout.mkdir()
    for member in members:
        if member.endswith("/"):
            (layout / member).mkdir(parents=True)
        else:
            (layout / member).write_text('{"imageLayoutVersion": "1.0.0"}')
    before = sorted(str(p.relative_to(layout)) for p in layout.rglob("*"))
    result = run_cli(["report", str(layout), "--json"], tmp_path)
    line = assert_one_error_line(result)
    assert line.startswith(f"error: {layout} has neither manifest.json nor index.json")
    assert sorted(str(p.relative_to(layout)) for p in layout.rglob("*")) == before


def test_no_engine_at_a_socket_that_does_not_exist(monkeypatch):
    """A fault injected on purpose: DOCKER_HOST names a socket that is not there."""
    monkeypatch.setenv("DOCKER_HOST", "unix:///nonexistent.sock")
    with pytest.raises(EngineUnavailable) as caught:
        connect()
    assert caught.value.message == "no Docker Engine answered at unix:///nonexistent.sock: no such socket"
    assert caught.value.hint is not None


# ---------------------------------------------------------------- build


@pytest.mark.engine
def test_build_failing_run_names_the_step_and_shows_the_log(docker_client, alpine, tmp_path):
    import docker.errors

    tag = "layerlab-test/cli-failing-run:latest"
    context = tmp_path / "context"
    context.mkdir()
    (context / "Dockerfile").write_text("FROM alpine:3.20.3\nRUN echo boom-output && false\n")
    result = run_cli(["build", str(context), "-t", tag], tmp_path)
    line = assert_one_error_line(result, only_line=False)
    # The progress lines before it name the steps that landed.
    base = docker_client.images.get("alpine:3.20.3").id.split(":")[1][:12]
    assert result.stderr.splitlines()[0] == (
        f"[{tag}] step 1/2  FROM alpine:3.20.3  → base alpine:3.20.3 {base}, made locally")
    assert "step 2/2 `RUN echo boom-output && false` failed" in line
    assert run_failure("echo boom-output && false", 1).search(line)
    head, _, tail = line.partition("last lines of its log:")
    assert tail.split() == ["boom-output"]
    assert sorted(p.name for p in context.iterdir()) == ["Dockerfile"]
    with pytest.raises(docker.errors.ImageNotFound):
        docker_client.images.get(tag)


@pytest.mark.engine
def test_build_with_a_missing_base_image_offline(docker_client, tmp_path):
    context = tmp_path / "context"
    context.mkdir()
    (context / "Dockerfile").write_text("FROM alpine:0.0-missing\nRUN true\n")
    result = run_cli(["build", str(context), "-t", "layerlab-test/cli-missing-base:latest"], tmp_path,
                     LAYERLAB_OFFLINE="1")
    line = assert_one_error_line(result)
    assert line.startswith("error: base image alpine:0.0-missing is not in the engine")
    assert "LAYERLAB_OFFLINE=1" in line
    assert sorted(p.name for p in context.iterdir()) == ["Dockerfile"]


@pytest.mark.engine
def test_build_json(docker_client, alpine, tmp_path):
    """The shadowed fixture through the CLI: 1000 + 300 bytes stored at /f, the 1000 shadowed."""
    context = FIXTURES / "shadowed"
    result = run_cli(["build", str(context), "-t", "layerlab-test/shadowed:latest", "--json"], tmp_path)
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    assert report["source"] == "layerlab-test/shadowed:latest"
    assert report["format"] == "docker-engine/" + saved_format(docker_client)
    builder = report["built_by"]
    assert builder in ("docker", "docker+buildkit")
    assert report["image"]["stored_bytes"] == BASE + 1300
    assert report["image"]["final_bytes"] == BASE + 300
    assert report["image"]["reclaimable_bytes"] == 1000
    assert [(layer["stored_bytes"], layer["reclaimable_bytes"]) for layer in report["layers"]] == [
        (BASE, 0), (1000, 1000), (300, 0)
    ]
    base = docker_client.images.get("alpine:3.20.3").id.split(":")[1][:12]
    assert result.stderr.splitlines() == [
        f"[layerlab-test/shadowed:latest] step 1/3  FROM alpine:3.20.3  → base alpine:3.20.3 {base}, made locally",
        "[layerlab-test/shadowed:latest] step 2/3  RUN head -c 1000 /dev/zero > /f",
        "[layerlab-test/shadowed:latest] step 3/3  RUN head -c 300 /dev/zero > /f",
        f"[layerlab-test/shadowed:latest] built by {BUILDER_LABELS[builder]} from alpine:3.20.3 (made locally): "
        f"3 layers, {format_bytes(BASE + 1300)} stored: L0 {format_bytes(BASE)} · L1 1000 B · L2 300 B",
    ]


def test_the_help_texts_are_plain_text_and_say_what_is_true(tmp_path):
    top = run_cli(["--help"], tmp_path)
    assert top.returncode == 0 and "``" not in top.stdout
    build = run_cli(["build", "--help"], tmp_path)
    assert "embedded" in build.stdout and "Docker" in build.stdout


# ---------------------------------------------------------------- settings

#: A value each ``LAYERLAB_*`` setting cannot take, and the words its error must hold.
UNREADABLE_SETTINGS = {
    "LAYERLAB_OFFLINE": "maybe", "LAYERLAB_ENGINE": "podman", "LAYERLAB_RECORD": "perhaps",
    "LAYERLAB_STORE": "~nosuchuser-layerlab/x", "LAYERLAB_ROOTFS": "/no/such/folder",
    "LAYERLAB_APKINDEX": "/no/such/folder", "LAYERLAB_DEBIAN_MIRROR": "mirror.example",
    "LAYERLAB_RUN": "chroot", "LAYERLAB_VERIFY": "sometimes", "LAYERLAB_DOCKER_BUILDER": "kaniko",
    "LAYERLAB_BUILDS_AT_ONCE": "all of them",
    "LAYERLAB_MAX_ENTRIES": "lots", "LAYERLAB_MAX_EXPANDED_BYTES": "-1", "LAYERLAB_MAX_METADATA_BYTES": "1 banana",
    "LAYERLAB_MAX_RECORDING_ENTRIES": "1.5", "LAYERLAB_MAX_ADD_BYTES": "0x10", "LAYERLAB_MAX_ADD_ENTRIES": "many",
}


def test_every_setting_has_an_unreadable_value_below():
    from helpers.ground import settings
    from helpers.ground.limits import ALL

    variables = {value for key, value in vars(settings).items() if key.endswith("_VARIABLE")}
    assert set(UNREADABLE_SETTINGS) == variables | {limit.variable for limit in ALL}


@pytest.mark.parametrize("variable", sorted(UNREADABLE_SETTINGS))
def test_a_setting_that_cannot_be_read_stops_the_report_in_one_line_naming_it(dive_testdata, tmp_path, variable):
    setting = {variable: UNREADABLE_SETTINGS[variable]}
    result = run_cli(["report", str(dive_testdata / DOCKER_IMAGE)], tmp_path, **setting)
    assert variable in assert_one_error_line(result)
