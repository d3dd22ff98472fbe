"""Which image of an OCI index is read: its tag, its platform, through nested and multi-platform indexes.

Every nested index is read once, however many descriptors name it (a fan-out
costs what the distinct indexes cost, and a cycle ends), at most
:data:`MAX_INDEX_DEPTH` deep and :data:`MAX_INDEX_DESCRIPTORS` descriptors in all.
Attestation manifests (BuildKit's provenance and SBOMs) are left out: they
describe an image and are not one.
"""

from __future__ import annotations

from ..ground.errors import ArchiveError, PlatformNotFound
from .oci_documents import Descriptor, Index, Platform, blob_name, load_json, load_object, parse_json

TYPE_CHECKING = False  # typing's own flag would import typing, which a report does not need
if TYPE_CHECKING:
    from .blob_store import BlobStore

#: The platform picked from a multi-platform index unless told otherwise.
DEFAULT_PLATFORM = "linux/amd64"
#: The most descriptors read across an image's index and the indexes nested in it.
MAX_INDEX_DESCRIPTORS = 10_000
#: The deepest indexes may nest under ``index.json``.
MAX_INDEX_DEPTH = 8


def platform_of(descriptor: Descriptor, store: BlobStore) -> Platform | None:
    """The descriptor's platform, else its image config's ``os`` and ``architecture``; ``None`` when neither says."""
    if descriptor.platform is not None:
        return descriptor.platform
    manifest = load_json(store, descriptor.blob, "manifest")
    config = manifest.get("config") if isinstance(manifest, dict) else None
    digest = config.get("digest") if isinstance(config, dict) else None
    config_name = blob_name(digest if isinstance(digest, str) and digest else "x:x")
    raw = store.doc(config_name)
    if raw is None:
        return None
    data = parse_json(raw, "image config", config_name)
    if isinstance(data, dict) and isinstance(data.get("os"), str) and isinstance(data.get("architecture"), str):
        return Platform(data["os"], data["architecture"])
    return None


def image_manifests(store: BlobStore, index: Index) -> list[tuple[Descriptor, Platform | None]]:
    """Every image manifest descriptor under ``index``, with its platform, attestations left out."""
    found: list[tuple[Descriptor, Platform | None]] = []
    expanded: set[str] = set()
    seen_manifests: set[str] = set()
    looked_at = 0
    pending: list[tuple[Index, int]] = [(index, 0)]
    while pending:
        current, depth = pending.pop(0)
        if depth > MAX_INDEX_DEPTH:
            raise ArchiveError(f"image indexes nest more than {MAX_INDEX_DEPTH} deep", "the archive is malformed")
        for descriptor in current.manifests:
            looked_at += 1
            if looked_at > MAX_INDEX_DESCRIPTORS:
                raise ArchiveError(
                    f"the image index and the indexes nested in it list more than {MAX_INDEX_DESCRIPTORS:,} "
                    "descriptors (refused)", "the archive is malformed or hostile; save or export the image again")
            if descriptor.is_attestation:
                continue
            if descriptor.is_index:
                if descriptor.digest in expanded:
                    continue  # read already, or a cycle: its manifests are in ``found`` once
                expanded.add(descriptor.digest)
                nested = load_object(store, descriptor.blob, "nested index")
                pending.append((Index.from_json(nested, "nested index"), depth + 1))
            elif descriptor.is_manifest:
                if descriptor.digest in seen_manifests and not descriptor.annotations:
                    continue  # the same manifest again, with nothing that tells it apart
                seen_manifests.add(descriptor.digest)
                found.append((descriptor, platform_of(descriptor, store)))
    return found


def pick_manifest(store: BlobStore, index: Index, platform: str | None, ref: str | None = None) -> Descriptor:
    """The manifest of the image tagged ``ref`` (any, if ``None``) for ``platform`` (default: linux/amd64).

    A layout of one image is read whatever its platform when none is asked for.
    """
    if ref is not None:
        index = index.tagged(ref)
    candidates = image_manifests(store, index)
    if not candidates:
        raise ArchiveError("index.json lists no image manifest", "the archive is empty or malformed")
    wanted = platform or DEFAULT_PLATFORM
    for descriptor, found in candidates:
        if found is not None and found.matches(wanted):
            return descriptor
    if platform is None and len(candidates) == 1:
        return candidates[0][0]
    available = ", ".join(sorted({str(found) if found else "unknown" for _, found in candidates}))
    raise PlatformNotFound(f"the index has no {wanted} image (it has: {available})",
                           "pick one of those with --platform OS/ARCH")
