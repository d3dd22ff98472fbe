"""The embedded builder: build a Dockerfile with no Docker daemon, as an unprivileged user.

This module holds its steps; its store is :mod:`.oci_store`, and a ``RUN`` runs
through :mod:`.userns` or :mod:`.proot`.

It orchestrates three well-kept tools from Debian/Ubuntu packages:

* ``skopeo`` brings base images into a local OCI layout (from a registry, from
  a ``docker save``/OCI archive, or from a rootfs tarball, which becomes the
  image's single layer byte for byte, as in the official Alpine images);
* ``umoci`` unpacks an image rootless, and adds each step's layer: the paths
  the step changed, told by their status (:mod:`.step_changes`), with whiteouts
  for deletions, streamed to it as they are read;
* ``proot`` runs each ``RUN`` step as a fake root inside that filesystem, with
  ``/dev``, ``/proc`` and ``/sys`` bound; where the kernel allows user namespaces
  a step runs without ptrace instead (:mod:`helpers.building.userns`), and proot takes
  over when it fails there or needs a non-root ``USER``.

**proot is not a security boundary.**  It intercepts system calls with ptrace
to fake ``root`` and a changed root directory; a ``RUN`` step runs with *your*
user's rights and can read and write whatever you can.  Build only
Dockerfiles you would run yourself.

Every instruction Docker would commit as a layer (``RUN``, ``COPY``, ``ADD``)
becomes one layer; the others change the config and add an ``empty_layer``
history entry, as Docker's classic builder does.  Steps are cached in the
store under a key made like Docker's (the parent image, the instruction, and
for ``COPY``/``ADD`` the content of the copied files), so a re-run is fast.
The result is an OCI layout that :mod:`helpers.reading.oci_layout` reads unchanged.

In offline mode (``LAYERLAB_OFFLINE=1``) nothing is pulled and ``RUN`` steps
get no network: proot cannot take it away, so offline builds run them under
``unshare --net`` where the kernel allows it, and refuse otherwise.  A build
that asks for the network (``network=True``, for ``apt-get`` and Debian's
package registry) runs them with the user's own network, offline or not.
``apt-get`` works under proot as it is: proot's fake root also fakes the
``setresuid`` apt uses to drop to its ``_apt`` sandbox user.

A build killed at any moment (SIGKILL, a restarted notebook kernel) leaves no
half cache entry: umoci commits each step by renaming a complete ``index.json``
into place (a layer streamed into it is tagged as the step's only once it was
written whole, :meth:`.oci_store.OciStore.layer_writer`), base images are
imported into a private layout and only then join the store (their blobs
first, their tag last, each by a rename), and scratch folders live under the
store, locked while in use, so the next build removes what a killed one left
behind.
"""

from __future__ import annotations

import contextlib
import errno
import hashlib
import io
import json
import os
import platform as host_platform
import posixpath
import re
import shlex
import subprocess
import tarfile
import tempfile
import time
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path

from ..ground.dockerfile import Dockerfile, is_remote, substitute
from ..ground.dockerignore import Dockerignore
from ..ground.errors import BaseImageMissing, BuildFailed, DockerfileError, LayerLabError, SourceNotFound
from ..ground.model import Image, Source
from ..ground.references import slug_tag
from ..ground.run_flags import RunFlags, parse_run
from ..ground.settings import ENGINE_LABELS, OFFLINE_VARIABLE, ROOTFS_VARIABLE, Settings
from ..ground.steps import BuildStep, Progress
from ..reading.files import read_path
from ..reading.oci_documents import Descriptor, ref_name
from ..reading.oci_layout import layout_layer
from . import proot, userns
from .bases import find_rootfs, label, recipe_for
from .builder import BuiltImage, RunResult
from .checksums import verified_copy
from .digests import context_ignore, sources_digest
from .oci_store import ORIGIN_ANNOTATION, OciStore, require_tools, slug, tail
from .placement import AddBudget, PlacementRefused, Rootfs, copy_into, extract_into, is_archive
from .registry import apt_failure
from .removal import remove_tree
from .run_mounts import Bind, prepared
from .step_changes import Snapshot, changes, snapshot, write_layer
from .step_process import run_step
from .unpacked_trees import UnpackedTrees

DEFAULT_PATH = "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
_CONFIG_ONLY = {"ENV", "WORKDIR", "USER", "LABEL", "CMD", "ENTRYPOINT", "EXPOSE", "SHELL", "ARG", "STOPSIGNAL",
                "VOLUME"}
_SUPPORTED = _CONFIG_ONLY | {"FROM", "RUN", "COPY", "ADD"}


def _after_the_second_of(moment: float) -> None:
    """Wait, if need be, until the second after ``moment``, when a bundle's snapshot was last taken.

    Only for a file system that keeps times to the second
    (:attr:`.step_changes.Snapshot.whole_seconds`): a step run in the second of
    the snapshot could change a directory (remove a file from it, say) and
    leave its times, to the second, as they were: the directory would then be
    left out of the layer, where Docker keeps it.  A step that starts in a later
    second cannot: whatever it touches gets a later time.
    """
    wait = int(moment) + 1.02 - time.time()  # file times lag the clock by a tick at most
    if wait > 0:
        time.sleep(wait)


