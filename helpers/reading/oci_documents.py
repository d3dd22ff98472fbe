r"""The JSON documents of an image, as typed records, read in one place.

The records are :func:`~collections.namedtuple`\ s, as the model's are (:mod:`helpers.ground.model` says why).

An OCI index (``index.json`` or a nested index), an image manifest, their
descriptors, and ``docker save``'s ``manifest.json``.  Every document an
archive holds is untrusted: each record is built by ``from_json``, which turns
a value of the wrong shape into one :class:`ArchiveError` naming the document,
never a crash further on.  Annotations are looked up here and nowhere else.
"""

from __future__ import annotations

import json
import re
from collections import namedtuple
from collections.abc import Mapping
from types import MappingProxyType

from ..ground.errors import ArchiveError, DigestMismatch
from ..ground.model import HistoryStep
from .tar_fields import normalize_path

TYPE_CHECKING = False  # typing's own flag would import typing, which a report does not need

INDEX_MEDIA_TYPES = frozenset((
    "application/vnd.oci.image.index.v1+json",
    "application/vnd.docker.distribution.manifest.list.v2+json",
))
MANIFEST_MEDIA_TYPES = frozenset((
    "application/vnd.oci.image.manifest.v1+json",
    "application/vnd.docker.distribution.manifest.v2+json",
))
#: The tag of an image in an OCI layout.
REF_ANNOTATION = "org.opencontainers.image.ref.name"
#: Where an eStargz layer keeps its table of contents; its two metadata files are not the image's.
STARGZ_TOC_ANNOTATION = "containerd.io/snapshot/stargz/toc.digest"
STARGZ_METADATA = frozenset(("stargz.index.json", ".prefetch.landmark"))
#: BuildKit's mark on an attestation manifest, which describes an image and is not one.
ATTESTATION_ANNOTATION = "vnd.docker.reference.type"
_BLOB_NAME = r"^blobs/(sha256)/([0-9a-f]{64})$"
_CORRUPT = "the archive is corrupt"


if TYPE_CHECKING:  # structural types, for type checkers only
    from typing import Protocol

    class DocumentSource(Protocol):
        """Anything that holds an image's small members by name (see :class:`~helpers.reading.blob_store.BlobStore`)."""

        def doc(self, name: str) -> bytes | None: ...


def parse_json(raw: bytes, what: str, name: str) -> object:
    """JSON from an archive, where malformed and absurdly nested documents are one :class:`ArchiveError`."""
    try:
        return json.loads(raw)
    except ValueError as exc:
        raise ArchiveError(f"the {what} `{name}` is not valid JSON: {exc}", _CORRUPT) from exc
    except RecursionError as exc:  # json nests by recursion: thousands of ``[`` exhaust the stack
        raise ArchiveError(f"the {what} `{name}` nests deeper than any image metadata does (refused)",
                           "the archive is malformed or hostile; save or export the image again") from exc


def blob_name(digest: object) -> str:
    """``sha256:ab…`` → ``blobs/sha256/ab…``, the member that holds it."""
    algorithm, _, hexdigest = str(digest).partition(":")
    if not algorithm or not hexdigest:
        raise ArchiveError(f"malformed digest {str(digest)[:100]!r}", _CORRUPT)
    return f"blobs/{algorithm}/{hexdigest}"


def blob_digest(name: str) -> str | None:
    """The digest a member is named after (``blobs/sha256/ab…`` → ``sha256:ab…``), or ``None``."""
    match = re.match(_BLOB_NAME, normalize_path(name))
    return f"sha256:{match.group(2)}" if match else None


def load_json(store: DocumentSource, name: str, what: str) -> object:
    """The document ``name`` of ``store``, parsed, and checked against its digest when it is named after one."""
    raw = store.doc(name)
    if raw is None:
        raise ArchiveError(f"the {what} `{name}` is missing", "the archive is incomplete; save or export it again")
    digest = blob_digest(name)
    if digest is not None:
        import hashlib  # OpenSSL's start-up, paid by the archives whose documents are named by digest only

        if "sha256:" + hashlib.sha256(raw).hexdigest() != digest:
            raise DigestMismatch(f"the {what} `{name}` does not match its digest", _CORRUPT)
    return parse_json(raw, what, name)


