"""The OCI backends' documents: an image of an OCI layout or archive, through its index and manifest."""

from __future__ import annotations

from .layer_spec import ImagePlan, LayerSpec
from .oci_documents import Index, Manifest, load_json, load_object
from .oci_index import pick_manifest

TYPE_CHECKING = False  # typing's own flag would import typing, which a report does not need
if TYPE_CHECKING:
    from .blob_store import BlobStore

INDEX = "index.json"


def has_oci_index(store: BlobStore) -> bool:
    return store.doc(INDEX) is not None


def oci_plan(store: BlobStore, container: str, platform: str | None, ref: str | None) -> ImagePlan:
    """The image ``ref`` (or the only one) for ``platform``: its layers as :class:`LayerSpec`, config and tag."""
    fmt = "oci-layout" if container == "directory" else "oci-archive"
    index = Index.from_json(load_json(store, INDEX, INDEX), INDEX)
    descriptor = pick_manifest(store, index, platform, ref)
    manifest = Manifest.from_json(load_json(store, descriptor.blob, "image manifest"))
    config = load_object(store, manifest.config.blob, "image config")
    specs = [LayerSpec(layer.blob, layer.media_type, layer.digest, layer.size, stargz=layer.is_stargz)
             for layer in manifest.layers]
    tag = descriptor.ref_name
    return ImagePlan(fmt, specs, config, [tag] if tag else [])
