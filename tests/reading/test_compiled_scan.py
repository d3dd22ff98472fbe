"""The compiled layer scan reads exactly as the Python reader does, or declines.

:mod:`helpers.reading.compiled_scan` is a fast path for an uncompressed layer in a file.  The
Python reader (:func:`helpers.reading.tar_headers.iter_entries`) is the authority, so for
every tar here the compiled scan must either decline (``None``) or give the very entries,
and the very package-database documents, that the Python reader gives; and where the Python
reader refuses a tar, the compiled scan must decline it.  The tars: other projects' test
files (Go's archive/tar, CPython's, libarchive's), the layers of dive's own test image, tars
written here in every format with names that need normalising, and each of those damaged
many seeded ways.  The compiled scan must also accept the common cases (so a test that only
ever saw it decline fails): every layer of dive's image, and pax names as Docker writes them.
"""

from __future__ import annotations

import io
import os
import random
import tarfile
import tempfile
from pathlib import Path

import pytest
from archives import mutate
from layerlab_fixtures import SHARED, need, unavailable
from peer_tars import cases, plain, uudecode

from helpers.ground.errors import ArchiveError
from helpers.reading import compiled_scan
from helpers.reading.layer_stream import _Documents
from helpers.reading.raw_bytes import FileRangeFeed
from helpers.reading.tar_headers import MODES, iter_entries

META = 1 << 20
KEPT = _Documents.paths


@pytest.fixture(scope="module", autouse=True)
def built() -> None:
    if compiled_scan.STATE.startswith("stale"):
        pytest.fail(f"the compiled scan is {compiled_scan.STATE}", pytrace=False)
    if not compiled_scan.AVAILABLE:
        unavailable(f"the compiled scan is {compiled_scan.STATE}")


class _Sink:
    paths = KEPT

    def __init__(self) -> None:
        self.kept: list[tuple[str, bytes | None]] = []

    def wants(self, path: str, size: int) -> bool:
        return True

    def put(self, path: str, data: bytes | None) -> None:
        self.kept.append((path, data))


def _both(data: bytes, meta: int = META, max_entries: int = 1 << 30) -> str:
    """Read ``data`` both ways from a file (at an offset, as in an archive); ``accepted``, ``declined`` or
    ``refused`` (declined, where the Python reader refuses it).  Fails when the two disagree."""
    with tempfile.TemporaryFile() as f:
        f.write(b"x" * 1536 + data + b"trailing bytes past the blob")
        f.flush()
        fd, start = f.fileno(), 1536
        compiled = compiled_scan.scan_file_range(fd, start, len(data), max_entries, meta, KEPT, MODES)
        sink = _Sink()
        try:
            entries = list(iter_entries(FileRangeFeed(fd, start, len(data)), "layer t", sink, meta))
        except ArchiveError:
            assert compiled is None, "the compiled scan read a tar the Python reader refuses"
            return "refused"
        if compiled is None:
            return "declined"
        found, documents = compiled
        assert found == entries
        assert [tuple(e) for e in found] == [tuple(e) for e in entries]  # the same fields, in the same types
        assert [type(v) for e in found for v in e] == [type(v) for e in entries for v in e]
        assert [(path, os.pread(fd, stored, offset)) for path, offset, stored in documents] == sink.kept
        return "accepted"


CASES = cases()


def _peer(name: str, path: Path) -> bytes | None:
    data = uudecode(path) if path.suffix == ".uu" else path.read_bytes()
    return plain(name, data)


def _dive_layers() -> list[bytes]:
    image = SHARED / "dive-testdata" / "test-docker-image.tar"
    need(image.exists(), f"{image} is missing")
    with tarfile.open(image) as outer:
        return [outer.extractfile(m).read() for m in outer if m.name.endswith("layer.tar")]  # type: ignore[union-attr]


def _written(form: int) -> bytes:
    """A tar in one of tarfile's formats, with the names and links a reader must normalise and the records
    Docker's writer makes (pax for non-ASCII names, long names split into the ustar prefix)."""
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w", format=form) as tar:
        def add(name: str, kind: bytes = tarfile.REGTYPE, data: bytes = b"", link: str = "", **fields) -> None:
            info = tarfile.TarInfo(name)
            info.type, info.linkname, info.size = kind, link, len(data)
            for key, value in fields.items():
                setattr(info, key, value)
            tar.addfile(info, io.BytesIO(data))

        add("usr/", tarfile.DIRTYPE, mode=0o755)
        add("usr/share/doc/.buildinfo", data=b"dotfile")
        add("./etc//passwd", data=b"root:x:0:0\n", mode=0o644, uid=1000, gid=70000)
        add("usr/../../escape", data=b"no")
        add("usr/lib/libz.so.1", tarfile.SYMTYPE, link="libz.so.1.3")
        add("usr/lib/hard", tarfile.LNKTYPE, link="./usr/lib//libz.so.1/")
        add("go/test/fixedbugs/issue27836.dir/Äfoo.go", data=b"package foo\n")
        add("deep/" + "d" * 90 + "/" + "e" * 90 + "/file", data=b"prefix")
        add("var/lib/dpkg/status", data=b"Package: zlib\nStatus: install ok installed\n\n", mode=0o644)
        add("lib/apk/db/installed", data=b"P:musl\nV:1\n\n")
        add("usr/lib/apk/db/installed")  # an empty one: no data, so nothing to keep
        add("etc/.wh.removed")
        add("opt/.wh..wh..opq")
        add("opt/.wh..wh.plnk")
        add("dev/null", tarfile.CHRTYPE, devmajor=1, devminor=3)
        add("fifo", tarfile.FIFOTYPE)
        add("/", tarfile.DIRTYPE)
        add("big-uid", uid=0o7777777 + 1 if form != tarfile.USTAR_FORMAT else 7, data=b"u")
    return buffer.getvalue()