def _short(text: str, width: int = 72) -> str:
    """``text`` on one line, cut to ``width`` characters for a message."""
    line = " ".join(text.split())
    return line if len(line) <= width else line[: width - 1] + "…"


def _escapes(source: str) -> bool:
    """True for a source that names a path above its root (``..``, ``a/../..``), which Docker refuses too."""
    return posixpath.normpath(source.lstrip("/") or ".").split("/")[0] == ".."


@dataclass(frozen=True)
class _CopySource:
    """One source of a ``COPY``/``ADD``: its root (the context or a stage's rootfs), its path there, as found."""

    root: Path
    path: str
    host: Path  # the same file, by a host path with no link in it
    is_dir: bool
    ignore: Dockerignore | None = None  # the build context's .dockerignore, for a source in the context

    def digest(self) -> str:
        """What the step's cache key holds of this source: its files as the build copies them."""
        with Rootfs(self.root) as tree:
            return sources_digest(tree, [self.path], self.ignore)


@contextlib.contextmanager
def _opened(tree: Rootfs, path: str) -> Iterator[io.BufferedReader]:
    """The regular file at ``path`` of ``tree``, opened without following a link out of it."""
    where = tree.resolve(path, follow_last=True)
    try:
        fd = os.open(where.name or ".", os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC, dir_fd=where.parent)
    finally:
        os.close(where.parent)
    with open(fd, "rb", buffering=1 << 20) as stream:
        yield stream


_HEREDOC = re.compile(r"^\s*(RUN|COPY|ADD)\b.*<<-?\s*[\"']?[A-Za-z_]\w*[\"']?", re.IGNORECASE | re.MULTILINE)


def _instructions(dockerfile: Dockerfile) -> list[dict]:
    """The Dockerfile's instructions, each checked to be one the embedded builder runs."""
    heredoc = _HEREDOC.search(dockerfile.text)
    if heredoc:
        line = dockerfile.text.count("\n", 0, heredoc.start()) + 1
        raise DockerfileError(
            f"line {line} uses a heredoc (`<<`), which the embedded builder does not support",
            "write the lines as one RUN joined with &&, or COPY a script; or build with the Docker Engine (BuildKit)",
        )
    for item in dockerfile.instructions:
        if item["instruction"] not in _SUPPORTED:
            raise DockerfileError(
                f"{item['instruction']} (line {item['startline'] + 1}) is not supported by the embedded builder",
                f"supported: {', '.join(sorted(_SUPPORTED))}; or build with the Docker Engine",
            )
    return list(dockerfile.instructions)


def _from_image(words: list[str], args: dict[str, str], item: dict) -> str:
    """The image a ``FROM`` names, its ``$ARG``s substituted; a clear error when it names none."""
    line = item["startline"] + 1
    if not words:
        raise DockerfileError(f"FROM (line {line}) names no image", "write FROM IMAGE[:TAG] [AS NAME]")
    image = substitute(words[0], args).strip()
    if not image:
        unset = re.findall(r"\$\{?(\w+)", words[0])
        raise DockerfileError(
            f"FROM {words[0]} (line {line}) names no image: "
            + (f"ARG {unset[0]} has no default" if unset else "the name is empty"),
            f"give it a default (ARG {unset[0]}=IMAGE) or pass it as a build argument" if unset else
            "write FROM IMAGE[:TAG]",
        )
    return image


def _shell_form(value: str) -> list[str]:
    """``SHELL``'s argument, which must be a JSON array of strings, as Docker requires."""
    try:
        parsed = json.loads(value)
    except ValueError:
        parsed = None
    if not isinstance(parsed, list) or not parsed or not all(isinstance(part, str) for part in parsed):
        raise DockerfileError(f"SHELL {value} is not a JSON array of strings",
                              'write it in JSON form, e.g. SHELL ["/bin/sh", "-c"]')
    return parsed


@dataclass(frozen=True)
class _MountSources:
    """Where a ``RUN``'s bind mounts find their files: the context (with its .dockerignore) and the stages so far."""

    context: Path
    stages: dict[str, _Stage]
    ignore: Dockerignore | None


@dataclass
class _Stage:
    name: str | None
    tag: str
    env: dict[str, str] = field(default_factory=dict)
    workdir: str = "/"
    user: str = ""
    shell: list[str] = field(default_factory=lambda: ["/bin/sh", "-c"])
    bundle: Path | None = None
    bundle_tag: str | None = None
    #: The status of every path of the bundle's root filesystem, as of its image ``bundle_tag``.
    snapshot: Snapshot | None = None
    #: When that snapshot was taken (``time.time()``).
    bundle_listed: float = 0.0
    #: The image this stage last committed, and its layer's size as ``docker history`` counts it.
    committed: tuple[str, int] | None = None