def load_object(store: DocumentSource, name: str, what: str) -> dict:
    """:func:`load_json`, which must be a JSON object."""
    data = load_json(store, name, what)
    if not isinstance(data, dict):
        raise ArchiveError(f"the {what} `{name}` is not a JSON object", _CORRUPT)
    return data


def _text(value: object, what: str, key: str) -> str:
    if value is None:
        return ""
    if not isinstance(value, str):
        raise ArchiveError(f"the {what}'s `{key}` is not a string", _CORRUPT)
    return value


def _mapping(value: object, what: str, key: str) -> dict:
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise ArchiveError(f"the {what}'s `{key}` is not a JSON object", _CORRUPT)
    return value


def _list(value: object, what: str, key: str) -> list:
    if value is None:
        return []
    if not isinstance(value, list):
        raise ArchiveError(f"the {what}'s `{key}` is not a list", _CORRUPT)
    return value


class Platform(namedtuple("Platform", "os architecture variant", defaults=("",))):
    """What an image runs on: ``linux/amd64``, ``linux/arm64/v8``."""

    __slots__ = ()
    os: str
    architecture: str
    variant: str

    def __str__(self) -> str:
        return "/".join(part for part in (self.os, self.architecture, self.variant) if part)

    def matches(self, wanted: str) -> bool:
        """``wanted`` is this platform, or this platform without its variant (``linux/arm64`` for ``…/v8``)."""
        found = str(self)
        return found == wanted or found.startswith(wanted + "/")

    @classmethod
    def from_json(cls, data: object, what: str) -> Platform | None:
        """A descriptor's ``platform``, or an image config's ``os`` and ``architecture``; ``None`` when absent."""
        if not data:
            return None
        fields = _mapping(data, what, "platform")
        return cls(_text(fields.get("os"), what, "os"), _text(fields.get("architecture"), what, "architecture"),
                   _text(fields.get("variant"), what, "variant"))


class Descriptor(namedtuple("Descriptor", "media_type digest size annotations platform",
                            defaults=(None, MappingProxyType({}), None))):
    """A pointer to a blob: its media type, digest and size, with its annotations and platform."""

    __slots__ = ()
    media_type: str
    digest: str
    size: int | None
    annotations: Mapping[str, object]
    platform: Platform | None

    @classmethod
    def from_json(cls, data: object, what: str) -> Descriptor:
        if not isinstance(data, dict):
            raise ArchiveError(f"a descriptor in the {what} is not a JSON object", _CORRUPT)
        size = data.get("size")
        return cls(
            _text(data.get("mediaType"), what, "mediaType"), _text(data.get("digest"), what, "digest"),
            size if isinstance(size, int) and not isinstance(size, bool) else None,
            _mapping(data.get("annotations"), what, "annotations"),
            Platform.from_json(data.get("platform"), what),
        )

    @property
    def blob(self) -> str:
        """The member that holds this blob."""
        return blob_name(self.digest)

    @property
    def ref_name(self) -> str | None:
        """The tag an OCI layout gives this image (``org.opencontainers.image.ref.name``)."""
        ref = self.annotations.get(REF_ANNOTATION)
        return ref if isinstance(ref, str) and ref else None

    @property
    def is_attestation(self) -> bool:
        return self.annotations.get(ATTESTATION_ANNOTATION) == "attestation-manifest"

    @property
    def is_stargz(self) -> bool:
        return STARGZ_TOC_ANNOTATION in self.annotations

    @property
    def is_index(self) -> bool:
        return self.media_type in INDEX_MEDIA_TYPES

    @property
    def is_manifest(self) -> bool:
        """An image manifest, or a descriptor that does not say (old layouts leave ``mediaType`` out)."""
        return self.media_type in MANIFEST_MEDIA_TYPES or not self.media_type


def ref_name(descriptor: object) -> str | None:
    """The tag of a raw descriptor of an index the store is about to rewrite (see :attr:`Descriptor.ref_name`)."""
    return Descriptor.from_json(descriptor, "index").ref_name


