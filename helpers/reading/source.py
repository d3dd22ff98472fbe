"""What a source names, parsed once: a path, ``LAYOUT:TAG``, an image's name, or a transport as skopeo writes it.

The parsed :class:`~helpers.ground.model.Source` travels with the image read
from it (:attr:`~helpers.ground.model.Image.origin`), so nothing joins it back
into text to split it again.  Platforms are checked here too, before anything
is read.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

from ..ground.errors import LayerLabError, SourceNotFound, shortened
from ..ground.model import Source

#: Operating systems and architectures an image index names (the OCI image spec's, from Go's GOOS and GOARCH).
KNOWN_OS = ("aix", "android", "darwin", "dragonfly", "freebsd", "illumos", "ios", "js", "linux", "netbsd",
            "openbsd", "plan9", "solaris", "wasip1", "windows")


KNOWN_ARCHITECTURES = ("386", "amd64", "arm", "arm64", "loong64", "mips", "mips64", "mips64le", "mipsle", "ppc64",
                       "ppc64le", "riscv64", "s390x", "wasm")


_VARIANT = r"v[0-9]+(\.[0-9]+)?"


_PLATFORM_HINT = "write OS/ARCH[/VARIANT], e.g. linux/amd64, linux/arm64/v8 or linux/arm/v7"


def check_platform(platform: str) -> str:
    """``platform`` if it is ``OS/ARCH`` or ``OS/ARCH/VARIANT`` with a known OS and architecture, else a clear error."""
    parts = platform.split("/") if isinstance(platform, str) else []
    shown = repr(platform) if len(str(platform)) <= 60 else repr(str(platform)[:57]) + "…"
    if len(parts) not in (2, 3) or not all(parts):
        raise LayerLabError(f"{shown} is not a platform: it must be OS/ARCH or OS/ARCH/VARIANT", _PLATFORM_HINT)
    os_name, arch = parts[0], parts[1]
    if os_name not in KNOWN_OS:
        raise LayerLabError(f"{shown} is not a platform: {os_name!r} is not an operating system images are made for",
                           f"{_PLATFORM_HINT}; known systems: {', '.join(KNOWN_OS)}")
    if arch not in KNOWN_ARCHITECTURES:
        raise LayerLabError(f"{shown} is not a platform: {arch!r} is not an architecture images are made for",
                           f"{_PLATFORM_HINT}; known architectures: {', '.join(KNOWN_ARCHITECTURES)}")
    if len(parts) == 3 and not re.fullmatch(_VARIANT, parts[2]):
        raise LayerLabError(f"{shown} is not a platform: the variant {parts[2]!r} is not of the form v7 or v8",
                           _PLATFORM_HINT)
    return platform


#: The transports a source may name, as skopeo writes them, and what each reads.
TRANSPORTS = {
    "docker-archive": "a `docker save` archive: docker-archive:PATH",
    "oci-archive": "an OCI image layout in a tar: oci-archive:PATH",
    "oci": "an OCI image layout folder, one image of it by tag: oci:DIR[:TAG]",
    "docker-daemon": "an image in the Docker Engine: docker-daemon:NAME[:TAG] or an ID",
}


_PULLS = ("docker://",)  # skopeo's registry transport


SOURCE_HINT = ("pass a path (an archive or a layout), LAYOUT:TAG, an image's name, or one of "
                + "; ".join(TRANSPORTS.values()))


def there(path: Path, kind: str = "exists") -> bool:
    """``path.exists()`` (or ``is_file``, ``is_dir``), False for a name the system refuses (too long, say)."""
    try:
        return getattr(path, kind)()
    except OSError:
        return False


def parse_source(source: str | os.PathLike, ref: str | None = None) -> Source:
    """What ``source`` names: a transport prefix as skopeo writes it, else a path, ``LAYOUT:TAG``, or a name."""
    text = os.fspath(source)
    if not isinstance(text, str) or not text.strip():
        raise SourceNotFound(f"{text!r} names no source", SOURCE_HINT)
    if text.startswith(_PULLS):
        raise SourceNotFound(f"{text[:80]!r} is in a registry, and nothing here pulls it",
                             "pull it into the Docker Engine (`docker pull`) and pass its name, or save it to a file")
    transport, colon, rest = text.partition(":")
    if colon and transport in TRANSPORTS:
        if not rest:
            raise SourceNotFound(f"{text!r} names no {transport} source", f"write {TRANSPORTS[transport]}")
        if transport == "oci":
            folder, _, tag = rest.rpartition(":") if ":" in rest and not there(Path(rest)) else (rest, "", "")
            return Source("oci", folder, ref or tag or None)
        return Source(transport, rest, ref)
    path = Path(text)
    if ref is None and not there(path) and ":" in text:
        layout, _, tag = text.rpartition(":")
        if layout and there(Path(layout, "index.json"), "is_file"):
            return Source("path", layout, tag)
    if there(path):
        return Source("path", text, ref)
    if looks_like_a_path(text):
        raise SourceNotFound(f"{shortened(text, 200)} does not exist",
                             "check the path: no file or folder has that name here; an image's name never starts "
                             "with /, . or ~, nor ends in .tar")
    return Source("name", text, ref)


#: How archives are named; an image's name may hold dots, but never ends like one.
_ARCHIVE_ENDINGS = (".tar", ".tar.gz", ".tgz", ".tar.zst", ".tar.zstd")


def looks_like_a_path(text: str) -> bool:
    """Whether ``text`` can only be a path: Docker refuses a name that starts with ``/``, ``.`` or ``~``, and
    one ending like an archive is a mistyped file far more often than an image."""
    return text.startswith(("/", ".", "~")) or text.lower().endswith(_ARCHIVE_ENDINGS)
