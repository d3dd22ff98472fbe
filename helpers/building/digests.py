"""One digest of the files a build copies in: the embedded builder's cache key, and a recording's context check.

For each root, in order: a directory contributes every entry below it (never
the directory itself, since ``COPY dir/`` copies its contents), sorted, named
relative to the root; a file contributes itself, named by its base name.  Each
entry adds its name, its mode, and its bytes' sha256 (streamed, a chunk at a
time) or, for a link, its target: links are hashed as links, never followed.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Iterable
from pathlib import Path

from ..ground.errors import LayerLabError

_CHUNK = 1 << 20


def tree_digest(roots: Iterable[Path], limit: int | None = None) -> str:
    """The hex sha256 of ``roots`` as the module says; past ``limit`` bytes of file contents, a clear error."""
    digest = hashlib.sha256()
    total = 0
    for root in roots:
        entries = sorted(root.rglob("*")) if root.is_dir() and not root.is_symlink() else [root]
        for path in entries:
            name = path.name if path == root else path.relative_to(root).as_posix()
            digest.update(f"{name}\0{path.lstat().st_mode:o}\0".encode())
            if path.is_symlink():
                digest.update(os.readlink(path).encode())
            elif path.is_file():
                total += path.stat().st_size
                if limit is not None and total > limit:
                    raise LayerLabError(f"the build context {root} holds over {limit >> 20} MiB",
                                        "keep the context small: only what the Dockerfile copies")
                content = hashlib.sha256()
                with path.open("rb") as stream:
                    while chunk := stream.read(_CHUNK):
                        content.update(chunk)
                digest.update(content.digest())
    return digest.hexdigest()
