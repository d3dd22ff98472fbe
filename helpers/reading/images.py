"""One entry point for every kind of source: a path if it exists, else an image in the engine or the store.

Each backend has its module: :mod:`~helpers.reading.tar_archives` (``docker save``
and OCI archives), :mod:`~helpers.reading.oci_layout`, :mod:`~helpers.reading.daemon`
and :mod:`~helpers.reading.store`; :func:`read_image` picks one by what the
source names (:func:`~helpers.reading.source.parse_source`).
"""

from __future__ import annotations

import os
from pathlib import Path

from ..ground.errors import ArchiveError, EngineUnavailable, SourceNotFound
from ..ground.model import Image, Source
from ..ground.settings import Settings
from .files import read_path
from .source import SOURCE_HINT, TRANSPORTS, check_platform, parse_source, there

TYPE_CHECKING = False  # typing's own flag would import typing, which a report does not need
if TYPE_CHECKING:
    from .blob_store import LayerConsumer


def read_engine_image(name: str, settings: Settings) -> Image:
    """An image in the Docker Engine, read through its adapter, loaded only now.

    The Docker SDK takes about a tenth of a second to import, and a report on
    an archive needs neither it nor the engine.
    """
    from .daemon import read_engine_image as read_from_engine

    return read_from_engine(name, limits=settings.limits)


def read_image(
    source: str | os.PathLike | Source, platform: str | None = None, ref: str | None = None,
    verify: bool | None = None, on_layer: LayerConsumer | None = None, *, settings: Settings,
) -> Image:
    """Read ``source`` (see :func:`parse_source`): an archive, an OCI layout, or an image in the engine or the store.

    ``verify`` hashes uncompressed layers on disk too (see :func:`helpers.reading.files.read_path`;
    default: the settings' ``verify``); an image read from the engine, or any compressed layer, is
    always hashed.  ``settings`` also give the limits, the engine asked for, and the store.

    ``LAYOUT:REF`` (an OCI layout directory, a colon, a tag) picks one image of a
    layout that holds several, as skopeo's ``oci:`` transport does; a transport
    prefix (``docker-archive:``, ``oci-archive:``, ``oci:``, ``docker-daemon:``)
    says what the source is instead of leaving it to what is on disk.  The image
    keeps the parsed source as its :attr:`~helpers.ground.model.Image.origin`.
    """
    if platform is not None:
        check_platform(platform)
    parsed = source if isinstance(source, Source) else parse_source(source, ref)
    if parsed.transport == "docker-daemon":
        return read_engine_image(parsed.location, settings)
    if parsed.transport == "name":
        return _read_by_name(parsed.location, settings)
    path = Path(parsed.location)
    if not there(path):
        raise SourceNotFound(f"{parsed.location} does not exist", SOURCE_HINT)
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
    text = f"{path}:{parsed.ref}" if parsed.ref is not None else image.source
    return image._replace(source=text, origin=parsed)


def _read_by_name(name: str, settings: Settings) -> Image:
    """An image by name: from the Docker Engine, else from the embedded builder's store.

    With ``LAYERLAB_ENGINE=embedded`` the store is asked first.  When neither
    has it, the error is the engine's, with the store named in its hint.
    """
    from .store import read_from_store, with_tag  # only a name needs the embedded builder's store

    if settings.engine == "embedded":
        image = read_from_store(name, settings)
        if image is not None:
            return image
    try:
        return read_engine_image(name, settings)
    except (EngineUnavailable, SourceNotFound) as exc:
        image = read_from_store(name, settings)
        if image is not None:
            return image
        exc.hint = f"{exc.hint}; the embedded builder's store has no image {with_tag(name)!r} either"
        raise
