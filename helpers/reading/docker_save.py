"""The ``docker save`` backend's documents: ``manifest.json``, legacy or Engine 25+ (with an OCI layout beside it).

``manifest.json`` is preferred to ``index.json`` when an archive has both:
Engine 25.0.0 could write the OCI manifest's layers out of order.  Its layers
carry no media type, so each is named after the compression found, and an
uncompressed one is checked against the config's ``diff_ids``.
"""

from __future__ import annotations

from .layer_spec import ImagePlan, LayerSpec
from .oci_documents import DockerSaveImage, blob_digest, diff_ids, load_json, load_object

TYPE_CHECKING = False  # typing's own flag would import typing, which a report does not need
if TYPE_CHECKING:
    from .blob_store import BlobStore

MANIFEST = "manifest.json"


def has_docker_manifest(store: BlobStore) -> bool:
    return store.doc(MANIFEST) is not None


def docker_save_plan(store: BlobStore) -> ImagePlan:
    """The first image ``manifest.json`` lists: its layers as :class:`LayerSpec`, its config and its tags."""
    fmt = "docker-archive+oci" if store.doc("index.json") is not None else "docker-archive"
    chosen = DockerSaveImage.from_json(load_json(store, MANIFEST, MANIFEST))
    config = load_object(store, chosen.config, "image config")
    ids = diff_ids(config)
    specs = [LayerSpec(name, None, blob_digest(name), None, diff_id=ids[i] if i < len(ids) else None)
             for i, name in enumerate(chosen.layers)]
    return ImagePlan(fmt, specs, config, list(chosen.tags))