class Index(namedtuple("Index", "manifests")):
    """An OCI image index: ``index.json``, or an index nested in one."""

    __slots__ = ()
    manifests: tuple[Descriptor, ...]

    @classmethod
    def from_json(cls, data: object, what: str = "index") -> Index:
        if not isinstance(data, dict):
            raise ArchiveError(f"the {what} is not a JSON object", _CORRUPT)
        return cls(tuple(Descriptor.from_json(d, what) for d in _list(data.get("manifests"), what, "manifests")))

    def refs(self) -> list[str]:
        """Every tag the index gives, sorted."""
        return sorted({d.ref_name for d in self.manifests if d.ref_name})

    def tagged(self, ref: str) -> Index:
        """The index narrowed to the images tagged ``ref``; :class:`RefNotFound` when there is none."""
        found = tuple(d for d in self.manifests if d.ref_name == ref)
        if not found:
            raise RefNotFound(f"the layout has no image tagged {ref!r}",
                              f"pick one of: {', '.join(self.refs()) or '(none)'}")
        return Index(found)


class RefNotFound(ArchiveError):
    """An OCI layout holds no image of the tag asked for."""


class Manifest(namedtuple("Manifest", "config layers")):
    """An image manifest: the config's descriptor and the layers', base first."""

    __slots__ = ()
    config: Descriptor
    layers: tuple[Descriptor, ...]

    @classmethod
    def from_json(cls, data: object, what: str = "image manifest") -> Manifest:
        if not isinstance(data, dict):
            raise ArchiveError(f"the {what} is not a JSON object", _CORRUPT)
        return cls(Descriptor.from_json(data.get("config") or {}, what),
                   tuple(Descriptor.from_json(d, what) for d in _list(data.get("layers"), what, "layers")))


class DockerSaveImage(namedtuple("DockerSaveImage", "config layers tags")):
    """The first image of ``docker save``'s ``manifest.json``: its config member, layer members and tags."""

    __slots__ = ()
    config: str
    layers: tuple[str, ...]
    tags: tuple[str, ...]

    @classmethod
    def from_json(cls, data: object) -> DockerSaveImage:
        what = "manifest.json"
        if not isinstance(data, list) or not data or not isinstance(data[0], dict):
            raise ArchiveError("manifest.json lists no image", "the archive is malformed")
        chosen = data[0]
        layers = _list(chosen.get("Layers"), what, "Layers")
        tags = _list(chosen.get("RepoTags"), what, "RepoTags")
        return cls(_text(chosen.get("Config"), what, "Config"),
                   tuple(_text(name, what, "Layers") for name in layers),
                   tuple(_text(tag, what, "RepoTags") for tag in tags))


def diff_ids(config: dict) -> list[object]:
    """The image config's ``rootfs.diff_ids``: the digest of each layer uncompressed (empty when malformed)."""
    rootfs = config.get("rootfs")
    ids = rootfs.get("diff_ids") if isinstance(rootfs, dict) else None
    return ids if isinstance(ids, list) else []


def align_history(config: dict, n_layers: int) -> tuple[list[HistoryStep], list[tuple[int | None, str | None]]]:
    """Align the config's history with the layers: ``empty_layer`` entries own no layer.

    History is optional metadata: a malformed one (not a list, entries that are
    not objects) counts as missing rather than failing the whole image.
    """
    steps: list[HistoryStep] = []
    per_layer: list[tuple[int | None, str | None]] = []
    history = config.get("history")
    for position, item in enumerate(history if isinstance(history, list) else []):
        item = item if isinstance(item, dict) else {}
        created_by = item.get("created_by")
        created_by = None if created_by is None else str(created_by)
        empty = bool(item.get("empty_layer"))
        layer = None
        if not empty and len(per_layer) < n_layers:
            layer = len(per_layer)
            per_layer.append((position, created_by))
        steps.append(HistoryStep(position, created_by, empty, layer))
    while len(per_layer) < n_layers:
        per_layer.append((None, None))
    return steps, per_layer
