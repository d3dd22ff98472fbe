"""The report's plain form is read without argparse, exactly as argparse reads it; anything else is argparse's."""

from __future__ import annotations

import pytest

from helpers.edges.arguments import parse, parser, plain_report

PLAIN = [
    ["report", "image.tar"],
    ["report", "--json", "image.tar"],
    ["report", "image.tar", "--json", "--verify"],
    ["report", "--platform", "linux/arm64/v8", "layout:tag"],
    ["report", "--platform=linux/amd64", "--json", "docker-archive:x.tar"],
    ["report", "--max-reclaimable", "5MB", "--min-efficiency=0.9", "x"],
    ["report", "--max-reclaimable=-5MB", "x"],
    ["report", "--min-efficiency", "1.5", "--max-reclaimable=5", "--verify", "--json", "x"],
]
NOT_PLAIN = [
    [],
    ["report"],
    ["report", "--js", "x"],  # an abbreviation
    ["report", "--json", "--json", "x"],  # a repeat
    ["report", "--platform", "linux/amd64", "--platform", "linux/arm64", "x"],
    ["report", "--", "-x.tar"],
    ["report", "-h"],
    ["report", "--help"],
    ["report", "a.tar", "b.tar"],
    ["report", "--platform", "linux/xx", "x"],  # argparse says what is wrong with it
    ["report", "--platform=", "x"],
    ["report", "--max-reclaimable", "-5MB", "x"],
    ["report", "--max-reclaimable"],
    ["report", "--no-such-option", "x"],
    ["report", "-"],
    ["build", "context"],
    ["--help"],
]


@pytest.mark.parametrize("argv", PLAIN, ids=" ".join)
def test_the_plain_form_reads_as_argparse_reads_it(argv):
    assert vars(plain_report(argv)) == vars(parser().parse_args(argv))


@pytest.mark.parametrize("argv", NOT_PLAIN, ids=lambda argv: " ".join(argv) or "nothing")
def test_anything_else_is_left_to_argparse(argv):
    assert plain_report(argv) is None


def test_argparse_still_reads_what_the_plain_reader_leaves():
    assert parse(["report", "--js", "x.tar"]).json is True
    assert parse(["report", "--max-reclaimable", "-5MB", "x"]).max_reclaimable == "-5MB"
    assert parse(["build", "ctx", "--json"]).command == "build"


@pytest.mark.parametrize("argv", [["report", "--platform", "linux/xx", "x"], ["report"], ["report", "--nope", "x"]])
def test_bad_usage_still_exits_with_argparse_s_one_line(argv, capsys):
    with pytest.raises(SystemExit) as stopped:
        parse(argv)
    assert stopped.value.code == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and err.count("\n") == 1, err
