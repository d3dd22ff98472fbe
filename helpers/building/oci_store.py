"""The embedded builder's store: an OCI image layout and a step cache that builds may share, safely.

Every rewrite of ``index.json`` (umoci's and ours) holds one ``flock``; base
images are imported into a private layout and join the store by renames, their
blobs first and their tag last; scratch folders live under the store, locked
while in use, so the next builder removes what a killed one left.  The store's
documents are read as any layout's are (:func:`helpers.reading.archive.layout_document`).
"""

from __future__ import annotations

import contextlib
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
from pathlib import Path

from ..ground.errors import ArchiveError, LayerLabError
from ..reading.archive import REF_ANNOTATION, layout_document

#: The tools the embedded builder runs, and the Debian/Ubuntu package that has each.
TOOLS = {"skopeo": "skopeo", "umoci": "umoci", "proot": "proot"}
#: The annotation on a base image's tag that says where it came from: the tarball or archive it was made from,
#: or the registry it was pulled from (see :meth:`helpers.building.embedded.EmbeddedBuilder.describe_base`).
ORIGIN_ANNOTATION = "org.layerlab.base.from"
LOG_TAIL = 12
#: umoci commands that only read the store (all others rewrite its index.json).
_READS_ONLY = frozenset(("unpack", "stat", "ls", "raw"))


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

    def __init__(self, command: list[str], what: str) -> None:
        self._process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        self._what = what

    def readable(self) -> bool:
        return True

    def readinto(self, buffer) -> int:  # type: ignore[override]
        assert self._process.stdout is not None
        n = self._process.stdout.readinto(buffer)
        if n == 0 and self._process.wait() != 0:
            last = (tail(self._process.stderr.read().decode(errors="replace")) or ["no output"])[-1]
            raise LayerLabError(f"{self._what} failed: {last}", "check the embedded builder's store")
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
    done = subprocess.run(command, capture_output=True, text=True, **kwargs)
    if done.returncode != 0:
        last = (tail(done.stderr or done.stdout) or ["no output"])[-1]
        raise LayerLabError(f"{what} failed ({Path(command[0]).name} exited {done.returncode}): {last}",
                            "see the tool's message; the embedded builder's store may need a clean start")
    return done


def remove_tree(path: Path) -> None:
    """Remove ``path``, even where a rootless unpack left folders without write permission."""
    def allow_and_retry(function, name: str, _error) -> None:
        with contextlib.suppress(OSError):
            os.chmod(os.path.dirname(name), stat.S_IRWXU)
            function(name)

    shutil.rmtree(path, onerror=allow_and_retry)


def _locked(path: Path) -> int | None:
    """An open descriptor of folder ``path``, exclusively flock-ed; ``None`` when another process holds it."""
    try:
        handle = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
    except OSError:
        return None
    try:
        fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:
        os.close(handle)
        return None
    return handle


def _remove_if_unused(path: Path) -> None:
    """Remove a scratch folder unless a live process holds its lock (umoci's protocol for its ``.umoci-*``)."""
    handle = _locked(path)
    if handle is not None:
        try:
            remove_tree(path)
        finally:
            os.close(handle)


class OciStore:
    """The OCI layout under ``root`` (``root/oci``), its scratch folders (``root/tmp``) and its lock."""

    def __init__(self, root: Path, tools: dict[str, str]) -> None:
        self.tools = tools
        self.root = root
        self.layout = root / "oci"
        self.scratch_root = root / "tmp"
        self.scratch_root.mkdir(parents=True, exist_ok=True)
        self._clean_leftovers()
        if not self.layout.exists():
            self._init_layout()

    @contextlib.contextmanager
    def scratch(self) -> Iterator[Path]:
        """A private folder under the store, locked while in use; the next builder removes a killed one's."""
        while True:
            path = Path(tempfile.mkdtemp(prefix="build-", dir=self.scratch_root))
            handle = _locked(path)
            if handle is not None and path.is_dir() and os.stat(path).st_ino == os.fstat(handle).st_ino:
                break  # ours, and not removed by another builder's clean-up between mkdtemp and the lock
            if handle is not None:
                os.close(handle)
        try:
            yield path
        finally:
            remove_tree(path)
            os.close(handle)

    def _clean_leftovers(self) -> None:
        """Remove what killed builds left: their scratch folders, umoci's ``.umoci-*`` and skopeo's partial blobs."""
        for folder in [*self.scratch_root.iterdir(), *self.layout.glob(".umoci-*")]:
            _remove_if_unused(folder)
        for partial in self.layout.glob("oci-put-blob*"):  # skopeo writes only private layouts now
            partial.unlink(missing_ok=True)

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
        manifests = self.read_index().get("manifests") or []
        return {(d.get("annotations") or {}).get(REF_ANNOTATION, ""): d["digest"] for d in manifests}

    def adopt(self, private: Path, tag: str, scratch: Path, origin: str | None = None) -> None:
        """Move image ``tag`` of layout ``private`` into the store: its blobs, then its tag, each by a rename.

        ``origin`` (what the image came from) is kept as an annotation of its tag.
        """
        blobs = self.layout / "blobs" / "sha256"
        for blob in (private / "blobs" / "sha256").iterdir():
            os.replace(blob, blobs / blob.name)  # content-addressed: a blob already there has the same bytes
        descriptor = next(d for d in json.loads((private / "index.json").read_text())["manifests"]
                          if (d.get("annotations") or {}).get(REF_ANNOTATION) == tag)
        if origin:
            descriptor["annotations"] = {**descriptor.get("annotations", {}), ORIGIN_ANNOTATION: origin}
        with self.index_lock():
            index = self.read_index()
            index["manifests"] = [d for d in index.get("manifests") or []
                                  if (d.get("annotations") or {}).get(REF_ANNOTATION) != tag] + [descriptor]
            staged = scratch / "index.json"
            with staged.open("w") as out:
                json.dump(index, out, separators=(",", ":"))
                out.flush()
                os.fsync(out.fileno())
            os.replace(staged, self.layout / "index.json")

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
        if args[0] in _READS_ONLY:
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
        handle = os.open(self.root / "index.lock", os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o644)
        try:
            fcntl.flock(handle, fcntl.LOCK_EX)
            yield
        finally:
            os.close(handle)

    def copy_tag(self, source: str, target: str) -> None:
        self.umoci("tag", "--image", self.ref(source), target, what=f"tagging {target}")

    def save_stream(self, tag: str) -> io.BufferedReader:
        """The image tagged ``tag``, as a ``docker save`` archive streamed by skopeo (nothing touches disk)."""
        command = [self.tools["skopeo"], "--insecure-policy", "copy", "-q", f"oci:{self.layout}:{tag}",
                   "docker-archive:/dev/stdout"]
        return io.BufferedReader(_ProcessOutput(command, f"exporting {tag}"), buffer_size=1 << 20)

    def layers(self, tag: str) -> list[dict]:
        """The layer descriptors of the image tagged ``tag``."""
        return self.manifest(self.index()[tag]).get("layers") or []
