"""A rootfs tarball's SHA256SUMS, attacked: every way round the check is refused in one line, and nothing waits.

The tarballs are Alpine's own (../shared/alpine); each hostile list is made here.
The last test goes through the embedded builder itself: a tarball that
``helpers base`` refuses is refused by a build too.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import time
from pathlib import Path

import pytest
from layerlab_fixtures import ALPINE_TARBALLS, embedded_tools, need

import helpers
from helpers.building.bases import provide
from helpers.building.checksums import ChecksumMismatch, expected_digest, verified_copy

NAME = "alpine-minirootfs-3.7.3-x86_64.tar.gz"


@pytest.fixture
def tarball(tmp_path) -> Path:
    source = ALPINE_TARBALLS / NAME
    need(source.is_file(), f"{source} is missing")
    copy = tmp_path / NAME
    shutil.copyfile(source, copy)
    return copy


def _digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


@pytest.mark.parametrize("line", [
    "{digest}  {name}", "{digest} *{name}", "{digest}  ./{name}", "{DIGEST}  {name}", "SHA256 ({name}) = {digest}",
    "SHA256 (./{name}) = {digest}",
])
def test_every_way_sha256sum_writes_a_name_is_checked(tarball, line):
    wrong = "0" * 64
    for digest, ok in ((_digest(tarball), True), (wrong, False)):
        text = line.format(digest=digest, DIGEST=digest.upper(), name=NAME)
        (tarball.parent / "SHA256SUMS").write_text(f"{'1' * 64}  other.tar.gz\n{text}\n")
        if ok:
            assert expected_digest(tarball) == digest
            verified_copy(tarball)
        else:
            with pytest.raises(ChecksumMismatch, match="does not match its SHA256SUMS"):
                verified_copy(tarball)


def test_a_list_that_leaves_the_tarball_out_is_an_error_not_a_pass(tarball):
    (tarball.parent / "SHA256SUMS").write_text(f"{_digest(tarball)}  alpine-minirootfs-3.20.3-x86_64.tar.gz\n")
    with pytest.raises(ChecksumMismatch, match=f"{NAME} is not listed in the SHA256SUMS beside it") as caught:
        provide("alpine:3.7.3", [tarball.parent])
    assert "\n" not in str(caught.value)


def test_no_list_means_no_check(tarball):
    assert expected_digest(tarball) is None
    assert provide("alpine:3.7.3", [tarball.parent])["tarball"] == str(tarball)


def test_a_copy_holds_exactly_the_bytes_checked_and_a_bad_one_is_not_left(tarball, tmp_path):
    (tarball.parent / "SHA256SUMS").write_text(f"{_digest(tarball)}  {NAME}\n")
    copy = verified_copy(tarball, tmp_path / "copy")
    assert copy is not None and copy.read_bytes() == tarball.read_bytes()
    (tarball.parent / "SHA256SUMS").write_text(f"{'0' * 64}  {NAME}\n")
    with pytest.raises(ChecksumMismatch):
        verified_copy(tarball, tmp_path / "copy2")
    assert not (tmp_path / "copy2").exists()


def test_a_huge_sparse_list_is_refused_without_reading_it(tarball):
    with open(tarball.parent / "SHA256SUMS", "wb") as sums:
        sums.truncate(3 << 30)  # 3 GiB of holes: read whole, it would cost 3 GiB of memory
    started = time.monotonic()
    with pytest.raises(ChecksumMismatch, match="bytes, more than"):
        verified_copy(tarball)
    assert time.monotonic() - started < 5


def test_a_fifo_named_sha256sums_is_refused_and_never_waited_on(tarball):
    os.mkfifo(tarball.parent / "SHA256SUMS")
    with pytest.raises(ChecksumMismatch, match="is not a regular file"):
        verified_copy(tarball)


def test_a_list_that_is_not_utf8_is_one_line(tarball):
    (tarball.parent / "SHA256SUMS").write_bytes(b"\xff\xfe" + f"{_digest(tarball)}  {NAME}\n".encode("utf-16-le"))
    with pytest.raises(ChecksumMismatch, match="is not UTF-8 text") as caught:
        verified_copy(tarball)
    assert "\n" not in str(caught.value)


def test_the_embedded_builder_refuses_a_tarball_that_helpers_base_refuses(tarball, tmp_path, monkeypatch):
    embedded_tools()
    (tarball.parent / "SHA256SUMS").write_text(f"{'0' * 64}  {NAME}\n")
    monkeypatch.setenv("LAYERLAB_STORE", str(tmp_path / "store"))
    monkeypatch.setenv("LAYERLAB_ROOTFS", str(tarball.parent))
    context = tmp_path / "context"
    context.mkdir()
    with pytest.raises(ChecksumMismatch, match="does not match its SHA256SUMS"):
        helpers.build("FROM alpine:3.7.3\n", context, engine="embedded", name="tampered")
    (tarball.parent / "SHA256SUMS").write_text(f"{_digest(tarball)}  ./{NAME}\n")
    built = helpers.build("FROM alpine:3.7.3\n", context, engine="embedded", name="checked")
    assert built.analysis.layers.iloc[0]["stored_bytes"] > 0
