"""Lanes: builds that share a step go one after the other; builds that share nothing but a base may run at once."""

from __future__ import annotations

from pathlib import Path

import helpers
from helpers.orchestration.lanes import lanes, stage_starts

TOOLCHAIN = Path(__file__).resolve().parents[2] / "notebooks" / "dockerfiles" / "toolchain"


def test_the_apt_variants_share_only_their_base_and_each_is_a_lane():
    variants = helpers.apt_variants("python3-django", "debian:bookworm-slim")
    assert lanes(variants) == [[name] for name in variants]


def test_the_toolchain_variants_share_their_first_run_and_are_one_lane_in_the_order_given():
    variants = {path.stem: path for path in sorted(TOOLCHAIN.glob("*.Dockerfile"))}
    assert lanes(variants) == [["multi-run", "multi-stage", "single-run"]]
    assert lanes(dict(reversed(variants.items()))) == [["single-run", "multi-stage", "multi-run"]]


def test_a_shared_start_joins_lanes_through_any_stage_and_spacing_does_not_hide_it():
    variants = {
        "a": "FROM alpine:3.20.3\nRUN echo a\n",
        "b": "FROM alpine:3.20.3\nRUN echo b\n",
        "c": "FROM alpine:3.20.3 AS first\nRUN   echo    a\nFROM alpine:3.20.3\nRUN echo b\nCOPY --from=first / /x\n",
        "d": "FROM alpine:3.19.4\nRUN echo a\n",
        "e": "FROM alpine:3.20.3\n",
    }
    # c starts one stage as a does (once its spaces are one) and another as b does: a, b and c are one lane
    assert lanes(variants) == [["a", "b", "c"], ["d"], ["e"]]


def test_a_stage_built_on_another_stage_starts_nothing_of_its_own():
    text = "FROM debian:bookworm-slim AS base\nRUN echo one\nFROM base\nRUN echo two\nFROM scratch\nCOPY x /x\n"
    assert stage_starts(text) == {("debian:bookworm-slim", "RUN", "echo one")}


def test_a_dockerfile_that_cannot_be_parsed_is_a_lane_of_its_own():
    variants = {"good": "FROM alpine:3.20.3\nRUN true\n", "bad": "RUN true\n", "same": "FROM alpine:3.20.3\nRUN true\n"}
    assert lanes(variants) == [["good", "same"], ["bad"]]
