"""The embedded builder's store: an OCI image layout and a step cache that builds may share, safely.

Every rewrite of ``index.json`` (umoci's and ours) holds one ``flock``; base
images are imported into a private layout and join the store by renames, their
blobs first and their tag last; scratch folders live under the store, locked
while in use, so the next builder removes what a killed one left.  The store's
documents are read as any layout's are (:func:`helpers.reading.oci_layout.layout_document`).
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import io
import json
import os
import re
import shutil
import stat
import subprocess
import tempfile
from collections.abc import Iterator
from itertools import count
from pathlib import Path
from typing import BinaryIO

from ..ground.errors import ArchiveError, LayerLabError
from ..ground.settings import STORE_VARIABLE
from ..reading.oci_documents import Index, ref_name
from ..reading.oci_layout import layout_document
from .removal import OPEN_FOLDER, remove_tree_at
from .step_process import tied

#: The tools the embedded builder runs, and the Debian/Ubuntu package that has each.
TOOLS = {"skopeo": "skopeo", "umoci": "umoci", "proot": "proot"}
#: The annotation on a base image's tag that says where it came from: the tarball or archive it was made from,
#: or the registry it was pulled from (see :meth:`helpers.building.embedded.EmbeddedBuilder.describe_base`).
ORIGIN_ANNOTATION = "org.layerlab.base.from"
LOG_TAIL = 12
#: The most cached steps the store keeps tagged (a notebook series makes a few hundred).
MAX_STEP_TAGS = 2_000
#: The pipe a layer tar reaches umoci through (``F_SETPIPE_SZ``; Linux's default ceiling for
#: anyone).  At the default 64 KiB the writer and umoci's gzip take turns: committing a 113 MB,
#: 13,000-entry layer took 1.31 s, and 1.04 s through 1 MiB (paired runs on 2 cores).
LAYER_PIPE_BYTES = 1 << 20

#: umoci commands that only read the store (all others rewrite its index.json, ``raw add-layer`` too).
_READS_ONLY = frozenset(("unpack", "stat", "ls", "raw"))
#: The tag of a layer still streaming into umoci (:meth:`OciStore.layer_writer`): the build's scratch folder's name
#: in hexadecimal (a tag may not hold ``-_``, which such a name may), and a number.
_PENDING_TAG = re.compile(r"pending-((?:[0-9a-f]{2})+)-[0-9]+")
_STORE_HINT = "see the tool's message; the embedded builder's store may need a clean start"


class ToolMissing(LayerLabError):
    """A tool the embedded builder needs is not installed."""


def require_tools() -> dict[str, str]:
    """The path of each tool, or :class:`ToolMissing` naming the package to install."""
    found = {}
    for tool, package in TOOLS.items():
        path = shutil.which(tool)
        if path is None:
            raise ToolMissing(f"the embedded builder needs {tool}, which is not installed",
                              f"install the {package} package (apt-get install {package})")
        found[tool] = path
    return found


class _ProcessOutput(io.RawIOBase):
    """A command's standard output as a readable stream; a failed command is an error at the end."""

    def __init__(self, command: list[str], what: str, pass_fds: tuple[int, ...] = (),
                 hint: str = "check the embedded builder's store") -> None:
        self._process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, pass_fds=pass_fds)
        self._what = what
        self._hint = hint

    def readable(self) -> bool:
        return True

    def readinto(self, buffer) -> int:  # type: ignore[override]
        assert self._process.stdout is not None
        n = self._process.stdout.readinto(buffer)
        if n == 0 and self._process.wait() != 0:
            last = (tail(self._process.stderr.read().decode(errors="replace")) or ["no output"])[-1]
            raise LayerLabError(f"{self._what} failed: {last}", self._hint)
        return n

    def close(self) -> None:
        if self._process.poll() is None:
            self._process.kill()
        self._process.wait()
        for pipe in (self._process.stdout, self._process.stderr):
            if pipe is not None:
                pipe.close()
        super().close()


def slug(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]+", "-", text).strip("-.") or "image"


