"""The outer archive (``docker save``, an OCI archive) is read by the layer reader's own header code, as Go reads it.

``docker load`` reads these archives with Go's ``archive/tar``, and so does the
layer reader here (``test_peer_tars`` holds it to dive's reading of every peer
tar).  So every peer tar, read as an outer archive, must give exactly the
members the layer reader gives as entries; and a member's data, read through
it, must be the bytes :mod:`tarfile` extracts, wherever the two agree on the list.
"""

from __future__ import annotations

import io
import json
import tarfile
import tracemalloc

import pytest
from archives import FILE, docker_archive, make_layer, tar
from test_peer_tars import CASES, PEERS, _tar

from helpers.ground.errors import ArchiveError, MalformedTar
from helpers.ground.limits import Limits
from helpers.reading.files import read_archive_stream, read_path
from helpers.reading.raw_bytes import StreamFeed
from helpers.reading.tar_fields import classify_name, fast_path
from helpers.reading.tar_headers import iter_entries
from helpers.reading.tar_members import iter_members

_KINDS = {b"0": "file", b"\0": "file", b"7": "file", b"S": "file", b"1": "hardlink", b"2": "symlink", b"5": "dir"}


def _feed(data: bytes) -> StreamFeed:
    chunks = iter([data[i:i + 4096] for i in range(0, len(data), 4096)])
    return StreamFeed(lambda: next(chunks, b""))


def _as_members(data: bytes) -> list[tuple[str, str, int, str]] | None:
    """Each member as an entry would be: its normalised path, kind, size and link; None if the tar is refused."""
    found = []
    try:
        for member in iter_members(_feed(data), "case"):
            path = fast_path(member.name)
            kind = _KINDS.get(member.typeflag, "other")
            if path and ".wh." in path:
                kind = classify_name(kind, path)
            if path:
                found.append((path, kind, member.size, fast_path(member.linkname) if kind == "hardlink"
                              else member.linkname))
    except MalformedTar:
        return None
    return found


def _as_entries(data: bytes) -> list[tuple[str, str, int, str]] | None:
    try:
        return [(entry.path, entry.kind, entry.size, entry.link) for entry in iter_entries(_feed(data), "case")]
    except MalformedTar:
        return None


@pytest.mark.skipif(not PEERS.is_dir(), reason=f"the peer corpora are missing: {PEERS}")
@pytest.mark.parametrize(("name", "path"), CASES, ids=[name for name, _ in CASES])
def test_every_peer_tar_read_as_an_outer_archive_gives_the_layer_reader_s_entries(name, path):
    data = _tar(name, path)
    entries = _as_entries(data)
    members = _as_members(data)
    if entries is not None:
        assert members == entries
    # A 1.0 sparse file's map is read by a layer's reader and never by the outer one (which refuses the member),
    # so only that reader may refuse what the other reads.


def _tarfile_s(data: bytes) -> list | None:
    try:
        with tarfile.open(fileobj=io.BytesIO(data)) as archive:
            return [(member.name, member.size, archive.extractfile(member).read()
                     if member.isreg() and not member.issparse() else None) for member in archive]
    except (tarfile.TarError, EOFError, ValueError, OSError, OverflowError):
        return None


def _ours_with_data(data: bytes) -> list | None:
    try:
        return [(member.name, member.size, member.read() if member.isreg() and not member.issparse() else None)
                for member in iter_members(_feed(data), "case")]
    except MalformedTar:
        return None


@pytest.mark.skipif(not PEERS.is_dir(), reason=f"the peer corpora are missing: {PEERS}")
def test_a_member_s_data_is_what_tarfile_extracts_wherever_both_list_the_same_members():
    """Where tarfile and Go disagree on the list, ``test_peer_tars`` holds ours to Go's; elsewhere the bytes match."""
    compared = 0
    for name, path in CASES:
        data = _tar(name, path)
        ours, theirs = _ours_with_data(data), _tarfile_s(data)
        if ours is None or theirs is None or [m[:2] for m in ours] != [m[:2] for m in theirs]:
            continue
        assert ours == theirs, name
        compared += 1
    assert compared >= len(CASES) // 2  # most of the corpus is read alike: the comparison is not vacuous


def test_a_member_read_in_part_leaves_the_next_one_whole():
    archive = tar([("one", b"a" * 5000, FILE, None), ("two", b"second", FILE, None)])
    seen = []
    for member in iter_members(_feed(archive), "case"):
        seen.append((member.name, member.read(10) if member.name == "one" else member.read()))
    assert seen == [("one", b"a" * 10), ("two", b"second")]


def test_a_file_that_is_not_a_tar_and_an_empty_one_are_named_so(tmp_path):
    for name, data in (("garbage.tar", b"not a tar archive at all\n" * 40), ("empty.tar", b""),
                       ("end-only.tar", bytes(1024))):
        path = tmp_path / name
        path.write_bytes(data)
        with pytest.raises(ArchiveError, match=f"{name} is not a readable tar archive"):
            read_path(path)
        with pytest.raises(ArchiveError, match=f"{name} is not a readable tar archive"):
            read_archive_stream(io.BytesIO(data), str(path))


@pytest.mark.parametrize("way", ["file", "stream"])
def test_a_huge_pax_record_in_the_outer_archive_is_refused_within_the_metadata_budget(tmp_path, way):
    """tarfile read an outer pax header whole, whatever its size; now it is charged as a layer's are."""
    image = docker_archive([make_layer(("etc/hosts", b"127.0.0.1\n", FILE, None))])
    padding = json.dumps({"comment": "x" * (8 << 20)})  # an 8 MiB pax record before the first member
    record = f" comment={padding}\n"
    length = len(record) + len(str(len(record)))
    length = len(record) + len(str(length))
    pax = f"{length}{record}".encode()
    header = tarfile.TarInfo("././@PaxHeader")
    header.type, header.size = tarfile.XHDTYPE, len(pax)
    hostile = header.tobuf(tarfile.USTAR_FORMAT) + pax + bytes(-len(pax) % 512) + image
    path = tmp_path / "image.tar"
    path.write_bytes(hostile)
    tracemalloc.start()
    try:
        with pytest.raises(ArchiveError, match="LAYERLAB_MAX_METADATA_BYTES") as caught:
            if way == "file":
                read_path(path, limits=Limits(metadata_bytes=1 << 20))
            else:
                read_archive_stream(io.BytesIO(hostile), str(path), limits=Limits(metadata_bytes=1 << 20))
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert "\n" not in str(caught.value)
    assert peak < (4 << 20)  # the record is refused by its header, never read
