"""In-memory archives for tests, built with tarfile: tar members, layers, and ``docker save`` archives.

The one place tests make archives by hand (real ones come from the engine and
from dive's test suite).  A member is ``(name, data, kind, link)``: ``kind`` is
:data:`FILE` or a tarfile type (:data:`DIR`, :data:`SYMLINK`, :data:`HARDLINK`).
"""

from __future__ import annotations

import hashlib
import io
import json
import tarfile
import tempfile
from collections.abc import Iterable, Mapping
from pathlib import Path

import helpers
from helpers.ground.errors import ArchiveError
from helpers.ground.limits import DEFAULT_LIMITS, Limits
from helpers.reading.files import read_archive_stream, read_path

FILE, DIR, SYMLINK, HARDLINK = "file", tarfile.DIRTYPE, tarfile.SYMTYPE, tarfile.LNKTYPE


def tar(members: Iterable[tuple[str, bytes, object, str | None]]) -> bytes:
    """A pax tar of ``members``, in order (a name listed twice is written twice)."""
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w", format=tarfile.PAX_FORMAT) as archive:
        for name, data, kind, link in members:
            info = tarfile.TarInfo(name)
            if kind == FILE:
                info.size = len(data)
                archive.addfile(info, io.BytesIO(data))
            else:
                info.type, info.linkname = kind, link or ""
                archive.addfile(info)
    return buffer.getvalue()


def make_layer(*members: tuple[str, bytes, object, str | None]) -> bytes:
    """A layer tar holding ``members``."""
    return tar(members)


def files_layer(files: Mapping[str, bytes] | Iterable[tuple[str, bytes]]) -> bytes:
    """A layer tar of regular files: ``{name: data}``, or ``(name, data)`` pairs."""
    pairs = files.items() if isinstance(files, Mapping) else files
    return tar((name, data, FILE, None) for name, data in pairs)


def docker_archive(layers: list[bytes], config: object = None, manifest: object = None,
                   diff_ids: bool = False) -> bytes:
    """A ``docker save`` archive (the legacy layout) of ``layers``, base first.

    ``config``: the config document (default ``{}``, or with ``diff_ids`` the
    layers' digests as ``rootfs.diff_ids``); ``manifest``: ``manifest.json``'s
    document, or its raw bytes (default: one image naming every layer).
    """
    names = [f"l{i}/layer.tar" for i in range(len(layers))]
    if config is None:
        config = {"rootfs": {"type": "layers", "diff_ids": [
            "sha256:" + hashlib.sha256(data).hexdigest() for data in layers]}} if diff_ids else {}
    if manifest is None:
        manifest = [{"Config": "c.json", "Layers": names}]
    members = [(name, data, FILE, None) for name, data in zip(names, layers, strict=True)]
    members.append(("c.json", json.dumps(config).encode(), FILE, None))
    members.append(("manifest.json", manifest if isinstance(manifest, bytes) else json.dumps(manifest).encode(),
                    FILE, None))
    return tar(members)


#: A layer of one 10-byte file.
TEN = make_layer(("a", b"x" * 10, FILE, None))


def oci_archive(layers: list[bytes], compression: str = "gzip") -> bytes:
    """An OCI image layout in a tar (``oci-archive``) of ``layers``, base first, each compressed (``gzip``, ``zstd``
    or ``none``), as skopeo and BuildKit write one."""
    import gzip

    import zstandard

    members: list[tuple[str, bytes, object, str | None]] = []

    def blob(content: bytes) -> str:
        digest = hashlib.sha256(content).hexdigest()
        members.append((f"blobs/sha256/{digest}", content, FILE, None))
        return f"sha256:{digest}"

    suffix = {"gzip": "+gzip", "zstd": "+zstd", "none": ""}[compression]
    pack = {"gzip": lambda data: gzip.compress(data, 1, mtime=0),
            "zstd": lambda data: zstandard.ZstdCompressor().compress(data), "none": lambda data: data}[compression]
    descriptors = []
    for layer in layers:
        packed = pack(layer)
        descriptors.append({"mediaType": f"application/vnd.oci.image.layer.v1.tar{suffix}", "digest": blob(packed),
                            "size": len(packed)})
    diff_ids = ["sha256:" + hashlib.sha256(layer).hexdigest() for layer in layers]
    config = json.dumps({"os": "linux", "architecture": "amd64", "rootfs": {"type": "layers", "diff_ids": diff_ids}})
    manifest = json.dumps({"schemaVersion": 2, "mediaType": "application/vnd.oci.image.manifest.v1+json",
                           "config": {"mediaType": "application/vnd.oci.image.config.v1+json",
                                      "digest": blob(config.encode()), "size": len(config)},
                           "layers": descriptors}).encode()
    index = {"schemaVersion": 2, "manifests": [{"mediaType": "application/vnd.oci.image.manifest.v1+json",
                                                "digest": blob(manifest), "size": len(manifest)}]}
    members.append(("oci-layout", b'{"imageLayoutVersion":"1.0.0"}', FILE, None))
    members.append(("index.json", json.dumps(index).encode(), FILE, None))
    return tar(members)


def mutate(data: bytes, rng, flips: int = 20, block: int = 4096) -> bytes:
    """``data`` damaged one random way: bits flipped, cut short, a block zeroed, or 512 bytes repeated."""
    damaged = bytearray(data)
    if not damaged:
        return data
    operation = rng.choice(["flip", "truncate", "zero", "duplicate"])
    if operation == "flip":
        for _ in range(rng.randint(1, flips)):
            damaged[rng.randrange(len(damaged))] ^= 1 << rng.randrange(8)
    elif operation == "truncate":
        del damaged[rng.randrange(len(damaged)):]
    elif operation == "zero":
        start = rng.randrange(len(damaged))
        damaged[start:start + block] = bytes(len(damaged[start:start + block]))
    else:
        start = rng.randrange(len(damaged))
        damaged[start:start] = damaged[rng.randrange(len(damaged)):][:512]
    return bytes(damaged)


def read_every_way(data: bytes, limits: Limits = DEFAULT_LIMITS) -> helpers.Analysis:
    """Read ``data`` every way the reader can: as a stream, and as a file, seeking and verifying.

    Each way must give an analysis or one ArchiveError.  The stream and the
    verifying file read hash every blob, so they must agree exactly; the
    seeking read skips file contents, so it may read an archive whose contents
    (not headers) were damaged.  The stream's outcome is returned or raised.
    (They read in a different order, so two defects may be met in a different order.)
    """
    outcomes = []
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "case.tar"
        path.write_bytes(data)
        readers = [
            lambda: read_archive_stream(io.BytesIO(data), "case", limits=limits),
            lambda: read_path(path, verify=True, limits=limits),
            lambda: read_path(path, verify=False, limits=limits),
        ]
        for read in readers:
            try:
                analysis = helpers.analyze(read())
                analysis.summary(), analysis.files, analysis.layers, analysis.hidden  # everything a report touches
                outcomes.append(analysis)
            except ArchiveError as exc:
                outcomes.append(exc)
    streamed, verified, _ = outcomes
    assert isinstance(streamed, ArchiveError) == isinstance(verified, ArchiveError)  # the first defect met may differ
    if isinstance(streamed, helpers.Analysis):
        assert streamed.summary() == verified.summary()  # type: ignore[union-attr]
        return streamed
    raise streamed