def tail(text: str) -> list[str]:
    """The last lines of a tool's output that say something."""
    return [line for line in text.strip().splitlines() if line.strip()][-LOG_TAIL:]


def run(command: list[str], what: str, **kwargs) -> subprocess.CompletedProcess:
    """Run a tool; a failure is one error naming what was being done and the tool's last line."""
    try:
        done = subprocess.run(command, capture_output=True, text=True, **kwargs)
    except OSError as exc:
        if exc.errno != errno.E2BIG:
            raise
        raise LayerLabError(f"{what} failed: its command line is {sum(len(a) for a in command):,} bytes, "
                            "more than this system passes to a program", "shorten the values the Dockerfile sets "
                            "(ENV, LABEL)") from exc
    if done.returncode != 0:
        raise _failed(what, command[0], done.returncode, done.stderr or done.stdout)
    return done


def _failed(what: str, tool: str, status: int, output: str) -> LayerLabError:
    """One error naming what was being done, the tool, its exit status and the last line it said."""
    last = (tail(output) or ["no output"])[-1]
    hint = NETWORK_HINT if NETWORK_FAILURE.search(last) else _STORE_HINT
    return LayerLabError(f"{what} failed ({Path(tool).name} exited {status}): {last}", hint)


#: What skopeo says when a registry cannot be reached: a name that does not resolve, no route, no answer.
NETWORK_FAILURE = re.compile(r"no such host|dial tcp|i/o timeout|connection refused|network is unreachable|"
                             r"TLS handshake timeout|temporary failure in name resolution|server misbehaving",
                             re.IGNORECASE)
NETWORK_HINT = ("the registry could not be reached (no network, or none to it): make the base here instead "
                "(`python -m helpers base IMAGE`) and work offline (LAYERLAB_OFFLINE=1)")


#: The file that marks a folder as a store this package made: nothing else is ever cleaned.
STORE_MARK = ".layerlab-store"
_STORE_MARK_TEXT = "the embedded builder's store: a cache that only this package writes\n"
#: The file that marks a scratch folder the store made; only folders named and marked so are cleared.
SCRATCH_MARK = ".layerlab-scratch"
_SCRATCH_NAME = re.compile(r"build-[A-Za-z0-9_]{8}")  # what tempfile.mkdtemp(prefix="build-") names
_UMOCI_NAME = re.compile(r"\.umoci-[A-Za-z0-9_-]+")


def _store_error(root: Path, why: str) -> LayerLabError:
    return LayerLabError(f"{root} cannot be the embedded builder's store: {why}",
                         f"set {STORE_VARIABLE} to a new or empty folder you can write (the store is only a cache)")


def claim_store(root: Path) -> Path:
    """``root`` as a store: made (and marked) if missing or empty, used if marked; anything else is refused.

    A folder that holds anything and no :data:`STORE_MARK` is someone's own:
    the store never cleans, nor writes in, a folder it did not make.
    """
    try:
        root.mkdir(parents=True, exist_ok=True)
    except FileExistsError:
        raise _store_error(root, "it is a file") from None
    except OSError as exc:
        raise _store_error(root, f"it cannot be made ({exc.strerror})") from exc
    try:
        fd = os.open(root, OPEN_FOLDER)
    except OSError as exc:
        why = "it is a link to something that is not a folder" if exc.errno == errno.ELOOP else exc.strerror
        raise _store_error(root, why) from exc
    try:
        # Listed, not stat-ed then listed: a builder marking the store between a stat
        # and a listing would make its own fresh store look like someone's folder.  The
        # mark is the first thing a store holds, so a listing without it is not a store.
        entries = os.listdir(fd)
        if STORE_MARK in entries:
            if stat.S_ISREG(os.stat(STORE_MARK, dir_fd=fd, follow_symlinks=False).st_mode):
                return root
            raise _store_error(root, f"its {STORE_MARK} is not a file")
        if entries:
            raise LayerLabError(
                f"{root} cannot be the embedded builder's store: it holds files of its own, and no {STORE_MARK} "
                "says this package made it",
                f"set {STORE_VARIABLE} to a new or empty folder; if it is a store an older version made, remove it "
                "(it is only a cache)")
        try:
            mark = os.open(STORE_MARK, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC, 0o644,
                           dir_fd=fd)
        except FileExistsError:
            return root  # another builder marked it first
        except OSError as exc:
            raise _store_error(root, f"it cannot be written ({exc.strerror})") from exc
        with open(mark, "w") as out:
            out.write(_STORE_MARK_TEXT)
        return root
    finally:
        os.close(fd)


