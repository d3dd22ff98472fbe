"""Real wheels from PyPI, for the builds and predictions that install Python packages where pip cannot reach PyPI.

pip inside a build often cannot reach PyPI (a closed network, or a TLS proxy
the container does not trust), while pip on the host can.  So the wheels a
Dockerfile installs are pinned here, every one of them (dependencies too, so
the set is the same wherever it is fetched), downloaded on the host with pip
(``pip download --no-deps --only-binary :all:``) into a build context of their
own, and installed in the build with ``pip install --no-index --find-links``.

A PyPI release file never changes once published, so the pins identify the
bytes: a recording keeps the pins (:attr:`Wheels.key`) in place of the
context's digest, and replays without PyPI.  The wheels can sit beside a
project's own files (:meth:`Wheels.beside`: a folder copied in, links kept as
links, and a ``.dockerignore`` if given), as a wheelhouse does in a real
project; then the digest covers those files too.

:func:`wheel_contents` measures what a wheel puts on disk by reading its zip
directory (no member is ever written out), and estimates the bytecode
``pip install`` compiles from its ``.py`` files by compiling them here, with
this machine's Python: an estimate, said as one wherever it is shown.
"""

from __future__ import annotations

import contextlib
import functools
import hashlib
import marshal
import os
import shutil
import stat
import subprocess
import sys
import tempfile
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass, replace
from pathlib import Path

from ..building.digests import context_digest
from ..ground.errors import LayerLabError

#: The folder of the build context the wheels are in: ``COPY wheels /wheels``.
WHEELS_FOLDER = "wheels"
#: The longest a download may take.
DOWNLOAD_TIMEOUT = 600
#: The largest module compiled to estimate its bytecode (Django's largest is under 100 KiB).
MAX_SOURCE_BYTES = 16 << 20
#: The most bytes one wheel may unpack to, as its zip directory says (the largest real wheels are a few GB).
MAX_UNPACKED_BYTES = 8 << 30
#: The most bytes of files a project folder beside the wheels may hold (a lesson's app is a few kB).
MAX_PROJECT_BYTES = 64 << 20


class WheelsUnavailable(LayerLabError):
    """pip could not download the wheels (no PyPI here, or a pin that does not exist)."""


@dataclass(frozen=True)
class Wheels:
    """Every wheel a build installs, pinned (``name==version``), for the Python that will install them (``3.11``)."""

    pins: tuple[str, ...]
    python: str
    #: A folder whose files the build context also holds, beside ``wheels/`` (see :meth:`beside`).
    project: str | None = None
    #: The build context's ``.dockerignore``, if it has one.
    dockerignore: str | None = None

    def beside(self, project: str | os.PathLike, dockerignore: str | None = None) -> Wheels:
        """These wheels in ``wheels/`` of a copy of the folder ``project``, ``dockerignore`` its ``.dockerignore``."""
        return replace(self, project=str(project), dockerignore=dockerignore)

    @property
    def key(self) -> str:
        """What identifies the wheels' bytes: the Python and every pin, in order."""
        return f"wheels for Python {self.python}: " + " ".join(self.pins)

    @property
    def digest(self) -> str:
        """The build context's stand-in digest in a recording (see the module): the pins, and the project's files."""
        if self.project is None and self.dockerignore is None:
            return "wheels:" + hashlib.sha256(self.key.encode()).hexdigest()
        files = context_digest(_project_folder(self.project), MAX_PROJECT_BYTES) if self.project else ""
        return "wheels:" + hashlib.sha256(f"{self.key}\n{files}\n{self.dockerignore!r}".encode()).hexdigest()


def download(wheels: Wheels, into: Path) -> list[Path]:
    """Download ``wheels`` into the folder ``into`` with pip (pure-Python wheels only); the files, by pin order."""
    into.mkdir(parents=True, exist_ok=True)
    command = [sys.executable, "-m", "pip", "download", "--quiet", "--no-deps", "--only-binary", ":all:",
               "--python-version", wheels.python, "--implementation", "py", "--abi", "none", "--platform", "any",
               "--disable-pip-version-check", "-d", str(into), *wheels.pins]
    try:
        done = subprocess.run(command, capture_output=True, text=True, timeout=DOWNLOAD_TIMEOUT)
    except subprocess.TimeoutExpired as exc:
        raise WheelsUnavailable(f"pip took over {DOWNLOAD_TIMEOUT} s to download {' '.join(wheels.pins)}",
                                "check that PyPI (or your pip index) answers") from exc
    if done.returncode != 0:
        last = [line for line in (done.stderr or done.stdout).splitlines() if line.strip()
                and not line.startswith("WARNING")][-1:] or ["no output"]
        raise WheelsUnavailable(f"pip could not download {' '.join(wheels.pins)}: {last[0][:200]}",
                                "check that PyPI (or your pip index) answers, and the pins exist")
    found = []
    for pin in wheels.pins:
        name = pin.split("==")[0].lower().replace("-", "_")
        matches = [path for path in into.glob("*.whl") if path.name.lower().replace("-", "_").startswith(name + "_")]
        if not matches:
            raise WheelsUnavailable(f"pip downloaded no wheel for {pin}", "check the pin")
        found.append(matches[0])
    return found


