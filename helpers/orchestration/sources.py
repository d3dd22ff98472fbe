"""One entry point for every kind of source: a path if it exists, else an image in the engine."""

from __future__ import annotations

import os
import re
from dataclasses import dataclass, replace
from pathlib import Path

from ..ground.errors import ArchiveError, EngineUnavailable, LayerLabError, SourceNotFound
from ..ground.model import Image
from ..ground.references import slug_tag
from ..ground.settings import Settings
from ..measuring.analysis import Analysis, MergeAndScore, analyze
from ..reading.archive import LayerConsumer, read_path

#: Operating systems and architectures an image index names (the OCI image spec's, from Go's GOOS and GOARCH).
KNOWN_OS = ("aix", "android", "darwin", "dragonfly", "freebsd", "illumos", "ios", "js", "linux", "netbsd",
            "openbsd", "plan9", "solaris", "wasip1", "windows")
KNOWN_ARCHITECTURES = ("386", "amd64", "arm", "arm64", "loong64", "mips", "mips64", "mips64le", "mipsle", "ppc64",
                       "ppc64le", "riscv64", "s390x", "wasm")
_VARIANT = re.compile(r"v[0-9]+(\.[0-9]+)?")
_PLATFORM_HINT = "write OS/ARCH[/VARIANT], e.g. linux/amd64, linux/arm64/v8 or linux/arm/v7"


def _engine():
    """The Docker Engine's adapter, loaded when an image is first read from the engine.

    Only then, as the embedded builder is (:func:`save_stream`): the Docker SDK
    takes about a tenth of a second to import, and a report on an archive needs
    neither.
    """
    from ..building import engine

    return engine


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
    if len(parts) == 3 and not _VARIANT.fullmatch(parts[2]):
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
_SOURCE_HINT = ("pass a path (an archive or a layout), LAYOUT:TAG, an image's name, or one of "
                + "; ".join(TRANSPORTS.values()))


@dataclass(frozen=True)
class Source:
    """A source, parsed once: how to reach it (``transport``), where it is, and which image of it (``ref``).

    ``transport`` is ``path`` (an archive or a layout, by what is on disk), ``name`` (the Docker
    Engine, else the embedded builder's store), or one of :data:`TRANSPORTS`.
    """

    transport: str
    location: str
    ref: str | None = None

    def __str__(self) -> str:
        if self.transport == "name":
            return self.location
        place = self.location if self.transport == "path" else f"{self.transport}:{self.location}"
        return f"{place}:{self.ref}" if self.ref else place


def _there(path: Path, kind: str = "exists") -> bool:
    """``path.exists()`` (or ``is_file``, ``is_dir``), False for a name the system refuses (too long, say)."""
    try:
        return getattr(path, kind)()
    except OSError:
        return False


def parse_source(source: str | os.PathLike, ref: str | None = None) -> Source:
    """What ``source`` names: a transport prefix as skopeo writes it, else a path, ``LAYOUT:TAG``, or a name."""
    text = os.fspath(source)
    if not isinstance(text, str) or not text.strip():
        raise SourceNotFound(f"{text!r} names no source", _SOURCE_HINT)
    if text.startswith(_PULLS):
        raise SourceNotFound(f"{text[:80]!r} is in a registry, and nothing here pulls it",
                             "pull it into the Docker Engine (`docker pull`) and pass its name, or save it to a file")
    transport, colon, rest = text.partition(":")
    if colon and transport in TRANSPORTS:
        if not rest:
            raise SourceNotFound(f"{text!r} names no {transport} source", f"write {TRANSPORTS[transport]}")
        if transport == "oci":
            folder, _, tag = rest.rpartition(":") if ":" in rest and not _there(Path(rest)) else (rest, "", "")
            return Source("oci", folder, ref or tag or None)
        return Source(transport, rest, ref)
    path = Path(text)
    if ref is None and not _there(path) and ":" in text:
        layout, _, tag = text.rpartition(":")
        if layout and _there(Path(layout, "index.json"), "is_file"):
            return Source("path", layout, tag)
    if _there(path):
        return Source("path", text, ref)
    return Source("name", text, ref)


