"""How the builders take a Dockerfile: as a path or as text, and which base images it needs."""

from __future__ import annotations

from pathlib import Path

import pytest

from helpers.ground.dockerfile import base_images, dockerfile_text
from helpers.ground.errors import DockerfileError


@pytest.mark.parametrize(
    ("dockerfile", "expected"),
    [
        ("FROM alpine:3.20.3\nRUN true\n", ["alpine:3.20.3"]),
        ("ARG V=3.20.3\nFROM alpine:$V AS build\nFROM build\n", ["alpine:3.20.3"]),
        ("FROM alpine:3.20.3 AS a\nFROM scratch\nCOPY --from=a / /\n", ["alpine:3.20.3"]),
        ("FROM --platform=linux/amd64 debian:12 as d\nFROM alpine:3.19.4\n", ["debian:12", "alpine:3.19.4"]),
    ],
    ids=["plain", "arg-and-stage", "scratch", "platform-flag"],
)
def test_base_images_leave_out_stages_and_scratch(dockerfile, expected):
    assert base_images(dockerfile) == expected


def test_a_dockerfile_without_from_is_one_clear_error():
    with pytest.raises(DockerfileError, match="no FROM"):
        base_images("RUN echo hi\n")


def test_one_line_text_is_a_dockerfile_and_a_missing_path_is_an_error(tmp_path: Path):
    assert dockerfile_text("FROM alpine:3.20.3") == ("FROM alpine:3.20.3", None)
    with pytest.raises(DockerfileError, match="cannot read the Dockerfile"):
        dockerfile_text(str(tmp_path / "Dockerfil"))
    real = tmp_path / "Dockerfile"
    real.write_text("FROM scratch\n")
    assert dockerfile_text(str(real)) == ("FROM scratch\n", real)
    assert dockerfile_text(real) == ("FROM scratch\n", real)


def test_a_value_that_doubles_at_each_env_stops_at_the_ceiling_not_at_gigabytes():
    from helpers.ground.dockerfile import MAX_VALUE_BYTES, substitute

    value, variables = "x", {}
    with pytest.raises(DockerfileError, match="grows past 128 KiB"):
        for _ in range(40):  # 2**40 bytes if nothing stopped it
            variables["A"] = value = substitute("$A$A", {"A": value})
    assert len(value) <= MAX_VALUE_BYTES


def test_a_dockerfile_of_ten_thousand_instructions_is_refused_in_one_line():
    from helpers.ground.dockerfile import parse_dockerfile_text

    with pytest.raises(DockerfileError, match="holds 10,001 instructions"):
        parse_dockerfile_text("FROM scratch\n" + "LABEL a=b\n" * 10_000)
