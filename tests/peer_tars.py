"""Other projects' tar test files (../shared/peer-tars), as plain tars: found, uudecoded and decompressed."""

from __future__ import annotations

import binascii
import gzip
import io
import shutil
import subprocess
from pathlib import Path

import zstandard
from layerlab_fixtures import SHARED

PEERS = SHARED / "peer-tars"


def uudecode(path: Path) -> bytes:
    data, begun = bytearray(), False
    for line in path.read_bytes().splitlines():
        if line.startswith(b"begin "):
            begun = True
        elif line.strip() == b"end":
            break
        elif begun and line:
            try:
                data += binascii.a2b_uu(line)
            except binascii.Error:
                continue
    return bytes(data)


def plain(name: str, data: bytes) -> bytes | None:
    """The tar inside ``data``, for the compressions a layer can have or a tool here undoes; None for the rest."""
    if name.endswith(".tar"):
        return data
    if name.endswith(".tar.gz"):
        return gzip.decompress(data)
    if name.endswith(".tar.zst"):
        return zstandard.ZstdDecompressor().stream_reader(io.BytesIO(data), read_across_frames=True).read()
    if name.endswith(".tar.Z") and shutil.which("gzip"):
        return subprocess.run(["gzip", "-dc"], input=data, capture_output=True).stdout or None
    return None


def cases() -> list[tuple[str, Path]]:
    found = [(path.name, path) for path in sorted((PEERS / "go").glob("*.tar"))]
    found += [(path.name, path) for path in sorted((PEERS / "cpython").glob("*.tar"))]
    found += [(path.name[:-3], path) for path in sorted((PEERS / "libarchive").glob("*.uu"))
              if path.name[:-3].endswith((".tar", ".tar.gz", ".tar.zst", ".tar.Z"))]
    return found
