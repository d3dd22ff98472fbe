"""The CI budget check: `report SOURCE --max-reclaimable SIZE --min-efficiency RATIO`, on real archives."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from helpers.ground.errors import LayerLabError
from helpers.views.budget import parse_budget_size, parse_ratio


def _report(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "helpers", "report", *args], capture_output=True, text=True)


@pytest.mark.parametrize(("text", "expected"), [("5MB", 5_000_000), ("512KiB", 524_288), ("1000", 1000),
                                                ("1.5 GB", 1_500_000_000), ("16MiB", 16_777_216)])
def test_sizes_read_as_written(text, expected):
    assert parse_budget_size(text) == expected


@pytest.mark.parametrize("text", ["lots", "", "-5MB"])
def test_a_bad_size_is_one_clear_error(text):
    with pytest.raises(LayerLabError):
        parse_budget_size(text)


def test_ratios_are_between_zero_and_one():
    assert parse_ratio("0.9") == 0.9
    for bad in ("1.5", "-0.1", "most"):
        with pytest.raises(LayerLabError):
            parse_ratio(bad)


def test_within_budget_exits_0_with_the_report(dive_testdata):
    # test-docker-image.tar: reclaimable 32,025 B, efficiency 1188573 / 1220598 = 0.9738.
    done = _report(str(dive_testdata / "test-docker-image.tar"), "--json", "--max-reclaimable", "32025",
                   "--min-efficiency", "0.97")
    assert done.returncode == 0, done.stderr
    assert done.stderr == ""
    assert json.loads(done.stdout)["image"]["reclaimable_bytes"] == 32025


def test_over_budget_exits_1_with_one_line_per_broken_rule(dive_testdata):
    done = _report(str(dive_testdata / "test-docker-image.tar"), "--json", "--max-reclaimable", "32KB",
                   "--min-efficiency", "0.98")
    assert done.returncode == 1
    assert json.loads(done.stdout)["image"]["efficiency"] == 1188573 / 1220598  # the report is still printed
    assert done.stderr.splitlines() == [
        # 32KB is echoed in its own unit; 6,405 of 32,025 bytes is a fifth, not "most of it".
        "over budget: reclaimable bytes 31.3 KiB (32,025 bytes) > 32 KB (31.2 KiB); "
        "the biggest share, 6.3 KiB, 20.0%, is in layer 3 (RUN cp /somefile.txt /root/example/somefile1.txt)",
        "over budget: efficiency 97.4% < 98.0%; "
        "the biggest share, 6.3 KiB, 20.0%, is in layer 3 (RUN cp /somefile.txt /root/example/somefile1.txt)",
    ]


@pytest.mark.engine
def test_the_lab_s_multi_run_image_breaks_a_5mb_budget_and_single_run_keeps_it(lab):
    multi = _report(lab["lab-multi-run"].tag, "--max-reclaimable", "5MB")
    assert multi.returncode == 1
    assert multi.stderr.startswith("over budget: reclaimable bytes 16.0 MiB (16,777,216 bytes) > 5 MB (4.8 MiB); "
                                   "most of it, 16.0 MiB, 100.0%, is in layer 1 (RUN head -c 16777216 /dev/urandom")
    single = _report(lab["lab-single-run"].tag, "--max-reclaimable", "5MB", "--min-efficiency", "0.99")
    assert (single.returncode, single.stderr) == (0, "")


def test_bad_budget_input_is_exit_2_with_one_error_line(dive_testdata):
    for args in (["--max-reclaimable", "lots"], ["--min-efficiency", "2"], ["--no-such-flag"]):
        done = _report(str(dive_testdata / "test-docker-image.tar"), *args)
        assert done.returncode == 2
        assert done.stderr.startswith("error: ") and done.stderr.count("\n") == 1
        assert done.stdout == ""
