"""The host side of a ``RUN``'s mounts (:mod:`helpers.ground.run_flags`): what each is bound from, made and removed.

For each ``--mount`` of a step, before it runs:

* its mount point is made in the image's filesystem with
  :meth:`.placement.Rootfs.mount_point`, every path resolved inside the image
  (a target that passes through a link lands where the link points *in the
  image*, never on the host);
* a ``bind`` is a fresh copy of its source, taken from the build context
  (``.dockerignore`` applied, links kept as links and resolved inside the
  context) or from an earlier stage's filesystem, in the build's scratch
  folder: what the step writes there, with ``rw``, is thrown away, and the
  context is never written.  A read-only bind is a read-only mount in a user
  namespace, and under proot run by root; under proot run by anyone else it is
  the copy, which the step can write (its writes are thrown away: never the context's);
* a ``cache`` is a folder of the store's (``cache-mounts/``), one per
  ``id``, kept between builds;
* a ``tmpfs`` is a new tmpfs in a user namespace, or an empty scratch
  folder under proot.

After the step, the mount points it made are removed again, if they are still
the empty folder or file they were (as BuildKit does since v0.11), so the
layer holds none of the mounted files and no stub.  Neither proot nor a user
namespace is a security boundary: a step can read and write what your user
can; the mounts only decide what it finds in the image.
"""

from __future__ import annotations

import contextlib
import hashlib
import tempfile
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path

from ..ground.dockerignore import Dockerignore
from ..ground.errors import DockerfileError
from ..ground.run_flags import RunMount
from .placement import PlacementRefused, Rootfs, copy_into
from .removal import remove_tree


@dataclass(frozen=True)
class Bind:
    """One mount a step gets: ``host`` (``None`` for a tmpfs) at ``inside``, an in-image path with no link in it."""

    host: Path | None
    inside: str
    read_only: bool
    is_file: bool = False


def cache_folder(store_root: Path, mount: RunMount) -> Path:
    """The store's folder for a cache mount: one per ``id``, named by its hash (an id may hold any character)."""
    return store_root / "cache-mounts" / hashlib.sha256(mount.cache_id.encode()).hexdigest()[:32]


def source_root(mount: RunMount, context: Path, stages: Mapping[str, Path]) -> tuple[Path, str]:
    """Where a bind's files come from: the context, or the filesystem of the stage ``from=`` names; and its name."""
    if not mount.from_:
        return context, f"the build context {context}"
    root = stages.get(mount.from_.lower())
    if root is None:
        raise DockerfileError(f"`--mount=…,from={mount.from_}` names no earlier stage",
                              "name a stage with FROM … AS NAME")
    return root, f"stage {mount.from_}"


def _source_kind(root: Path, source: str, where: str, ignore: Dockerignore | None) -> str:
    with Rootfs(root) as tree:
        kind = tree.kind(source or ".")
    if source.strip("/") and ignore is not None and ignore.excluded(source.strip("/")) and kind != "dir":
        kind = None
    if kind not in ("dir", "file"):
        raise DockerfileError(f"`--mount` source `{source or '.'}` is not a file or folder in {where}",
                              "mount something the context (or the stage) holds")
    return kind


@contextlib.contextmanager
def prepared(rootfs: Path, mounts: tuple[RunMount, ...], workdir: str, context: Path, stages: Mapping[str, Path],
             ignore: Dockerignore | None, store_root: Path, scratch: Path, *,
             in_namespace: bool) -> Iterator[list[Bind]]:
    """The binds for ``mounts`` in the image at ``rootfs``, made before the step and removed after it."""
    binds: list[Bind] = []
    stubs: list[str] = []
    copies: list[Path] = []
    try:
        for mount in mounts:
            target = mount.target_in(workdir)
            if target == "/":
                raise DockerfileError(f"`--mount` target {mount.target} in {workdir} is the image's whole filesystem",
                                      "mount below /")
            host: Path | None = None
            is_file = False
            if mount.kind == "cache":
                host = cache_folder(store_root, mount)
                host.mkdir(parents=True, exist_ok=True)
            elif mount.kind == "bind":
                root, where = source_root(mount, context, stages)
                is_file = _source_kind(root, mount.source, where, ignore if not mount.from_ else None) == "file"
                copy = Path(tempfile.mkdtemp(prefix="bind-", dir=scratch))
                copies.append(copy)
                with Rootfs(root) as tree, Rootfs(copy) as out:
                    copy_into(out, tree, mount.source or ".", "/file" if is_file else "/", False,
                              ignore if not mount.from_ else None)
                host = copy / "file" if is_file else copy
            elif not in_namespace:  # a tmpfs, under proot: an empty folder of the build's, thrown away
                host = Path(tempfile.mkdtemp(prefix="tmpfs-", dir=scratch))
                copies.append(host)
            try:
                with Rootfs(rootfs) as image:
                    inside, made = image.mount_point(target, "file" if is_file else "dir")
            except PlacementRefused as exc:
                raise DockerfileError(f"`--mount` target {target}: {exc.message}", exc.hint or "") from exc
            stubs.extend(made)
            binds.append(Bind(host, inside, mount.read_only, is_file))
        yield binds
    finally:
        with Rootfs(rootfs) as image:
            for stub in reversed(stubs):
                image.remove_stub(stub)
        for copy in copies:
            with contextlib.suppress(OSError):  # left in the scratch folder, which goes with the build
                remove_tree(copy)
