"""The build log counts layers as the tables do: read from the image the engine committed, never guessed."""

from __future__ import annotations

import io

import pytest

import helpers
from helpers.edges.progress import print_progress
from helpers.ground.settings import BUILDER_LABELS

#: WORKDIR of a new folder, which the classic builder commits as a layer, and a RUN that changes nothing.
DOCKERFILE = "FROM alpine:3.20.3\nWORKDIR /made-here\nRUN head -c 300 /dev/urandom > f\nRUN true\n"


@pytest.mark.engine
def test_each_image_is_one_line_whose_layers_are_the_tables(docker_client, alpine):
    out = io.StringIO()
    built = helpers.build(DOCKERFILE, name="log", tag="layerlab-test/log:latest", progress=print_progress(out),
                          client=docker_client)
    layers = built.analysis.layers
    line, = out.getvalue().splitlines()  # one line per image unless the steps are asked for
    named = " · ".join(f"L{i} {helpers.format_bytes(int(size))}" for i, size in enumerate(layers["stored_bytes"]))
    by = BUILDER_LABELS[built.analysis.image.built_by]  # the classic builder, or BuildKit where the engine has it
    assert by.startswith("the Docker Engine (")
    assert line == (f"[log] built by {by} from alpine:3.20.3 (made locally): {len(layers)} layers, "
                    f"{helpers.format_bytes(built.analysis.stored_bytes)} stored: {named}")
    assert "WORKDIR /made-here" in " ".join(layers["instruction"])  # the engine committed it, and the line says so


@pytest.mark.engine
def test_the_steps_are_printed_only_when_asked_and_claim_no_layer(docker_client, alpine):
    out = io.StringIO()
    built = helpers.build(DOCKERFILE, name="log", tag="layerlab-test/log:latest",
                          progress=print_progress(out, steps=True), client=docker_client)
    lines = out.getvalue().splitlines()
    steps = [line.split("  ")[0] for line in lines[:-1]]
    if built.analysis.image.built_by == "docker+buildkit":
        steps.sort()  # BuildKit names cached steps in whatever order it finds them: each once, numbered as written
    assert steps == [f"[log] step {k}/4" for k in range(1, 5)]
    assert not any("→ layer" in line or "no layer" in line for line in lines)
    by = BUILDER_LABELS[built.analysis.image.built_by]
    assert lines[-1].startswith(f"[log] built by {by} from alpine:3.20.3 (made locally): ")
