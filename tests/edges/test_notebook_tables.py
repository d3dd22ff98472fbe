"""The notebooks' tables (helpers.edges.notebook) on real builds: sizes people read, from measured figures."""

from __future__ import annotations

import shutil
import subprocess

import pytest

import helpers
from helpers.edges.notebook import docker_units, familiar_sizes, headline, layer_table, ours_and_dives


@pytest.mark.engine
def test_docker_history_s_size_column_is_the_docker_cli_s(lab, docker_client):
    if shutil.which("docker") is None:
        pytest.skip("the docker CLI is not installed")
    multi = lab["lab-multi-run"]
    analysis = helpers.analyze(helpers.reading.daemon.read_engine_image(multi.tag, docker_client, gzip_level=6))
    table = familiar_sizes(analysis)
    printed = subprocess.run(["docker", "history", "--format", "{{.Size}}", multi.tag],
                             capture_output=True, text=True, check=True).stdout.split()
    steps = list(reversed(printed))  # the CLI lists the newest step first
    assert table["docker history"].tolist() == [steps[layer.step] for layer in analysis.image.layers]
    assert table["pull"].tolist() == [helpers.format_bytes(layer.pull_bytes) for layer in analysis.image.layers]
    assert table["stored"].tolist() == ["7.4 MiB", "16.0 MiB", "85 B", "0 B"]


def test_an_archive_has_no_docker_history_and_says_so(dive_testdata):
    analysis = helpers.analyze(helpers.read_image(dive_testdata / "test-docker-image.tar"))
    table = familiar_sizes(analysis)
    assert set(table["docker history"]) == {"—"}
    assert set(table["pull"]) == {"—"}  # an uncompressed archive read without measuring a pull


@pytest.mark.parametrize(("count", "shown"), [(0, "0B"), (85, "85B"), (999, "999B"), (1000, "1kB"),
                                              (7792915, "7.79MB"), (16777216, "16.8MB"), (10**12, "1TB")])
def test_docker_units_are_decimal_with_three_digits(count, shown):
    assert docker_units(count) == shown


def test_headline_and_ours_and_dives_use_one_rounding(dive_testdata):
    analysis = helpers.analyze(helpers.read_image(dive_testdata / "test-docker-image.tar"))
    top = headline({"dive": analysis})["dive"].to_dict()
    assert top == {"layers": "14", "stored": "1.2 MiB", "visible": "1.1 MiB", "reclaimable": "31.3 KiB",
                   "efficiency": "97.4%"}
    both = ours_and_dives({"dive": analysis}).loc["dive"].to_dict()
    assert both == {"efficiency": "97.4%", "dive_efficiency": "98.4%", "reclaimable": "31.3 KiB",
                    "dive_wasted": "31.3 KiB"}
    assert layer_table(analysis).at[2, "instruction"] == "RUN mkdir -p /root/example/really/nested"