FORMATS = [tarfile.USTAR_FORMAT, tarfile.GNU_FORMAT, tarfile.PAX_FORMAT]


@pytest.mark.parametrize("form", FORMATS, ids=["ustar", "gnu", "pax"])
def test_tars_written_here_read_alike(form: int) -> None:
    data = _written(form) if form != tarfile.USTAR_FORMAT else _ustar_only()
    outcome = _both(data)
    if form != tarfile.GNU_FORMAT:  # GNU long names and base-256 numbers are the Python reader's
        assert outcome == "accepted"


def _ustar_only() -> bytes:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w", format=tarfile.USTAR_FORMAT) as tar:
        for name in ["a/", "a/.hidden", "./a//b/../c", "a/" + "p" * 120 + "/f", "var/lib/dpkg/status"]:
            info = tarfile.TarInfo(name)
            data = name.encode()
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    return buffer.getvalue()


def test_docker_s_pax_names_and_every_dive_layer_are_read_by_the_compiled_scan() -> None:
    for layer in _dive_layers():
        assert _both(layer) == "accepted"
    docker_like = io.BytesIO()  # what Go's writer makes of a non-ASCII name: a pax path record before a ustar header
    with tarfile.open(fileobj=docker_like, mode="w", format=tarfile.PAX_FORMAT) as tar:
        info = tarfile.TarInfo("usr/share/Äfoo.go")
        info.size = 3
        tar.addfile(info, io.BytesIO(b"abc"))
        info = tarfile.TarInfo("usr/share/link")
        info.type, info.linkname = tarfile.LNKTYPE, "usr/share/Äfoo.go"
        tar.addfile(info)
    assert _both(docker_like.getvalue()) == "accepted"


@pytest.mark.parametrize("name,path", CASES, ids=[name for name, _ in CASES])
def test_other_projects_tars_read_alike(name: str, path: Path) -> None:
    data = _peer(name, path)
    need(data is not None, f"{name} cannot be decompressed here")
    _both(data)  # type: ignore[arg-type]


def test_damaged_tars_read_alike_or_are_declined() -> None:
    rng = random.Random(27)
    sources = _dive_layers()[:4] + [_written(form) for form in FORMATS]
    for path in [p for _, p in CASES if p.suffix == ".tar"][:20]:
        sources.append(path.read_bytes())
    outcomes: dict[str, int] = {}
    for data in sources:
        for _ in range(60):
            outcome = _both(mutate(data, rng, block=512))
            outcomes[outcome] = outcomes.get(outcome, 0) + 1
    assert outcomes.get("accepted", 0) and outcomes.get("refused", 0), outcomes


def test_limits_make_it_decline() -> None:
    data = _written(tarfile.PAX_FORMAT)
    with tempfile.TemporaryFile() as f:
        f.write(data)
        f.flush()
        fd = f.fileno()
        count = len(list(iter_entries(FileRangeFeed(fd, 0, len(data)), "t")))
        assert compiled_scan.scan_file_range(fd, 0, len(data), count, META, KEPT, MODES) is not None
        assert compiled_scan.scan_file_range(fd, 0, len(data), count - 1, META, KEPT, MODES) is None  # the ceiling
        assert compiled_scan.scan_file_range(fd, 0, len(data), count, 10, KEPT, MODES) is None  # pax bytes


@pytest.mark.parametrize("records,outcome", [
    ({"mtime": "1" * 20}, "refused"),  # 20 significant digits: not a time, as Go parses one
    ({"mtime": "0" * 30 + "1.5"}, "accepted"),
    ({"atime": "-1.25"}, "accepted"),
    ({"ctime": "1e5"}, "refused"),
    ({"uid": "0" * 25 + "7", "gid": "70000"}, "accepted"),
    ({"uid": "9" * 20}, "refused"),  # past 63 bits
    ({"path": ""}, "accepted"),  # an empty value keeps the header's name
    ({"path": "./a/../b/./Ä", "linkpath": "t"}, "accepted"),
    ({"SCHILY.xattr.security.capability": "\x01\x02", "comment": "x"}, "accepted"),
    ({"GNU.sparse.major": "1", "GNU.sparse.minor": "0"}, None),  # sparse files are the Python reader's
])
def test_pax_records_read_alike(records: dict[str, str], outcome: str | None) -> None:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w", format=tarfile.PAX_FORMAT) as tar:
        info = tarfile.TarInfo("name-in-header")
        info.size, info.pax_headers = 2, records
        tar.addfile(info, io.BytesIO(b"ab"))
        tar.addfile(tarfile.TarInfo("after"))
    found = _both(buffer.getvalue())
    if outcome is not None:
        assert found == outcome


def test_a_layer_of_many_batches_reads_alike() -> None:
    """Past 4,096 entries the compiled scan reads in batches: every batch's entries, pax records across a
    batch's end, the entry ceiling counted over all of them, and damage in a later batch."""
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w", format=tarfile.PAX_FORMAT) as tar:
        for i in range(9_000):
            info = tarfile.TarInfo(f"srv/d{i % 13}/Ä{i}" if i % 1_000 in (0, 95, 96) else f"srv/d{i % 13}/f{i}")
            info.size = i % 3
            tar.addfile(info, io.BytesIO(b"ab"[: i % 3]))
    data = buffer.getvalue()
    assert _both(data) == "accepted"
    assert _both(data, max_entries=9_000) == "accepted"
    assert _both(data, max_entries=8_999) == "declined"
    rng = random.Random(4096)
    for _ in range(12):
        damaged = bytearray(data)
        damaged[rng.randrange(len(data) // 2, len(data))] ^= 0x40  # past the first batch
        _both(bytes(damaged))