class EmbeddedBuilder:
    """Builds Dockerfiles into the OCI layout of its store, with a per-step cache (a :class:`.builder.Builder`)."""

    name = "embedded"
    label = ENGINE_LABELS["embedded"]

    def __init__(self, store: str | os.PathLike | None = None, *, settings: Settings) -> None:
        """A builder with its store at ``store`` (default: the settings' ``store``), working as ``settings`` say.

        ``settings`` has no default: a builder made without them would quietly work offline-off,
        with no rootfs folders and the default store, whatever the caller's environment says.
        """
        self.settings = settings
        self.tools = require_tools()
        self.store = OciStore(Path(store) if store is not None else settings.store, self.tools)
        self.trees = UnpackedTrees(self.store)
        self.root, self.layout = self.store.root, self.store.layout

    def manifest_digest(self, tag: str) -> str:
        """The digest of the image manifest tagged ``tag`` in the store: the image's identity."""
        return self.store.index()[tag]

    def store_tag(self, reference: str | Source) -> str:
        """The store's tag for ``reference``: an image of this store (as its ``origin`` names it, or as the text
        ``LAYOUT:TAG``), a store tag, or an image's name."""
        if isinstance(reference, Source):
            if reference.ref and Path(reference.location) == self.layout:
                return reference.ref
            reference = str(reference)
        layout, _, tag = str(reference).rpartition(":")
        if layout and Path(layout) == self.layout:
            return tag
        return reference if reference in self.store.index() else slug_tag(reference)

    def read(self, reference: str | Source, measure_pull: bool = False) -> Image:
        """The store image ``reference`` names (see :meth:`store_tag`), its source ``LAYOUT:TAG``.

        What a pull moves is measured by the Docker Engine only: ``measure_pull`` changes nothing here.
        """
        tag = self.store_tag(reference)
        origin = Source("path", str(self.layout), tag)
        return self._read_tag(tag)._replace(source=str(origin), origin=origin)

    def read_base(self, image: str, measure_pull: bool = False) -> Image:
        """A base image by name, imported into the store first if it is not there."""
        tag = self.base(image)
        return self._read_tag(tag)._replace(source=image, bases=[self.describe_base(image)])

    def _read_tag(self, tag: str) -> Image:
        return read_path(self.layout, ref=tag, verify=self.settings.verify, limits=self.settings.limits)

    def metadata(self) -> dict:
        """What a recording keeps of this builder: the versions of skopeo and umoci, and the platform."""
        versions = [subprocess.run([path, "--version"], capture_output=True, text=True).stdout.split("\n")[0].strip()
                    for tool, path in self.tools.items() if tool != "proot"]
        machine = {"x86_64": "amd64", "aarch64": "arm64"}.get(host_platform.machine(), host_platform.machine())
        return {"engine": "embedded builder", "engine_version": "; ".join(versions), "api_version": "none",
                "platform": f"linux/{machine}"}

    def save_stream(self, reference: str | Source) -> io.BufferedReader:
        """The image ``reference`` names, as a ``docker save`` archive streamed by skopeo (nothing touches disk)."""
        return self.store.save_stream(self.store_tag(reference))

    def run(self, image: str, script: str, files: Mapping[str, bytes] | None = None,
            network: bool = False) -> RunResult:
        """``script`` run by ``/bin/sh`` as root in a throwaway copy of base ``image``, ``files`` placed in it first.

        The copy is unpacked in a scratch folder of the store and goes with it:
        nothing the script writes is kept, as with ``docker run --rm``.  It runs
        as a ``RUN`` step does (a user namespace where the kernel allows one, else
        proot), with no network unless ``network``.
        """
        tag = self.base(image)
        env = self._image_env(tag)
        argv = ["/bin/sh", "-c", script]
        with self.store.scratch() as scratch:
            rootfs = scratch / "rootfs"
            self.trees.unpack(tag, rootfs, scratch)
            with Rootfs(rootfs) as tree:
                for path, data in (files or {}).items():
                    tree.write(path, iter([data]), 0o644)
            done = None
            if userns.usable("", self.settings.run_mode):
                done = self._execute(rootfs, "", "/", env, argv, network, in_namespace=True)
            if done is None or done.returncode == userns.SETUP_FAILED:
                done = self._execute(rootfs, "", "/", env, argv, network, in_namespace=False)
            refused = proot.refusal(done.stderr, "a command")
            if refused is not None:
                raise refused
        return RunResult(done.stdout, done.stderr, done.returncode)

    # ---------------------------------------------------------- base images
    def import_rootfs(self, image: str, tarball: str | os.PathLike) -> str:
        """Make ``image`` from a rootfs tarball the way its official image is made (see :mod:`helpers.building.bases`).

        A gzipped tarball (Alpine's) becomes the single layer, byte for byte
        (skopeo's ``tarball:`` transport); a plain one (debuerreotype's) is gzipped
        on the way in, as every layer the builder commits is.  The config gets
        Docker's default ``PATH`` and the recipe's ``CMD`` (``/bin/sh`` for Alpine,
        ``bash`` for Debian).
        """
        tarball = Path(tarball)
        recipe = recipe_for(image)
        cmd = list(recipe.cmd) if recipe is not None else ["/bin/sh"]
        with self.store.scratch() as staging:
            copy = staging / tarball.name  # checked against its SHA256SUMS as it is copied: what skopeo reads
            verified_copy(tarball, copy)
            with open(copy, "rb") as stream:
                gzipped = stream.read(2) == b"\x1f\x8b"
            return self.store.import_image(image, f"tarball:{copy}", f"importing {tarball} as {image}",
                                           ["--config.env", DEFAULT_PATH,
                                            *[a for part in cmd for a in ("--config.cmd", part)],
                                            "--history.created_by", f"/bin/sh -c #(nop)  CMD {json.dumps(cmd)}"],
                                           origin=tarball.name, compress=not gzipped)

    def import_archive(self, image: str, archive: str | os.PathLike) -> str:
        """Bring ``image`` in from a ``docker save`` or OCI archive."""
        with tarfile.open(archive) as tar:
            transport = "oci-archive" if "index.json" in tar.getnames() and "manifest.json" not in tar.getnames() \
                else "docker-archive"
        return self.store.import_image(image, f"{transport}:{Path(archive).resolve()}",
                            f"importing {archive} as {image}", origin=Path(archive).name)

    def _rootfs(self, image: str) -> Path | None:
        return find_rootfs(image, self.settings.rootfs)

    def has_base(self, image: str) -> bool:
        """True when ``image`` is in the store, or can be made from a rootfs tarball without the network."""
        return image == "scratch" or "base-" + slug(image) in self.store.index() or self._rootfs(image) is not None

    def base(self, image: str) -> str:
        """The store's tag for a base image, importing it first if needed (one builder at a time: see
        :meth:`.oci_store.OciStore.base_lock`)."""
        tag = "base-" + slug(image)
        if tag in self.store.index():
            return tag
        with self.store.base_lock():
            return self._make_base(image, tag)

    def _make_base(self, image: str, tag: str) -> str:
        if tag in self.store.index():  # made by another builder while this one waited
            return tag
        if image == "scratch":
            self.store.umoci("new", "--image", self.store.ref(tag), what="making an empty image for FROM scratch")
            return tag
        tarball = self._rootfs(image)
        if tarball is not None:
            return self.import_rootfs(image, tarball)
        if self.settings.offline:
            raise BaseImageMissing(
                f"base image {image} is not in the embedded builder's store, and offline mode "
                f"({OFFLINE_VARIABLE}=1) never pulls",
                f"set {ROOTFS_VARIABLE} to a folder holding its rootfs tarball "
                "(e.g. alpine-minirootfs-3.20.3-x86_64.tar.gz, or make one with `python -m helpers base IMAGE`)",
            )
        name = image if "/" in image.split(":")[0] else f"library/{image}"
        return self.store.import_image(image, f"docker://docker.io/{name}", f"pulling {image}",
                                       origin=f"docker.io/{name}")

    def squash(self, reference: str, new: str, onto: str | None = None) -> str:
        """Merge the layers of store image ``tag`` into one, tagged ``new``: all of them, or those above ``onto``.

        The way docker-squash does it through the Docker Engine, done with
        umoci: unpack ``onto`` (a base image's name; none: an empty image),
        put ``tag``'s whole filesystem in its place, and commit the difference
        as one layer.  So the new layer holds exactly what ``tag`` shows and
        ``onto`` does not, and whiteouts for what ``onto`` has and ``tag`` does not.
        Unlike docker-squash, the new image keeps ``onto``'s config (or none) and
        one history entry for the squash, not the squashed steps.
        """
        tag, new = self.store_tag(reference), slug_tag(new)
        if tag not in self.store.index():
            raise SourceNotFound(f"the embedded builder's store has no image {tag!r}", "build it first")
        below = self.base(onto) if onto is not None else None
        with self.store.scratch() as scratch:
            if below is None:
                below = f"squash-empty-{slug(new)}"
                self.store.umoci("new", "--image", self.store.ref(below), what="making an empty image to squash onto")
            target, source = scratch / "target", scratch / "source"
            umoci, ref = self.store.umoci, self.store.ref
            umoci("unpack", "--rootless", "--image", ref(below), str(target), what=f"unpacking {below}")
            umoci("unpack", "--rootless", "--image", ref(tag), str(source), what=f"unpacking {tag}")
            remove_tree(target / "rootfs")
            os.rename(source / "rootfs", target / "rootfs")
            what = f"squash of {tag}" + (f" onto {onto}" if onto else "")
            self.store.umoci("tag", "--image", self.store.ref(below), new, what=f"tagging {new}")
            self.store.umoci("repack", "--image", self.store.ref(new), "--history.created_by", what, str(target),
                        what=f"committing the {what}")
            if onto is None:
                self.store.umoci("rm", "--image", self.store.ref(below), what=f"removing {below}")
        return new

    def describe_base(self, image: str) -> dict:
        """Where a base image in the store came from, as :func:`.engine.describe_base` says it for Docker.

        ``id`` is its config digest; ``made`` is ``pulled`` or ``made locally``;
        ``from`` the registry, or the tarball or archive (``None`` when unknown).
        """
        tag = "base-" + slug(image)
        descriptor = next(d for d in self.store.read_index().get("manifests") or []
                          if ref_name(d) == tag)
        manifest = self.store.manifest(descriptor["digest"])
        config = self.store.config_of(manifest)
        origin = str(Descriptor.from_json(descriptor, "store's index").annotations.get(ORIGIN_ANNOTATION) or "")
        return {
            "image": image,
            "id": manifest["config"]["digest"],
            "rootfs": list((config.get("rootfs") or {}).get("diff_ids") or []),
            "layers": [layer["digest"] for layer in manifest.get("layers") or []],  # as the reader sees them
            "made": "pulled" if origin.startswith("docker.io/") else "made locally",
            "from": origin or None,
        }

    # ---------------------------------------------------------- steps
    def _config(self, stage: _Stage, new: str, args: list[str], created_by: str) -> None:
        self.store.umoci("config", "--image", self.store.ref(stage.tag), "--tag", new, *args,
                    "--history.created_by", created_by, what=f"recording `{created_by}`")

    def _bundle(self, stage: _Stage, scratch: Path) -> Path:
        if stage.bundle is not None and stage.bundle_tag == stage.tag:
            return stage.bundle
        if stage.bundle is not None:
            with contextlib.suppress(OSError):  # left in the scratch folder, which goes with the build
                remove_tree(stage.bundle)
        bundle = Path(tempfile.mkdtemp(prefix="bundle-", dir=scratch))
        self.trees.unpack(stage.tag, bundle / "rootfs", scratch)
        stage.bundle, stage.bundle_tag = bundle, stage.tag
        stage.snapshot = snapshot(bundle / "rootfs", self.settings.limits.entries)
        stage.bundle_listed = time.time()
        return bundle

    def _repack(self, stage: _Stage, new: str, created_by: str) -> None:
        """Commit what changed in the bundle since its snapshot as the layer of image ``new`` (none: no layer).

        The changes are told by status (:mod:`.step_changes`), and umoci adds the layer they make.
        """
        assert stage.bundle is not None and stage.snapshot is not None and stage.bundle_tag is not None
        after = snapshot(stage.bundle / "rootfs", self.settings.limits.entries)
        changed, whiteouts = changes(stage.snapshot, after)
        history = ("--tag", new, "--history.created_by", created_by)
        counted = 0
        if changed or whiteouts:  # streamed into umoci: the layer is never a file of its own
            with self.store.layer_writer(stage.bundle_tag, new, stage.bundle.parent, created_by) as layer:
                counted = write_layer(stage.bundle / "rootfs", changed, whiteouts, layer, after)
        else:  # a step that changed nothing adds no layer, only its history entry
            self.store.umoci("config", "--image", self.store.ref(stage.bundle_tag), *history,
                             what=f"committing `{created_by}`")
        stage.bundle_tag, stage.snapshot, stage.bundle_listed = new, after, time.time()
        stage.committed = new, counted

    def _layer_bytes(self, stage: _Stage, parent: str) -> int:
        """The size of the layer ``stage``'s image adds over ``parent``, as ``docker history`` counts it.

        That is file bytes plus symlink target lengths; 0 when the step added no
        layer (none is committed for a ``RUN`` that changes no file).  Counted as the
        layer was written when this stage just committed it, else read from its blob (a cached step).
        """
        tag = stage.tag
        if stage.committed is not None and stage.committed[0] == tag:
            return stage.committed[1]
        layers = self.store.layers(tag)
        if len(layers) <= len(self.store.layers(parent)):
            return 0
        entries = layout_layer(self.layout, layers[-1]["digest"], self.settings.verify, self.settings.limits).entries
        return sum(e.size for e in entries if e.kind == "file") + sum(len(e.link) for e in entries
                                                                     if e.kind == "symlink")

    def _copy(self, stage: _Stage, value: str, context: Path, stages: dict[str, _Stage], add: bool,
              scratch: Path, ignore: Dockerignore | None) -> tuple[list[_CopySource], str]:
        words = shlex.split(value)
        flags = [w for w in words if w.startswith("--")]
        paths = [substitute(w, stage.env) for w in words if not w.startswith("--")]
        if len(paths) < 2:
            raise DockerfileError(f"`{'ADD' if add else 'COPY'} {value}` needs a source and a destination",
                                  "write SOURCE... DEST")
        *sources, dest = paths
        source_root, where = context, f"the build context {context}"
        for flag in flags:
            if flag.startswith("--from="):
                other = stages.get(flag.split("=", 1)[1].lower())
                if other is None:
                    raise DockerfileError(f"`{flag}` names no earlier stage", "name a stage with FROM … AS NAME")
                source_root, where = self._bundle(other, scratch) / "rootfs", f"stage {flag.split('=', 1)[1]}"
                ignore = None  # .dockerignore is the context's, not a stage's
        resolved = []
        with Rootfs(source_root) as tree:
            for source in sources:
                if add and is_remote(source):
                    raise DockerfileError(f"`ADD {_short(source)}`: the embedded builder does not download",
                                          "download it into the build context and ADD the file, or build with the "
                                          "Docker Engine (--engine docker)")
                if _escapes(source):
                    raise DockerfileError(f"`{source}` is not in {where}", "copy only files inside the context")
                try:
                    found = tree.resolve(source, follow_last=True)
                except (FileNotFoundError, PlacementRefused):
                    found = None
                if found is not None:
                    os.close(found.parent)
                if found is None or tree.kind(found.path) is None:
                    raise DockerfileError(f"`{source}` is not in {where}", "copy only files inside the context")
                is_dir = tree.kind(found.path) == "dir"
                if ignore is not None and found.path and ignore.excluded(found.path) \
                        and not (is_dir and ignore.must_descend(found.path)):
                    raise DockerfileError(f"`{source}` is not in {where}: its .dockerignore leaves it out",
                                          "remove its pattern from .dockerignore, or copy something else")
                resolved.append(_CopySource(source_root, source, source_root / found.path, is_dir, ignore))
        return resolved, dest

    def _place(self, rootfs: Path, stage: _Stage, sources: list[_CopySource], dest: str, add: bool,
               budget: AddBudget, text: str) -> None:
        """Put ``sources`` at ``dest`` in ``rootfs``, every path resolved inside it (see :mod:`.placement`)."""
        target = dest if dest.startswith("/") else f"{stage.workdir.rstrip('/')}/{dest}"
        try:
            with Rootfs(rootfs) as image:
                into = dest.endswith("/") or len(sources) > 1 or image.kind(target) == "dir"
                for source in sources:
                    if add and not source.is_dir and is_archive(source.host):
                        with Rootfs(source.root) as tree, _opened(tree, source.path) as archive:
                            extract_into(image, archive, target, budget, f"`{text}`")
                    else:
                        with Rootfs(source.root) as tree:
                            copy_into(image, tree, source.path, target, into, source.ignore)
        except OSError as exc:
            if exc.errno == errno.ENOSPC:
                raise LayerLabError(f"`{text}`: no space left on the device of {self.root}",
                                    "free some space, or set LAYERLAB_STORE to a bigger disk") from exc
            raise DockerfileError(f"`{text}` cannot place {exc.filename or 'a file'}: {exc.strerror}",
                                  "check the files it copies") from exc

    # ---------------------------------------------------------- building
    def build(self, dockerfile: Dockerfile, context: Path | None, name: str, tag: str,
              progress: Progress | None = None, network: bool | None = None) -> BuiltImage:
        """Build ``dockerfile`` in ``context`` as ``tag`` (in the store's form, :func:`slug_tag`).

        ``context`` ``None`` is an empty folder, locked in the store while in use (the next builder removes one a
        killed build left).  ``network``: whether ``RUN`` steps get the network (default: unless offline mode is on).
        """
        if context is None:
            with self.store.scratch() as empty:
                return self.build(dockerfile, empty, name, tag, progress, network)
        tag = slug_tag(tag)
        network = not self.settings.offline if network is None else network
        bases: list[str] = []
        structure = _instructions(dockerfile)
        budget = AddBudget(self.settings.limits.add_bytes, self.settings.limits.add_entries)
        ignore = context_ignore(context)  # read once, before any step: Docker's meaning, in every COPY and ADD
        total = len(structure)
        stages: dict[str, _Stage] = {}
        stage: _Stage | None = None
        args: dict[str, str] = {}
        with self.store.scratch() as scratch:
            for number, item in enumerate(structure, start=1):
                keyword, value = item["instruction"], item["value"]
                text = f"{keyword} {value}"
                step = BuildStep(number, total, text)
                if keyword == "ARG" and stage is None:  # a global ARG, for the FROM lines below it
                    self._apply_state(_Stage(None, ""), keyword, value, args)
                    if progress:
                        progress(name, step)
                    continue
                if keyword == "FROM":
                    words = [w for w in value.split() if not w.startswith("--")]
                    image = _from_image(words, args, item)
                    alias = words[2].lower() if len(words) >= 3 and words[1].lower() == "as" else None
                    if image.lower() in stages:
                        parent = stages[image.lower()]
                        stage = _Stage(alias, parent.tag, dict(parent.env), parent.workdir, parent.user,
                                       list(parent.shell))
                    else:
                        stage = _Stage(alias, self.base(image))
                        stage.env = self._image_env(stage.tag)
                        if image != "scratch":
                            step.base = label(self.describe_base(image))
                            bases.append(image)
                    if alias:
                        stages[alias] = stage
                    if progress:
                        progress(name, step)
                    continue
                if stage is None:
                    raise DockerfileError(f"{keyword} (line {item['startline'] + 1}) comes before any FROM",
                                          "start the Dockerfile with FROM")
                parent = stage.tag
                try:
                    stage.tag = self._step(stage, keyword, value, text, item, context, stages, args, scratch,
                                           network=network, budget=budget, ignore=ignore)
                except BuildFailed as failure:
                    failure.step = number
                    failure.message = f"{name}: step {number}/{total} `{text}` failed: {failure.reason}"
                    raise
                if keyword in ("RUN", "COPY", "ADD"):
                    step.layer_bytes = self._layer_bytes(stage, parent)
                if progress:
                    progress(name, step)
            assert stage is not None
            self.store.copy_tag(stage.tag, tag)
        self.store.prune_steps()
        return BuiltImage(tag, self.manifest_digest(tag), tuple(dict.fromkeys(bases)))

    def _image_env(self, tag: str) -> dict[str, str]:
        config = self.store.config_of(self.store.manifest(self.store.index()[tag])).get("config") or {}
        return dict(item.split("=", 1) for item in config.get("Env") or [DEFAULT_PATH] if "=" in item)

    def _step(self, stage: _Stage, keyword: str, value: str, text: str, item: dict, context: Path,
              stages: dict[str, _Stage], args: dict[str, str], scratch: Path, *, network: bool,
              budget: AddBudget, ignore: Dockerignore | None) -> str:
        """Run one instruction (or take it from the cache) and return the tag of the image it makes."""
        extra = ""
        sources: list[_CopySource] = []
        dest = ""
        if keyword in ("COPY", "ADD"):
            sources, dest = self._copy(stage, value, context, stages, keyword == "ADD", scratch, ignore)
            try:
                extra = hashlib.sha256("".join(source.digest() for source in sources).encode()).hexdigest()
            except PermissionError as exc:
                raise DockerfileError(
                    f"`{text}`: cannot read the build context: {exc.filename}: permission denied",
                    "make it readable, or leave it out of the COPY",
                ) from exc
        flags = None
        if keyword == "RUN":
            flags = parse_run(value)
            extra = json.dumps([stage.env, stage.workdir, stage.user, stage.shell,
                                self._mounted_content(flags, context, stages, ignore)])
        key = hashlib.sha256(json.dumps([self.store.index()[stage.tag], text, extra]).encode()).hexdigest()
        new = f"step-{key[:40]}"
        self._apply_state(stage, keyword, value, args)
        if new in self.store.index():
            return new
        if keyword == "RUN":
            assert flags is not None
            network = network if flags.network in (None, "default", "host") else False
            self._run_step(stage, flags, text, new, scratch, network=network,
                           mounts=_MountSources(context, stages, ignore))
        elif keyword in ("COPY", "ADD"):
            rootfs = self._bundle(stage, scratch) / "rootfs"
            self._place(rootfs, stage, sources, dest, keyword == "ADD", budget, text)
            what = "dir" if any(source.is_dir for source in sources) else "file"
            self._repack(stage, new, f"/bin/sh -c #(nop) {keyword} {what}:{extra} in {dest} ")
        else:
            self._config(stage, new, self._config_args(stage, keyword, value), f"/bin/sh -c #(nop)  {text}")
        return new

    def _apply_state(self, stage: _Stage, keyword: str, value: str, args: dict[str, str]) -> None:
        variables = {**args, **stage.env}
        if keyword == "ENV":
            for word in shlex.split(value):
                if "=" in word:
                    key, _, val = word.partition("=")
                    stage.env[key] = substitute(val, variables)
        elif keyword == "ARG":
            key, has_default, default = value.partition("=")
            if has_default:
                args[key.strip()] = default
            else:  # a stage's `ARG NAME` keeps the global default, as Docker's does
                args.setdefault(key.strip(), "")
        elif keyword == "WORKDIR":
            path = substitute(value, variables)
            stage.workdir = path if path.startswith("/") else f"{stage.workdir.rstrip('/')}/{path}"
        elif keyword == "USER":
            stage.user = substitute(value, variables)
        elif keyword == "SHELL":
            stage.shell = _shell_form(value)

    def _config_args(self, stage: _Stage, keyword: str, value: str) -> list[str]:
        def exec_form(text: str) -> list[str]:
            try:
                parsed = json.loads(text)
            except ValueError:
                parsed = None
            return parsed if isinstance(parsed, list) else [*stage.shell, text]

        if keyword == "ENV":
            return [a for k, v in stage.env.items() for a in ("--config.env", f"{k}={v}")]
        if keyword == "WORKDIR":
            return ["--config.workingdir", stage.workdir]
        if keyword == "USER":
            return ["--config.user", stage.user]
        if keyword in ("CMD", "ENTRYPOINT"):
            flag = f"--config.{keyword.lower()}"
            return ["--clear", f"config.{keyword.lower()}", *[a for part in exec_form(value) for a in (flag, part)]]
        if keyword == "LABEL":
            return [a for word in shlex.split(value) if "=" in word for a in ("--config.label", word)]
        if keyword == "EXPOSE":
            return [a for port in value.split() for a in ("--config.exposedports", port if "/" in port
                                                          else f"{port}/tcp")]
        if keyword == "VOLUME":
            return [a for v in exec_form(value) if not v.startswith("/bin/") for a in ("--config.volume", v)]
        if keyword == "STOPSIGNAL":
            return ["--config.stopsignal", value]
        return []  # ARG and SHELL change only the builder's state

    def _execute(self, rootfs: Path, user: str, workdir: str, env: dict[str, str], argv: list[str], network: bool,
                 *, in_namespace: bool, binds: list[Bind] | None = None) -> subprocess.CompletedProcess:
        """Run ``argv`` in ``rootfs``: in a user namespace (no ptrace: several times faster), or under proot."""
        environment = {**os.environ, "PROOT_NO_SECCOMP": "1"}
        binds = binds or []
        if in_namespace:
            mounts = [(None if b.host is None else str(b.host), b.inside, b.read_only) for b in binds]
            return run_step(userns.command(rootfs, workdir or "/", env, argv, network, mounts), environment)
        with proot.dev_time_kept(rootfs):
            if binds and os.geteuid() == 0:  # root can make mounts: a read-only bind is then really read-only
                before, inside = proot.wrapped(self.tools["proot"], rootfs, user, workdir, env, argv, network)
                real = [(str(b.host), b.inside, b.read_only) for b in binds if b.host is not None]
                return run_step(None, environment, wrap=([*userns.mounting(rootfs, real), *before], inside))
            proot_binds = [(str(b.host), b.inside) for b in binds if b.host is not None]
            return run_step(None, environment,
                            wrap=proot.wrapped(self.tools["proot"], rootfs, user, workdir, env, argv, network,
                                               proot_binds))

    def _mounted_content(self, flags: RunFlags, context: Path, stages: dict[str, _Stage],
                         ignore: Dockerignore | None) -> list[str]:
        """What a ``RUN``'s bind mounts hold, for its cache key: their sources' digests (a cache's is not its key)."""
        found = []
        for mount in flags.mounts:
            if mount.kind != "bind":
                continue
            if mount.from_:
                other = stages.get(mount.from_.lower())
                found.append(f"{mount.from_}:{other.tag if other else ''}:{mount.source}")
                continue
            with Rootfs(context) as tree:
                try:
                    found.append(sources_digest(tree, [mount.source or "."], ignore, self.settings.limits.add_bytes))
                except (FileNotFoundError, PlacementRefused) as exc:
                    raise DockerfileError(f"`--mount` source `{mount.source or '.'}` is not in the build context",
                                          "mount something the context holds") from exc
        return found

    def _run_step(self, stage: _Stage, flags: RunFlags, text: str, new: str, scratch: Path, *, network: bool,
                  mounts: _MountSources) -> None:
        value = flags.command
        try:
            parsed = json.loads(value)
        except ValueError:
            parsed = None
        argv = parsed if isinstance(parsed, list) else [*stage.shell, value]
        created_by = " ".join(argv) if isinstance(parsed, list) else f"{' '.join(stage.shell)} {value}"

        def attempt(in_namespace: bool) -> subprocess.CompletedProcess:
            rootfs = self._bundle(stage, scratch) / "rootfs"
            assert stage.snapshot is not None
            if stage.snapshot.whole_seconds:  # so that every entry the step touches gets a new status
                _after_the_second_of(stage.bundle_listed)
            if stage.workdir != "/":
                with Rootfs(rootfs) as image:  # made inside the image, whatever links its path passes
                    os.close(image.directory(stage.workdir))
            roots = {mount.from_.lower(): self._bundle(mounts.stages[mount.from_.lower()], scratch) / "rootfs"
                     for mount in flags.mounts if mount.from_ and mount.from_.lower() in mounts.stages}
            try:
                with prepared(rootfs, flags.mounts, stage.workdir, mounts.context, roots, mounts.ignore, self.root,
                              scratch, in_namespace=in_namespace) as binds:
                    return self._execute(rootfs, stage.user, stage.workdir, stage.env, argv, network,
                                         in_namespace=in_namespace, binds=binds)
            except OSError as exc:
                if exc.errno != errno.E2BIG:
                    raise
                raise DockerfileError(
                    f"`{_short(text)}` is {len(value.encode()):,} bytes, too long for one command line here",
                    "put the commands in a script, COPY it into the image, and RUN the script",
                ) from exc

        if userns.usable(stage.user, self.settings.run_mode):
            done = attempt(in_namespace=True)
            if done.returncode != 0:
                # The namespace maps one identity; a step may need more (apt drops to its _apt user)
                # or fail for its own reasons. Either way proot decides, from the image's files again.
                stage.bundle_tag = None
                done = attempt(in_namespace=False)
        else:
            done = attempt(in_namespace=False)
        if done.returncode != 0:
            log = tail(done.stdout + "\n" + done.stderr)
            refused = proot.refusal(done.stderr, text) or apt_failure(
                (done.stdout + "\n" + done.stderr).splitlines(), network, text)
            if refused is not None:
                raise refused
            raise BuildFailed(
                f"`{text}` failed",
                "fix that instruction, or the files it uses, and build again",
                log, instruction=text, reason=f"The command '{created_by}' returned a non-zero code: {done.returncode}",
            )
        self._repack(stage, new, created_by)