@functools.cache
def pypi_reason() -> str | None:
    """Why pip cannot download wheels here, in words; ``None`` when it can (one small real download, once)."""
    with tempfile.TemporaryDirectory(prefix="layerlab-pypi-") as folder:
        try:
            download(PROBE, Path(folder))
        except WheelsUnavailable as exc:
            return exc.message
    return None


#: What :func:`pypi_reason` downloads to see whether pip reaches PyPI: one small, long-published wheel.
PROBE = Wheels(("six==1.16.0",), "3.11")


@contextlib.contextmanager
def wheels_context(wheels: Wheels) -> Iterator[Path]:
    """A build context holding ``wheels/`` with ``wheels`` downloaded, removed when the ``with`` block ends.

    With a project (:meth:`Wheels.beside`), its folder's files are copied in
    first (links as links, never followed), and its ``.dockerignore`` written.
    It lives only as long as the builds that use it, so a kernel killed after
    them (as a test runner or a notebook's restart does) leaves nothing behind.
    """
    with tempfile.TemporaryDirectory(prefix="layerlab-wheels-") as folder:
        context = Path(folder) / "context"
        if wheels.project is not None:
            project = _project_folder(wheels.project)
            try:
                shutil.copytree(project, context, symlinks=True, copy_function=_copy_regular_file)
            except (OSError, shutil.Error) as exc:
                raise LayerLabError(f"cannot copy the project folder {project}: {str(exc)[:200]}",
                                    "make its files readable") from exc
        else:
            context.mkdir()
        if wheels.dockerignore is not None:
            (context / ".dockerignore").write_text(wheels.dockerignore)
        download(wheels, context / WHEELS_FOLDER)
        yield context


def _project_folder(name: str) -> Path:
    """``name`` as a project folder beside the wheels: a folder (not a link to one) without ``wheels/`` or
    ``.dockerignore`` of its own, which are made here; else a clear error."""
    project = Path(name)
    if project.is_symlink() or not project.is_dir():
        raise LayerLabError(f"the project folder {project} is not a folder",
                            "name the folder whose files the build context holds")
    if os.path.lexists(project / WHEELS_FOLDER) or os.path.lexists(project / ".dockerignore"):
        raise LayerLabError(f"the project folder {project} has its own {WHEELS_FOLDER}/ or .dockerignore",
                            "leave both out: they are made here")
    return project


def _copy_regular_file(source: str, target: str) -> None:
    """Copy one regular file; anything else (a FIFO would block the copy forever, a device is no file) is refused."""
    if not stat.S_ISREG(os.lstat(source).st_mode):
        raise LayerLabError(f"{source} in the project folder is not a regular file, a folder or a link",
                            "move it out of the project folder")
    shutil.copy2(source, target)


def _bytecode_bytes(source: bytes, name: str) -> int:
    """The bytes of the ``.pyc`` this machine's Python writes for ``source``: 16 header bytes and the code object."""
    try:
        return 16 + len(marshal.dumps(compile(source, name, "exec", dont_inherit=True, optimize=0)))
    except (SyntaxError, ValueError):
        return 0


def _source(archive: zipfile.ZipFile, member: zipfile.ZipInfo) -> bytes:
    """A module's source, read to at most :data:`MAX_SOURCE_BYTES` (a larger one is not compiled: no real one is)."""
    if member.file_size > MAX_SOURCE_BYTES:
        return b""
    with archive.open(member) as stream:
        return stream.read(MAX_SOURCE_BYTES + 1)[:MAX_SOURCE_BYTES]


def wheel_contents(path: Path) -> dict:
    """What the wheel at ``path`` puts on disk, from its zip directory: files, bytes, ``.py`` bytes and bytecode.

    ``bytecode_bytes`` is an estimate: this machine's Python compiling each ``.py``
    (an image's older Python writes its own, of a similar size).
    """
    with zipfile.ZipFile(path) as archive:
        members = [m for m in archive.infolist() if not m.is_dir()]
        unpacked = sum(m.file_size for m in members)
        if unpacked > MAX_UNPACKED_BYTES:
            raise LayerLabError(f"{path.name} says it unpacks to {unpacked:,} bytes", "check the wheel")
        sources = [m for m in members if m.filename.endswith(".py")]
        bytecode = sum(_bytecode_bytes(_source(archive, m), m.filename) for m in sources)
    return {"wheel": path.name, "wheel_bytes": path.stat().st_size, "files": len(members), "unpacked_bytes": unpacked,
            "python_files": len(sources), "python_bytes": sum(m.file_size for m in sources),
            "bytecode_bytes": bytecode}
