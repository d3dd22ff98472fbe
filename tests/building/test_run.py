"""A command in a throwaway container of a base image, with either engine: what it prints, nothing it keeps.

The same script runs in the Docker Engine and in the embedded builder; both must
print the same, see the files placed for them, have no network offline, and
keep nothing between runs (``docker run --rm``).
"""

from __future__ import annotations

import pytest
from layerlab_fixtures import ALPINE_TARBALLS, current_settings, embedded_tools

from helpers.building.docker_builder import DockerBuilder
from helpers.building.embedded import EmbeddedBuilder

SCRIPT = """
cat /etc/alpine-release
cat /srv/given/file.txt
ls /sys/class/net
[ -e /left-behind ] && echo "a file from an earlier run is here"
touch /left-behind
id -u
"""


@pytest.fixture
def builders(docker_client, alpine, tmp_path, monkeypatch):
    embedded_tools()
    monkeypatch.setenv("LAYERLAB_STORE", str(tmp_path / "store"))
    monkeypatch.setenv("LAYERLAB_ROOTFS", str(ALPINE_TARBALLS))
    settings = current_settings()
    return {"docker": DockerBuilder(docker_client, settings=settings), "embedded": EmbeddedBuilder(settings=settings)}


def test_both_engines_run_the_same_script_alike_and_keep_nothing(builders):
    outputs = {}
    for name, builder in builders.items():
        for _ in range(2):  # the second run must not see the first one's file
            done = builder.run("alpine:3.20.3", SCRIPT, {"/srv/given/file.txt": b"placed\n"})
            assert done.returncode == 0, done.stderr
            outputs.setdefault(name, []).append(done.stdout)
    assert outputs["docker"][0] == outputs["docker"][1] == outputs["embedded"][0] == outputs["embedded"][1]
    lines = outputs["docker"][0].split()
    assert lines == ["3.20.3", "placed", "lo", "0"]  # offline: no network but the loopback


def test_a_failing_script_is_its_exit_status_and_its_words(builders):
    for builder in builders.values():
        done = builder.run("alpine:3.20.3", "echo out; echo err >&2; exit 7")
        assert (done.returncode, done.stdout, done.stderr.strip()) == (7, "out\n", "err")