def _locked_at(parent: int, name: str) -> int | None:
    """The folder ``name`` of ``parent`` (never through a link), exclusively flock-ed; ``None`` if held or gone."""
    try:
        handle = os.open(name, OPEN_FOLDER, dir_fd=parent)
    except OSError:
        return None
    try:
        fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:
        os.close(handle)
        return None
    return handle


def remove_if_unused(parent: int, name: str, mark: str | None) -> None:
    """Remove folder ``name`` of ``parent`` unless a live process holds its lock (umoci's protocol for ``.umoci-*``).

    With ``mark``, only a folder holding that file is removed: one this store made.
    """
    handle = _locked_at(parent, name)
    if handle is None:
        return
    try:
        if mark is not None:
            try:
                os.stat(mark, dir_fd=handle, follow_symlinks=False)
            except FileNotFoundError:
                return
        with contextlib.suppress(OSError):  # what cannot go now is tried again by the next builder
            remove_tree_at(parent, name)
    finally:
        os.close(handle)


def layout_save_stream(layout: Path, tag: str, skopeo: str | None = None) -> io.BufferedReader:
    """Image ``tag`` of the OCI layout ``layout``, as a ``docker save`` archive streamed by skopeo.

    Only reads: nothing is written beside the layout, and no store is made for it.  skopeo is
    handed the folder already open (``/proc/self/fd/N``), so a folder whose name holds a colon,
    which skopeo's ``oci:PATH:TAG`` would split, is saved as any other.
    """
    skopeo = skopeo or shutil.which("skopeo")
    if skopeo is None:
        raise ToolMissing("saving an image of an OCI layout needs skopeo, which is not installed",
                          "install the skopeo package (apt-get install skopeo)")
    try:
        folder = os.open(layout, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    except OSError as exc:
        raise LayerLabError(f"cannot open the layout {layout}: {exc.strerror}", "check the path") from exc
    try:
        command = [skopeo, "--insecure-policy", "copy", "-q", f"oci:/proc/self/fd/{folder}:{tag}",
                   "docker-archive:/dev/stdout"]
        output = _ProcessOutput(command, f"exporting {tag} of {layout}", pass_fds=(folder,),
                                hint="check that the layout holds that tag and is whole")
    finally:
        os.close(folder)
    return io.BufferedReader(output, buffer_size=1 << 20)


class OciStore:
    """The OCI layout under ``root`` (``root/oci``), its scratch folders (``root/tmp``) and its lock."""

    def __init__(self, root: Path, tools: dict[str, str]) -> None:
        self.tools = tools
        self.root = root
        self.layout = root / "oci"
        self.scratch_root = root / "tmp"
        claim_store(root)
        try:
            self.scratch_root.mkdir(exist_ok=True)
        except OSError as exc:
            raise _store_error(root, f"its scratch folder cannot be made ({exc.strerror})") from exc
        if self.scratch_root.is_symlink() or not self.scratch_root.is_dir():
            raise ArchiveError(f"the embedded builder's store is damaged: {self.scratch_root} is not a folder",
                               f"remove {self.root} (it is only a cache) and build again")
        self._pending = count(1)
        self._clean_leftovers()
        if not self.layout.exists():
            self._init_layout()
        self._drop_stale_pending()

    @contextlib.contextmanager
    def scratch(self) -> Iterator[Path]:
        """A private folder under the store, locked while in use; the next builder removes a killed one's."""
        parent = os.open(self.scratch_root, OPEN_FOLDER)
        try:
            while True:
                path = Path(tempfile.mkdtemp(prefix="build-", dir=self.scratch_root))
                handle = _locked_at(parent, path.name)
                if handle is not None:
                    try:  # ours, unless another builder's clean-up removed it between mkdtemp and the lock
                        os.close(os.open(SCRATCH_MARK, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW
                                         | os.O_CLOEXEC, 0o600, dir_fd=handle))
                        break
                    except OSError:
                        os.close(handle)
            try:
                yield path
            finally:
                with contextlib.suppress(OSError):  # what cannot go now, the next builder clears
                    remove_tree_at(parent, path.name)
                os.close(handle)
        finally:
            os.close(parent)

    def _clean_leftovers(self) -> None:
        """Remove what killed builds left: their scratch folders, umoci's ``.umoci-*`` and skopeo's partial blobs.

        Only entries this store names and marks are touched, each by a
        descriptor, never through a link: a scratch folder is ``build-XXXXXXXX``
        holding :data:`SCRATCH_MARK`, umoci's are ``.umoci-*`` in the layout.
        """
        for folder, pattern, mark in ((self.scratch_root, _SCRATCH_NAME, SCRATCH_MARK),
                                      (self.layout, _UMOCI_NAME, None)):
            try:
                parent = os.open(folder, OPEN_FOLDER)
            except FileNotFoundError:
                continue
            try:
                for entry in os.scandir(parent):
                    if pattern.fullmatch(entry.name) and entry.is_dir(follow_symlinks=False):
                        remove_if_unused(parent, entry.name, mark)
                    elif folder == self.layout and entry.name.startswith("oci-put-blob") \
                            and entry.is_file(follow_symlinks=False):
                        os.unlink(entry.name, dir_fd=parent)  # skopeo's partial blob, from before imports were private
            finally:
                os.close(parent)

    def _drop_stale_pending(self) -> None:
        """Untag the layers a killed build left streaming (:meth:`layer_writer`): their build's scratch folder is gone.

        A live build's folder is locked, so it stays, and its pending tags with it.
        """
        def stale(descriptor: dict) -> bool:
            pending = _PENDING_TAG.fullmatch(ref_name(descriptor) or "")
            if pending is None:
                return False
            folder = bytes.fromhex(pending.group(1)).decode(errors="replace")
            return _SCRATCH_NAME.fullmatch(folder) is not None and not (self.scratch_root / folder).is_dir()

        if not any(stale(d) for d in self.read_index().get("manifests") or []):
            return
        with self.index_lock():
            index = self.read_index()
            index["manifests"] = [d for d in index.get("manifests") or [] if not stale(d)]
            with self.scratch() as scratch:
                self._replace_index(index, scratch)

    def _init_layout(self) -> None:
        """An empty OCI layout, made aside and renamed into place: the store has a whole layout or none."""
        with self.scratch() as scratch:
            run([self.tools["umoci"], "init", "--layout", str(scratch / "oci")], "creating the store's OCI layout")
            try:
                os.rename(scratch / "oci", self.layout)
            except OSError:
                if not self.layout.is_dir():  # another builder made it first: use theirs
                    raise

    def read_index(self) -> dict:
        return self.document("index.json", "store's index")  # type: ignore[return-value]

    def document(self, name: str, what: str) -> dict:
        """``index.json`` or a blob of the store, read and checked as :func:`.layout_document` reads them."""
        try:
            document = layout_document(self.layout, name, what)
        except ArchiveError as exc:
            raise ArchiveError(f"the embedded builder's store is damaged: {exc.message}",
                               f"remove {self.root} (it is only a cache) and build again") from exc
        if not isinstance(document, dict):
            raise ArchiveError(f"the embedded builder's store is damaged: its {what} {name} is not a JSON object",
                               f"remove {self.root} (it is only a cache) and build again")
        return document

    def manifest(self, digest: str) -> dict:
        return self.document(digest, "manifest")  # type: ignore[return-value]

    def config_of(self, manifest: dict) -> dict:
        return self.document((manifest.get("config") or {}).get("digest", ""), "config")  # type: ignore[return-value]

    def index(self) -> dict[str, str]:
        """Tag → manifest digest, for every image in the layout."""
        return {d.ref_name or "": d.digest for d in Index.from_json(self.read_index(), "store's index").manifests}

    def adopt(self, private: Path, tag: str, scratch: Path, origin: str | None = None) -> None:
        """Move image ``tag`` of layout ``private`` into the store: its blobs, then its tag, each by a rename.

        ``origin`` (what the image came from) is kept as an annotation of its tag.
        """
        blobs = self.layout / "blobs" / "sha256"
        for blob in (private / "blobs" / "sha256").iterdir():
            os.replace(blob, blobs / blob.name)  # content-addressed: a blob already there has the same bytes
        descriptor = next(d for d in json.loads((private / "index.json").read_text())["manifests"]
                          if ref_name(d) == tag)
        if origin:
            descriptor["annotations"] = {**descriptor.get("annotations", {}), ORIGIN_ANNOTATION: origin}
        with self.index_lock():
            index = self.read_index()
            index["manifests"] = [d for d in index.get("manifests") or []
                                  if ref_name(d) != tag] + [descriptor]
            self._replace_index(index, scratch)

    def _replace_index(self, index: dict, scratch: Path) -> None:
        """Write ``index`` aside in ``scratch`` and rename it into place (the caller holds the index lock)."""
        staged = scratch / "index.json"
        with staged.open("w") as out:
            json.dump(index, out, separators=(",", ":"))
            out.flush()
            os.fsync(out.fileno())
        os.replace(staged, self.layout / "index.json")

    def prune_steps(self, keep: int = MAX_STEP_TAGS) -> int:
        """Untag all but the ``keep`` newest cached steps (``step-*``), so the index stays small; how many went.

        Steps are tagged in the order they are made, so the oldest go first.  Their blobs stay
        (a blob another build is about to tag must never be collected under it).
        """
        with self.index_lock():
            index = self.read_index()
            manifests = index.get("manifests") or []
            steps = [d for d in manifests if (ref_name(d) or "").startswith("step-")]
            if len(steps) <= keep:
                return 0
            dropped = {id(d) for d in steps[: len(steps) - keep]}
            index["manifests"] = [d for d in manifests if id(d) not in dropped]
            with self.scratch() as scratch:
                self._replace_index(index, scratch)
            return len(dropped)

    def import_image(self, image: str, source: str, what: str, config: list[str] | None = None,
                origin: str | None = None, compress: bool = False) -> str:
        """skopeo copies ``source`` into a private layout (configured by umoci), which then joins the store whole.

        skopeo rewrites ``index.json`` in place, and importing a rootfs takes two
        commands: in the store, a kill could empty its index or cache a base
        image without its config.  ``origin`` names what the image came from; ``compress``
        gzips uncompressed layers, as a push to a registry would.
        """
        tag = "base-" + slug(image)
        with self.scratch() as scratch:
            private = scratch / "import"
            run([self.tools["skopeo"], "--insecure-policy", "copy", "-q", *(["--dest-compress"] if compress else []),
                  source, f"oci:{private}:{tag}"], what)
            if config:
                run([self.tools["umoci"], "config", "--image", f"{private}:{tag}", *config], f"configuring {image}")
            self.adopt(private, tag, scratch, origin)
        return tag

    def manifest_digest(self, tag: str) -> str:
        """The digest of the image manifest tagged ``tag`` in the store: the image's identity."""
        return self.index()[tag]

    def ref(self, tag: str) -> str:
        return f"{self.layout}:{tag}"

    def umoci(self, *args: str, what: str) -> None:
        """Run umoci on the store; a command that rewrites its ``index.json`` holds the store's lock."""
        if args[0] in _READS_ONLY and args[:2] != ("raw", "add-layer"):
            run([self.tools["umoci"], *args], what)
            return
        with self.index_lock():
            run([self.tools["umoci"], *args], what)

    @contextlib.contextmanager
    def index_lock(self) -> Iterator[None]:
        """The store's lock on ``index.json``, held by every read-modify-write of it (umoci's and ours).

        umoci and the adoption of a base image both read the index, change it,
        and rename a new one into place: two builds doing that at once would
        each drop the other's tag.  ``flock`` ends with the process, so a killed
        build never leaves it held.
        """
        with self._held("index.lock"):
            yield

    @contextlib.contextmanager
    def base_lock(self) -> Iterator[None]:
        """The store's lock on making base images: held while one is looked for and, if missing, made.

        A base made twice at once is made twice differently (each import is dated), and
        the second tag would replace the first under builds already cached on it.
        """
        with self._held("bases.lock"):
            yield

    @contextlib.contextmanager
    def _held(self, name: str) -> Iterator[None]:
        handle = os.open(self.root / name, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o644)
        try:
            fcntl.flock(handle, fcntl.LOCK_EX)
            yield
        finally:
            os.close(handle)

    @contextlib.contextmanager
    def layer_writer(self, parent: str, tag: str, scratch: Path, created_by: str) -> Iterator[BinaryIO]:
        """Write a layer tar to the stream this yields: umoci adds it over image ``parent`` as image ``tag``.

        The tar goes through a pipe (never a copy on disk).  umoci adds what it
        reads verbatim, so it tags the image ``pending-<scratch>-<n>`` (``scratch``:
        the build's own folder, its name in hexadecimal), and the image becomes
        ``tag`` only once the tar was written whole and umoci exited 0.  On any error or interrupt umoci is
        killed before the pipe closes; a builder killed mid-write leaves at most a
        pending tag (umoci, tied to it, seeing the end of its input first), which
        the next store opened drops once that build's folder is gone: never a cache entry of a cut layer.
        """
        pending = f"pending-{scratch.name.encode().hex()}-{next(self._pending)}"
        command = tied([self.tools["umoci"], "raw", "add-layer", "--image", self.ref(parent), "--tag", pending,
                        "--history.created_by", created_by, "/dev/stdin"])
        what = f"committing `{created_by}`"
        with self.index_lock(), tempfile.TemporaryFile(dir=scratch) as errors:
            process = subprocess.Popen(command, stdin=subprocess.PIPE, stdout=subprocess.DEVNULL, stderr=errors)
            assert process.stdin is not None
            with contextlib.suppress(OSError):  # past the user's share of pipe memory: the default size works
                fcntl.fcntl(process.stdin.fileno(), fcntl.F_SETPIPE_SZ, LAYER_PIPE_BYTES)
            cut = False
            try:
                try:
                    yield process.stdin
                    process.stdin.close()
                except BrokenPipeError:  # umoci stopped reading before the end: its own message says why
                    cut = True
                    process.kill()
                status = process.wait()
            except BaseException:
                process.kill()
                process.wait()
                raise
            finally:
                with contextlib.suppress(OSError):
                    process.stdin.close()
            if cut or status != 0:
                errors.seek(0)
                raise _failed(what, "umoci", status, errors.read().decode(errors="replace"))
            index = self.read_index()
            manifests = [d for d in index.get("manifests") or [] if ref_name(d) != tag]
            for descriptor in manifests:
                if ref_name(descriptor) == pending:
                    descriptor["annotations"]["org.opencontainers.image.ref.name"] = tag
            index["manifests"] = manifests
            self._replace_index(index, scratch)

    def copy_tag(self, source: str, target: str) -> None:
        self.umoci("tag", "--image", self.ref(source), target, what=f"tagging {target}")

    def save_stream(self, tag: str) -> io.BufferedReader:
        """The image tagged ``tag``, as a ``docker save`` archive streamed by skopeo (nothing touches disk)."""
        return layout_save_stream(self.layout, tag, self.tools["skopeo"])

    def layers(self, tag: str) -> list[dict]:
        """The layer descriptors of the image tagged ``tag``."""
        return self.manifest(self.index()[tag]).get("layers") or []
