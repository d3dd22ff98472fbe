"""Which builds of one call may run at the same time: those that share no step.

Builds that start alike share layers: the second finds the first's steps in the
cache and reuses them (06's three toolchain Dockerfiles share their first ``RUN``,
and the lesson counts that layer once).  Built at the same time, each would run
the shared step itself and commit a layer of its own.  So the variants are put in
*lanes*: two variants go in the same lane, built one after the other in the
order given, when any stage of one starts on the same base with the same first
instruction as any stage of the other.  Lanes share nothing but their bases, so
they can run at once.  A variant whose Dockerfile cannot be parsed is a lane of
its own: its build fails alone, as it would one by one.
"""

from __future__ import annotations

import os
from collections.abc import Mapping

from ..ground.dockerfile import from_parts, parse_dockerfile
from ..ground.errors import LayerLabError

#: What a stage starts with, for the cache: its base image and its first instruction (keyword and words).
StageStart = tuple[str, str, str]


def stage_starts(dockerfile: str | os.PathLike) -> set[StageStart]:
    """``(base, KEYWORD, words)`` of each stage that builds on an image (not on another stage) and does something.

    ``words`` is the instruction's value with its runs of white space as one space; a
    stage that is only a ``FROM`` starts nothing (it shares the base, which is made first).
    """
    parsed = parse_dockerfile(dockerfile)
    stages: set[str] = set()
    starts: set[StageStart] = set()
    current: str | None = None
    started = True  # whether the current stage's first instruction after FROM was seen
    for item in parsed.instructions:
        keyword = item["instruction"].upper()
        if keyword == "FROM":
            image, stage = from_parts(item["value"])
            current = None if image.lower() in stages or image == "scratch" else image
            if stage is not None:
                stages.add(stage)
            started = False
        elif current is not None and not started:
            starts.add((current, keyword, " ".join(item["value"].split())))
            started = True
    return starts


def lanes(variants: Mapping[str, str | os.PathLike]) -> list[list[str]]:
    """The variants' names in lanes: each lane in the order given, lanes in the order of their first variant."""
    names = list(variants)
    owner: dict[StageStart, int] = {}
    lane_of = list(range(len(names)))  # a union-find forest over the variants' positions

    def root(index: int) -> int:
        while lane_of[index] != index:
            lane_of[index] = lane_of[lane_of[index]]
            index = lane_of[index]
        return index

    for index, name in enumerate(names):
        try:
            starts = stage_starts(variants[name])
        except LayerLabError:
            continue  # its build will fail with this error, on its own
        for start in starts:
            if start in owner:
                first, second = sorted((root(owner[start]), root(index)))
                lane_of[second] = first
            else:
                owner[start] = index
    grouped: dict[int, list[str]] = {}
    for index, name in enumerate(names):
        grouped.setdefault(root(index), []).append(name)
    return list(grouped.values())
