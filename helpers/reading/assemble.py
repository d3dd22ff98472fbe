"""An image assembled from its backend: documents read, layers scanned, checked and handed on, base first.

Which layers belong to the image, and in what order, comes from the backend's
documents (:mod:`~helpers.reading.docker_save` or :mod:`~helpers.reading.oci_image`);
each layer is then checked against its descriptor (size, digest) and counted
against the image's entry ceiling, every time the manifest lists it.
"""

from __future__ import annotations

from ..ground.errors import ArchiveError, DigestMismatch
from ..ground.limits import DEFAULT_LIMITS, Limits
from ..ground.model import Entry, Image, Layer
from .blob_store import ConsumerFailed
from .docker_save import docker_save_plan, has_docker_manifest
from .layer_spec import ImagePlan
from .layer_stream import ScannedLayer
from .oci_documents import STARGZ_METADATA, align_history
from .packages import read_database

TYPE_CHECKING = False  # typing's own flag would import typing, which a report does not need
if TYPE_CHECKING:
    from .blob_store import BlobStore, LayerConsumer

#: The most layers one image may list (Docker refuses more than 127; every reference is read and merged).
MAX_LAYERS = 1_000


def _scanned(store: BlobStore, name: str, index: int) -> ScannedLayer:
    scanned = store.layer(name)
    if scanned is None:
        raise ArchiveError(f"layer {index} (`{name}`) is missing from the archive", "save or export the image again")
    return scanned


def _check_digest(scanned: ScannedLayer, expected: str | None, size: int | None, index: int, name: str) -> None:
    """The blob's size against its descriptor's, always; its sha256 against the digest, when it was hashed."""
    if size is not None and scanned.blob_bytes != size:
        raise DigestMismatch(
            f"layer {index} (`{name}`) has {scanned.blob_bytes:,} bytes, but its descriptor says {size:,}",
            "the archive is truncated or corrupt; save or download it again",
        )
    if scanned.digest is not None and expected and expected.startswith("sha256:") and scanned.digest != expected:
        raise DigestMismatch(
            f"layer {index} (`{name}`) has digest {scanned.digest}, but {expected} was expected",
            "the archive is corrupt or was tampered with; save or download it again",
        )


def _without_stargz_metadata(entries: list[Entry]) -> list[Entry]:
    return [e for e in entries if e.path not in STARGZ_METADATA]


def resolve_image(
    store: BlobStore, source: str, container: str, platform: str | None = None, ref: str | None = None,
    on_layer: LayerConsumer | None = None, limits: Limits = DEFAULT_LIMITS,
) -> Image:
    """Find the image in ``store`` and assemble it, layers base first.

    ``container`` is ``"tar"`` or ``"directory"``; it only names the format.  In
    an OCI layout holding several images, ``ref`` picks the one tagged so.  All
    the JSON it reads is untrusted: a value of the wrong shape anywhere is one
    :class:`ArchiveError`, never a crash.  ``on_layer`` is called with each layer,
    base first, as soon as it is read, while later layers may still be reading;
    its ``prepare`` runs on the reading threads (see :class:`LayerConsumer`).
    ``limits.entries`` bounds the entries of all layers, each counted every time the manifest lists it.
    """
    try:
        return _assemble(store, source, _plan(store, source, container, platform, ref), on_layer, limits.entries)
    except ConsumerFailed as failed:
        raise failed.error from None  # the consumer's own error, not the archive's: never relabelled
    except (TypeError, AttributeError, KeyError, IndexError, ValueError, RecursionError) as exc:
        raise ArchiveError(
            f"{source} has malformed image metadata ({type(exc).__name__}: {exc})",
            "the archive is corrupt or is not a container image; save or export it again",
        ) from exc


def _plan(store: BlobStore, source: str, container: str, platform: str | None, ref: str | None) -> ImagePlan:
    if ref is None and has_docker_manifest(store):
        return docker_save_plan(store)
    from .oci_image import has_oci_index, oci_plan  # an OCI image's documents: loaded when one is read

    if has_oci_index(store):
        return oci_plan(store, container, platform, ref)
    raise ArchiveError(f"{source} has neither manifest.json nor index.json",
                       "pass a `docker save` archive or an OCI image layout")


def _assemble(store: BlobStore, source: str, plan: ImagePlan, on_layer: LayerConsumer | None,
              entry_ceiling: int) -> Image:
    specs = plan.layers
    if len(specs) > MAX_LAYERS:
        raise ArchiveError(
            f"the image lists {len(specs):,} layers; at most {MAX_LAYERS:,} are read (Docker itself stops at 127)",
            "the archive is malformed or hostile; save or export the image again",
        )
    steps, per_layer = align_history(plan.config, len(specs))
    referenced = 0
    store.prefetch([spec.name for spec in specs], on_layer.prepare if on_layer is not None else None)
    result: list[Layer] = []
    for i, spec in enumerate(specs):
        scanned = _scanned(store, spec.name, i)
        expected = spec.expected
        if expected is None and spec.media_type is None and scanned.compression == "none":
            expected = spec.diff_id if isinstance(spec.diff_id, str) else None
        _check_digest(scanned, expected, spec.size, i, spec.name)
        entries = _without_stargz_metadata(scanned.entries) if spec.stargz else scanned.entries
        referenced += len(entries)  # per reference: a blob listed twice is merged and scored twice
        if referenced > entry_ceiling:
            raise ArchiveError(
                f"{source} has more than {entry_ceiling:,} tar entries in its layers, counting every layer each "
                f"time the manifest lists it (layer {i}, `{spec.name}`, passes the ceiling)",
                "raise LAYERLAB_MAX_ENTRIES if the machine has the memory (about 500 bytes an entry)",
            )
        step, created_by = per_layer[i]
        digest = scanned.digest or expected or f"unhashed:{source}:{spec.name}"
        media_type = spec.media_type if spec.media_type is not None else f"tar+{scanned.compression}"
        layer = Layer(i, entries, digest, media_type, created_by, step, scanned.blob_bytes, scanned.gzip_bytes,
                      read_database(scanned.documents))
        result.append(layer)
        if on_layer is not None:
            try:
                on_layer(layer, None if spec.stargz else scanned.prepared)  # stargz entries were filtered since
            except Exception as exc:
                raise ConsumerFailed(exc) from exc
    return Image(source, plan.format, result, steps, plan.config, plan.tags)
