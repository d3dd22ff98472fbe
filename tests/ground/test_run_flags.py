"""A RUN's flags are read strictly: every mount kind BuildKit documents, and a clear line for anything else."""

from __future__ import annotations

import pytest

from helpers.ground.errors import DockerfileError
from helpers.ground.run_flags import RunMount, parse_mount, parse_run, uses_buildkit_flags


@pytest.mark.parametrize(("text", "expected"), [
    ("type=cache,target=/root/.cache/pip", RunMount("cache", "/root/.cache/pip", cache_id="/root/.cache/pip")),
    ("type=cache,id=apt,dst=/var/cache/apt,sharing=locked", RunMount("cache", "/var/cache/apt", cache_id="apt")),
    ("type=bind,source=requirements.txt,target=/tmp/r.txt",
     RunMount("bind", "/tmp/r.txt", "requirements.txt", read_only=True)),
    ("target=/src", RunMount("bind", "/src", read_only=True)),  # bind is the default type
    ("type=bind,from=build,source=/out,target=/in,rw", RunMount("bind", "/in", "/out", "build", read_only=False)),
    ("type=bind,target=/in,readwrite=false", RunMount("bind", "/in", read_only=True)),
    ("type=tmpfs,target=/scratch,size=64m", RunMount("tmpfs", "/scratch")),
    ("type=cache,target=/c,ro", RunMount("cache", "/c", cache_id="/c", read_only=True)),
])
def test_each_mount_kind_is_read_as_buildkit_documents_it(text, expected):
    assert parse_mount(text) == expected


@pytest.mark.parametrize(("text", "words"), [
    ("type=secret,id=token", "type=secret is not supported"),
    ("type=ssh", "type=ssh is not supported"),
    ("type=volume,target=/x", "not a mount type"),
    ("type=cache", "needs one target"),
    ("type=cache,target=/a,dst=/b", "needs one target"),
    ("type=tmpfs,target=/x,source=y", "takes no `source`"),
    ("type=bind,target=/x,frm=build", "takes no `frm`"),
    ("type=bind,target=/x,rw=maybe", "neither true nor false"),
    ("type=bind,target=/x,target=/y", "gives `target` twice"),
    ("type=tmpfs,target=/", "whole filesystem"),
    ("type=tmpfs,target=/a/..", "whole filesystem"),
])
def test_a_mount_that_cannot_be_honoured_is_one_line_naming_it(text, words):
    with pytest.raises(DockerfileError) as caught:
        parse_mount(text)
    assert words in caught.value.message and "\n" not in caught.value.message


def test_the_command_after_the_flags_is_the_step_s_own():
    flags = parse_run("--mount=type=cache,target=/root/.cache --network=none  pip install -r r.txt")
    assert flags.command == "pip install -r r.txt" and flags.network == "none"
    assert [m.kind for m in flags.mounts] == ["cache"]
    assert parse_run('["/bin/sh", "-c", "true"]').command == '["/bin/sh", "-c", "true"]'


@pytest.mark.parametrize("value", [" ".join([f"--mount=type=tmpfs,target=/t{n}" for n in range(17)]) + " true",
                                   "--security=insecure true", "--network=bridge true", "--mount true",
                                   "--mount=type=tmpfs,target=/a --mount=type=cache,target=/a true"])
def test_a_flag_it_does_not_know_is_refused_not_run_as_a_command(value):
    with pytest.raises(DockerfileError):
        parse_run(value)


def test_a_relative_target_is_below_the_workdir():
    assert parse_mount("type=tmpfs,target=cache").target_in("/srv/app") == "/srv/app/cache"
    assert parse_mount("type=tmpfs,target=/abs/./x/").target_in("/srv") == "/abs/x"


def test_only_a_run_with_buildkit_s_flags_needs_buildkit():
    assert uses_buildkit_flags(" --mount=type=cache,target=/c true")
    assert not uses_buildkit_flags("echo --mount=type=cache")
