"""One digest of the files a build copies in: the embedded builder's cache key, and a recording's context check.

For each source, in order: a folder contributes every entry below it (never
the folder itself, since ``COPY dir/`` copies its contents), in the walk's
order, named relative to the source; a file contributes itself, named by its
base name.  Each entry adds its name, its mode, and its bytes' sha256
(streamed, a chunk at a time) or, for a link, its target: links are hashed as
links, never followed.  What the context's ``.dockerignore`` leaves out is
left out of the digest too, so editing an ignored file changes nothing.  The
walk is :func:`helpers.building.placement.walk_source`'s: by descriptors,
inside the tree, at any depth.
"""

from __future__ import annotations

import hashlib
import os
import posixpath
from collections.abc import Iterable
from pathlib import Path

from ..ground.dockerignore import Dockerignore, read_dockerignore
from ..ground.errors import LayerLabError
from .placement import Rootfs, walk_source


def sources_digest(tree: Rootfs, paths: Iterable[str], ignore: Dockerignore | None = None,
                   limit: int | None = None) -> str:
    """The hex sha256 of ``paths`` of ``tree`` as the module says; past ``limit`` bytes of file contents, an error."""
    digest = hashlib.sha256()
    total = 0
    for path in paths:
        for entry in walk_source(tree, path, ignore):
            if entry.relative == "" and entry.kind == "dir":
                continue
            name = entry.relative or posixpath.basename(path.rstrip("/")) or "."
            digest.update(f"{name}\0{entry.info.st_mode:o}\0".encode("utf-8", "surrogateescape"))
            if entry.kind == "symlink":
                digest.update(entry.target.encode("utf-8", "surrogateescape"))
            elif entry.kind == "file":
                total += entry.info.st_size
                if limit is not None and total > limit:
                    raise LayerLabError(f"the build context {tree.root} holds over {limit >> 20} MiB",
                                        "keep the context small: only what the Dockerfile copies")
                content = hashlib.sha256()
                for chunk in entry.chunks():
                    content.update(chunk)
                digest.update(content.digest())
    return digest.hexdigest()


def context_ignore(context: str | os.PathLike) -> Dockerignore | None:
    """The build context's ``.dockerignore``, compiled; ``None`` when it has none."""
    patterns = read_dockerignore(context)
    return Dockerignore(patterns) if patterns else None


def context_digest(context: str | os.PathLike, limit: int | None = None) -> str:
    """The hex digest of a whole build context, as a build sees it (its ``.dockerignore`` applied)."""
    with Rootfs(Path(context)) as tree:
        return sources_digest(tree, ["."], context_ignore(context), limit)