def read_image(
    source: str | os.PathLike | Source, platform: str | None = None, ref: str | None = None,
    verify: bool | None = None, on_layer: LayerConsumer | None = None, *, settings: Settings,
) -> Image:
    """Read ``source`` (see :func:`parse_source`): an archive, an OCI layout, or an image in the engine or the store.

    ``verify`` hashes uncompressed layers on disk too (see :func:`helpers.reading.archive.read_path`;
    default: the settings' ``verify``); an image read from the engine, or any compressed layer, is
    always hashed.  ``settings`` also give the limits, the engine asked for, and the store.

    ``LAYOUT:REF`` (an OCI layout directory, a colon, a tag) picks one image of a
    layout that holds several, as skopeo's ``oci:`` transport does; a transport
    prefix (``docker-archive:``, ``oci-archive:``, ``oci:``, ``docker-daemon:``)
    says what the source is instead of leaving it to what is on disk.
    """
    if platform is not None:
        check_platform(platform)
    parsed = source if isinstance(source, Source) else parse_source(source, ref)
    if parsed.transport == "docker-daemon":
        return _engine().read_engine_image(parsed.location, limits=settings.limits)
    if parsed.transport == "name":
        return _read_by_name(parsed.location, settings)
    path = Path(parsed.location)
    if not _there(path):
        raise SourceNotFound(f"{parsed.location} does not exist", _SOURCE_HINT)
    if parsed.transport in ("docker-archive", "oci-archive") and not path.is_file():
        raise SourceNotFound(f"{parsed} is not a file", f"write {TRANSPORTS[parsed.transport]}")
    if parsed.transport == "oci" and not Path(path, "index.json").is_file():
        raise SourceNotFound(f"{parsed.location} is not an OCI image layout (it has no index.json)",
                             f"write {TRANSPORTS['oci']}")
    if not (path.is_file() or path.is_dir()):
        raise ArchiveError(f"{path} is neither a regular file nor a directory", "pass an archive or a layout")
    try:
        image = read_path(path, platform, parsed.ref, settings.verify if verify is None else verify, on_layer,
                          settings.limits)
    except PermissionError as exc:
        raise ArchiveError(f"cannot read {path}: permission denied", "check its permissions") from exc
    return replace(image, source=f"{path}:{parsed.ref}") if parsed.ref is not None else image


def _with_tag(name: str) -> str:
    """``name`` with Docker's default tag: ``layerlab/multi-run`` → ``layerlab/multi-run:latest``."""
    last = name.rpartition("/")[2]
    return name if ":" in last or "@" in last else f"{name}:latest"


def _read_from_store(name: str, settings: Settings) -> Image | None:
    """The image the embedded builder tagged ``name`` in its store (a build, or a base), or ``None``."""
    layout = settings.store / "oci"
    if not (layout / "index.json").is_file():
        return None
    bare = name.removesuffix(":latest")
    # as built (tagged or not), or as a base image the builder imported
    for tag in dict.fromkeys([slug_tag(_with_tag(name)), slug_tag(bare), f"base-{slug_tag(name)}"]):
        if not tag:
            continue
        try:
            image = read_path(layout, ref=tag, verify=settings.verify, limits=settings.limits)
        except ArchiveError as exc:
            if str(exc).startswith("the layout has no image tagged"):
                continue
            raise
        return replace(image, source=f"{layout}:{tag}")
    return None


def _read_by_name(name: str, settings: Settings) -> Image:
    """An image by name: from the Docker Engine, else from the embedded builder's store.

    With ``LAYERLAB_ENGINE=embedded`` the store is asked first.  When neither
    has it, the error is the engine's, with the store named in its hint.
    """
    if settings.engine == "embedded":
        image = _read_from_store(name, settings)
        if image is not None:
            return image
    try:
        return _engine().read_engine_image(name, limits=settings.limits)
    except (EngineUnavailable, SourceNotFound) as exc:
        image = _read_from_store(name, settings)
        if image is not None:
            return image
        exc.hint = f"{exc.hint}; the embedded builder's store has no image {_with_tag(name)!r} either"
        raise


def save_stream(source: str, *, settings: Settings):
    """An image as a ``docker save`` archive stream: from the Docker Engine, or (``LAYOUT:TAG``) the embedded store.

    Built images name their source (``analysis.image.source``), so
    ``save_stream(analysis.image.source)`` works whichever engine built it.  A layout is only
    read: no store is made beside it.
    """
    parsed = parse_source(source)
    if parsed.transport in ("oci", "path") and _there(Path(parsed.location, "index.json"), "is_file"):
        from ..building.oci_store import layout_save_stream  # loaded when a layout's image is first saved

        if not parsed.ref:
            raise SourceNotFound(f"{parsed} names a layout but not which image of it",
                                 f"write {TRANSPORTS['oci']}")
        return layout_save_stream(Path(parsed.location), parsed.ref)
    return _engine().save_stream(parsed.location if parsed.transport == "docker-daemon" else str(source))


def analyze_source(source: str, platform: str | None = None, verify: bool | None = None,
                   *, settings: Settings) -> Analysis:
    """Read and analyse ``source`` at once: each layer is merged and scored as soon as it is read.

    The same result as ``analyze(read_image(source))``, sooner: while the
    reader's threads decompress later layers, this thread merges the earlier
    ones.  (An image read from an engine arrives whole, and is analysed then.)
    """
    consumer = MergeAndScore()
    image = read_image(source, platform=platform, verify=verify, on_layer=consumer, settings=settings)
    overlay, score = consumer.overlay, consumer.score
    if len(score.layers) != len(image.layers):
        return analyze(image)
    analysis = Analysis(image, overlay.result)
    analysis.__dict__["_dive"] = score.figures()  # fills the cached property
    return analysis
