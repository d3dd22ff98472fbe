"""The recording file: what real builds measured, kept to be replayed where nothing can build.

A *recording* holds, for every image a notebook built or read, everything its
analysis needs (every layer's tar entries, its package database and
compressed size, the history and config, the base images' provenance), plus
where and when it was made: the engine and its version, the platform and the
date.  Each variant's Dockerfile (and a digest of its build context) is kept
too, so a recording replays only for the builds it was made from.  Replaying
gives exactly the tables and figures of the live analysis.

Layers are stored once, by digest, however many images share them: a base
layer under ten images is one entry, as it is in an engine.

Only a real build writes a recording (:class:`helpers.orchestration.lab.Lab`, the
``record`` command).  Files are written atomically (a temporary file in the
same folder, then a rename), so an interrupted run leaves either the old
recording or the new one, never half of one.
"""

from __future__ import annotations

import gzip
import json
import os
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

from ..ground.errors import ArchiveError, BuildFailed, LayerLabError
from ..ground.limits import DEFAULT_LIMITS, MAX_ENTRIES, MAX_RECORDING_ENTRIES, Limits
from ..ground.model import Entry, Image, Layer, Package, PackageDatabase
from ..ground.settings import BUILDER_LABELS
from ..measuring.analysis import Analysis, analyze
from ..reading.oci_documents import align_history

RECORDING_FORMAT = "layerlab-recording"
RECORDING_VERSION = 2
#: Set to ``1`` to make live runs write their recording (see :class:`helpers.orchestration.lab.Lab`).


class RecordingMissing(LayerLabError):
    """Nothing can build here, and there is no recording (for these builds) to replay."""


@dataclass
class Recording:
    """A loaded recording: its metadata, each build's outcome, and each image read by name.

    An outcome is the variant's :class:`~helpers.measuring.analysis.Analysis`, or the
    :class:`~helpers.ground.errors.BuildFailed` that stopped its build: a Dockerfile
    that fails on some release is a result worth replaying too.
    ``dockerfiles`` and ``contexts`` are what each build was made from.
    """

    path: Path
    metadata: dict
    outcomes: dict[str, Analysis | BuildFailed]
    reads: dict[str, Analysis] = field(default_factory=dict)
    dockerfiles: dict[str, str] = field(default_factory=dict)
    contexts: dict[str, str | None] = field(default_factory=dict)
    #: Other things measured live (what apk said, what a wheel holds): name → (what was asked, the JSON answer).
    measurements: dict[str, tuple[str, object]] = field(default_factory=dict)

    @property
    def analyses(self) -> dict[str, Analysis]:
        """The variants that built."""
        return {name: o for name, o in self.outcomes.items() if isinstance(o, Analysis)}

    def describe(self) -> str:
        """Where and when the recording was made, in one sentence."""
        return describe(self.metadata)


def describe(metadata: dict) -> str:
    """``recorded on DATE with ENGINE VERSION (PLATFORM), from BASE (ID), …``."""
    m = metadata
    bases = ", ".join(f"{name} ({info['id'][:19]}, {info.get('made', 'made locally')})"
                      for name, info in sorted(m.get("base_images", {}).items()))
    return (
        f"recorded on {m['recorded_on']} with {m['engine']} {m['engine_version']} ({m['platform']})"
        + (f", from {bases}" if bases else "")
    )


# ---------------------------------------------------------------- writing


def _layer_to_json(layer: Layer) -> dict:
    db = layer.packages
    return {
        "media_type": layer.media_type,
        "blob_bytes": layer.blob_bytes,
        "gzip_bytes": layer.gzip_bytes,
        "entries": [list(entry) for entry in layer.entries],
        "packages": None if db is None else {
            "manager": db.manager, "path": db.path, "note": db.note,
            "packages": None if db.packages is None else [list(p) for p in db.packages],
        },
    }


def _failure_to_json(failure: BuildFailed) -> dict:
    return {
        "message": failure.message, "hint": failure.hint, "log_tail": failure.log_tail,
        "step": failure.step, "instruction": failure.instruction, "reason": failure.reason,
    }


class RecordingWriter:
    """A recording being made: images and builds are added as they happen, then :meth:`write` saves it all."""

    def __init__(self, metadata: dict) -> None:
        self.document: dict = {
            "format": RECORDING_FORMAT, "version": RECORDING_VERSION, "metadata": dict(metadata),
            "layers": {}, "images": {}, "builds": {}, "reads": {}, "order": [],
        }
        self.document["metadata"].setdefault("base_images", {})

    def _add_image(self, key: str, image: Image) -> None:
        layers = self.document["layers"]
        for layer in image.layers:
            layers.setdefault(layer.digest, _layer_to_json(layer))
        self.document["images"][key] = {
            "source": image.source, "format": image.format, "tags": image.tags, "config": image.config,
            "layers": [layer.digest for layer in image.layers], "bases": image.bases,
            **({"built_by": image.built_by} if image.built_by is not None else {}),
        }
        for base in image.bases:
            self.document["metadata"]["base_images"][base["image"]] = base

    def add_read(self, name: str, analysis: Analysis) -> None:
        """An image read by name (a base image, say)."""
        self._add_image(f"read/{name}", analysis.image)
        self.document["reads"][name] = f"read/{name}"

    def add_build(self, name: str, dockerfile: str, context: str | None, outcome: Analysis | BuildFailed) -> None:
        """One variant's build: its Dockerfile, its context's digest, and its image or its failure."""
        build: dict = {"dockerfile": dockerfile, "context": context}
        if isinstance(outcome, BuildFailed):
            build["failure"] = _failure_to_json(outcome)
        else:
            self._add_image(f"build/{name}", outcome.image)
            build["image"] = f"build/{name}"
        self.document["builds"][name] = build
        if name not in self.document["order"]:
            self.document["order"].append(name)

    def add_measurement(self, name: str, key: str, value: object) -> None:
        """Something else measured live: ``key`` says exactly what was asked, ``value`` (JSON) what came back."""
        self.document.setdefault("measurements", {})[name] = {"key": key, "value": value}

    def write(self, path: str | os.PathLike) -> Path:
        """Save everything added so far to ``path``, atomically."""
        path = Path(path)
        _write_atomically(path, self.document)
        return path


def _write_atomically(path: Path, document: dict) -> None:
    """Write ``document`` to ``path`` through a temporary file and a rename: all of it, or nothing.

    A writer killed outright (SIGKILL) cannot clean up its temporary file; the
    next write to the same path removes such leftovers first.
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    for leftover in path.parent.glob(f".{path.name}.*.partial"):
        leftover.unlink(missing_ok=True)
    handle = tempfile.NamedTemporaryFile(dir=path.parent, prefix=f".{path.name}.", suffix=".partial", delete=False)
    try:
        with handle, gzip.GzipFile(fileobj=handle, mode="wb", mtime=0) as stream:
            stream.write(json.dumps(document, separators=(",", ":"), sort_keys=True).encode())
        os.chmod(handle.name, 0o644)  # a temporary file is made private; a recording is for everyone to replay
        os.replace(handle.name, path)
    except BaseException:
        Path(handle.name).unlink(missing_ok=True)
        raise


# ---------------------------------------------------------------- reading


def _packages_from_json(data: dict | None) -> PackageDatabase | None:
    if data is None:
        return None
    packages = None if data["packages"] is None else [Package(*p) for p in data["packages"]]
    return PackageDatabase(data["manager"], data["path"], packages, data.get("note", ""))


def _image_from_json(data: dict, layers: dict) -> Image:
    config = data.get("config") or {}
    steps, per_layer = align_history(config, len(data["layers"]))
    result = []
    for index, digest in enumerate(data["layers"]):
        layer = layers[digest]
        step, created_by = per_layer[index]
        result.append(Layer(index, [Entry(*entry) for entry in layer["entries"]], digest, layer["media_type"],
                            created_by, step, layer.get("blob_bytes", 0), layer.get("gzip_bytes"),
                            _packages_from_json(layer.get("packages"))))
    return Image(data["source"], data["format"], result, steps, config, list(data.get("tags") or []),
                 list(data.get("bases") or []), data.get("built_by"))


def _failure_from_json(failure: dict) -> BuildFailed:
    return BuildFailed(failure["message"], failure["hint"], failure["log_tail"],
                       step=failure["step"], instruction=failure["instruction"], reason=failure["reason"])


#: The most bytes a recording may decompress to, per tar entry it may hold (an entry is about 100 bytes of JSON).
BYTES_PER_RECORDED_ENTRY = 160  # real recordings hold 70 to 100
#: Room for everything in a recording that is not an entry (configs, Dockerfiles, metadata).
RECORDING_OVERHEAD_BYTES = 64 << 20


class _Malformed(Exception):
    """Where in a recording a value has the wrong shape (turned into one :class:`ArchiveError`)."""


def _want(value: object, kinds: type | tuple[type, ...], where: str) -> object:
    ok = isinstance(value, kinds) and not (isinstance(value, bool) and kinds in (int, (int, type(None))))
    if not ok:
        names = " or ".join(k.__name__ if k is not type(None) else "null"
                            for k in (kinds if isinstance(kinds, tuple) else (kinds,)))
        raise _Malformed(f"{where} should be {names}, not {type(value).__name__}")
    return value


_ENTRY_FIELDS = (str, str, int, int, int, int, str)
_PACKAGE_FIELDS = (str, str, int)


#: The largest number a recorded size or id may hold: what a tar header or a package database can say (8 EiB).
MAX_RECORDED_NUMBER = (1 << 63) - 1
#: Package rows a recording may hold beyond its tar entries (a Debian image lists a few hundred packages).
PACKAGE_ROWS_ALLOWANCE = 200_000


def _check_rows(rows: object, fields: tuple[type, ...], where: str) -> None:
    for position, row in enumerate(_want(rows, list, where)):  # type: ignore[arg-type]
        if not isinstance(row, list) or len(row) != len(fields):
            raise _Malformed(f"{where}[{position}] should be a list of {len(fields)} values")
        for value, kind in zip(row, fields, strict=True):
            _want(value, kind, f"{where}[{position}]")
            if kind is int and not 0 <= value <= MAX_RECORDED_NUMBER:
                raise _Malformed(f"{where}[{position}] holds {str(value)[:24]}, which no size or id can be")


def _check_shape(document: dict) -> None:
    """Every value a replay reads has the type it needs: one :class:`_Malformed` naming the first that does not."""
    metadata = _want(document.get("metadata"), dict, "metadata")
    for key in ("recorded_on", "engine", "engine_version", "platform"):
        _want(metadata.get(key), str, f"metadata.{key}")  # type: ignore[union-attr]
    for name, base in _want(metadata.get("base_images", {}), dict, "metadata.base_images").items():  # type: ignore
        _want(_want(base, dict, f"metadata.base_images[{name!r}]").get("id"), str,  # type: ignore[union-attr]
              f"metadata.base_images[{name!r}].id")
    layers = _want(document.get("layers"), dict, "layers")
    for digest, layer in layers.items():  # type: ignore[union-attr]
        where = f"layers[{digest[:19]!r}]"
        _want(layer, dict, where)
        _check_rows(layer.get("entries"), _ENTRY_FIELDS, f"{where}.entries")
        _want(layer.get("media_type"), str, f"{where}.media_type")
        for key in ("blob_bytes", "gzip_bytes"):
            value = _want(layer.get(key, 0), (int, type(None)) if key == "gzip_bytes" else int, f"{where}.{key}")
            if value is not None and not 0 <= value <= MAX_RECORDED_NUMBER:  # type: ignore[operator]
                raise _Malformed(f"{where}.{key} holds {str(value)[:24]}, which no size can be")
        packages = _want(layer.get("packages"), (dict, type(None)), f"{where}.packages")
        if packages is not None:
            for key in ("manager", "path"):
                _want(packages.get(key), str, f"{where}.packages.{key}")  # type: ignore[union-attr]
            _want(packages.get("note", ""), str, f"{where}.packages.note")  # type: ignore[union-attr]
            if packages.get("packages") is not None:  # type: ignore[union-attr]
                _check_rows(packages["packages"], _PACKAGE_FIELDS, f"{where}.packages.packages")  # type: ignore
    images = _want(document.get("images"), dict, "images")
    for key, image in images.items():  # type: ignore[union-attr]
        where = f"images[{key!r}]"
        _want(image, dict, where)
        for field_name in ("source", "format"):
            _want(image.get(field_name), str, f"{where}.{field_name}")
        _want(image.get("config") or {}, dict, f"{where}.config")
        for tag in _want(image.get("tags") or [], list, f"{where}.tags"):  # type: ignore[union-attr]
            _want(tag, str, f"{where}.tags")
        for base in _want(image.get("bases") or [], list, f"{where}.bases"):  # type: ignore[union-attr]
            _want(base, dict, f"{where}.bases")
        if image.get("built_by") not in (None, *BUILDER_LABELS):
            raise _Malformed(f"{where}.built_by names no builder: {str(image.get('built_by'))[:80]!r}")
        for digest in _want(image.get("layers"), list, f"{where}.layers"):  # type: ignore[union-attr]
            if not isinstance(digest, str) or digest not in layers:  # type: ignore[operator]
                raise _Malformed(f"{where}.layers names a layer the recording does not hold: {str(digest)[:80]!r}")
    builds = _want(document.get("builds"), dict, "builds")
    for name, build in builds.items():  # type: ignore[union-attr]
        where = f"builds[{name!r}]"
        _want(build, dict, where)
        _want(build.get("dockerfile"), str, f"{where}.dockerfile")
        _want(build.get("context"), (str, type(None)), f"{where}.context")
        if "image" in build:
            if not isinstance(build["image"], str) or build["image"] not in images:  # type: ignore[operator]
                raise _Malformed(f"{where}.image names an image the recording does not hold")
        else:
            failure = _want(build.get("failure"), dict, f"{where}.failure")
            for key in ("message",):
                _want(failure.get(key), str, f"{where}.failure.{key}")  # type: ignore[union-attr]
            for key in ("hint", "instruction", "reason"):
                _want(failure.get(key), (str, type(None)), f"{where}.failure.{key}")  # type: ignore[union-attr]
            _want(failure.get("step"), (int, type(None)), f"{where}.failure.step")  # type: ignore[union-attr]
            for line in _want(failure.get("log_tail") or [], list, f"{where}.failure.log_tail"):  # type: ignore
                _want(line, str, f"{where}.failure.log_tail")
    used = {digest for image in images.values() for digest in image["layers"]}  # type: ignore[union-attr]
    unused = [digest for digest in layers if digest not in used]  # type: ignore[union-attr]
    if unused:
        raise _Malformed(f"it holds {len(unused):,} layers that no image uses (the first: {str(unused[0])[:19]!r})")
    for name in _want(document.get("order"), list, "order"):  # type: ignore[union-attr]
        if not isinstance(name, str) or name not in builds:  # type: ignore[operator]
            raise _Malformed(f"order names a build the recording does not hold: {str(name)[:80]!r}")
    for name, key in _want(document.get("reads"), dict, "reads").items():  # type: ignore[union-attr]
        if not isinstance(key, str) or key not in images:  # type: ignore[operator]
            raise _Malformed(f"reads[{name!r}] names an image the recording does not hold")
    for name, measured in _want(document.get("measurements", {}), dict, "measurements").items():  # type: ignore
        _want(_want(measured, dict, f"measurements[{name!r}]").get("key"), str,  # type: ignore[union-attr]
              f"measurements[{name!r}].key")


def _check_entry_budget(document: dict, path: Path, limits: Limits) -> None:
    """The entries a replay would make, counted per image as a live read counts them, before any is made.

    Each image meets the live reader's own ceiling (``LAYERLAB_MAX_ENTRIES``, a layer listed
    twice counted twice), and all of them the recording's.
    """
    layers = document["layers"]
    total = 0
    for key, image in document["images"].items():
        entries = sum(len(layers[digest]["entries"]) for digest in image["layers"])
        if entries > limits.entries:
            raise ArchiveError(
                f"the recording {path} replays {key.partition('/')[2] or key} as {entries:,} tar entries, past the "
                f"ceiling of {limits.entries:,} a live read keeps to",
                f"record it again; if it is genuine, raise {MAX_ENTRIES.variable}",
            )
        total += entries
    if total > limits.recording_entries:
        raise ArchiveError(
            f"the recording {path} holds {total:,} tar entries across its images, past the ceiling of "
            f"{limits.recording_entries:,}",
            f"record it again; if it is genuine, raise {MAX_RECORDING_ENTRIES.variable}",
        )


def _read_document(path: Path, ceiling: int) -> dict:
    """The recording's JSON, decompressed with a ceiling that follows from the entry ceiling."""
    limit = ceiling * BYTES_PER_RECORDED_ENTRY + RECORDING_OVERHEAD_BYTES
    try:
        with gzip.open(path, "rb") as stream:  # in chunks: read(limit) would set aside the whole limit at once
            chunks, size = [], 0
            while size <= limit and (chunk := stream.read(1 << 20)):
                chunks.append(chunk)
                size += len(chunk)
            data = b"".join(chunks)
        if len(data) > limit:
            raise ArchiveError(
                f"the recording {path} decompresses past {limit:,} bytes (a decompression bomb?)",
                f"record it again; if it is genuine, raise {MAX_RECORDING_ENTRIES.variable}",
            )
        rows = data.count(b"[")  # every row is a list: counted before one is made (brackets in names count too)
        if rows > ceiling + PACKAGE_ROWS_ALLOWANCE:
            raise ArchiveError(
                f"the recording {path} holds over {ceiling + PACKAGE_ROWS_ALLOWANCE:,} rows, past its ceiling",
                f"record it again; if it is genuine, raise {MAX_RECORDING_ENTRIES.variable}",
            )
        document = json.loads(data)
    except FileNotFoundError as exc:
        raise RecordingMissing(
            f"there is no recording at {path}", "record one with `python -m helpers record`"
        ) from exc
    except (OSError, EOFError, ValueError) as exc:
        raise ArchiveError(f"the recording {path} is unreadable: {exc}", "record it again") from exc
    except RecursionError as exc:
        raise ArchiveError(f"the recording {path} nests deeper than any recording does", "record it again") from exc
    if not isinstance(document, dict) or document.get("format") != RECORDING_FORMAT \
            or document.get("version") != RECORDING_VERSION:
        raise ArchiveError(f"{path} is not a version-{RECORDING_VERSION} recording", "record it again")
    return document


def load_recording(path: str | os.PathLike, limits: Limits = DEFAULT_LIMITS) -> Recording:
    """Read a recording and analyse its images again, exactly as the live run did.

    A recording is untrusted input: its size is bounded (``limits.recording_entries``,
    ``LAYERLAB_MAX_RECORDING_ENTRIES``, counted before any is made), and every value is checked for the
    shape a replay needs; anything else is one :class:`ArchiveError`.
    """
    path = Path(path)
    document = _read_document(path, limits.recording_entries)
    try:
        _check_shape(document)
    except _Malformed as exc:
        raise ArchiveError(f"the recording {path} is malformed: {exc}", "record it again") from None
    _check_entry_budget(document, path, limits)
    try:
        layers, images = document["layers"], document["images"]
        analyses: dict[str, Analysis] = {}

        def analysis(key: str) -> Analysis:
            if key not in analyses:
                analyses[key] = analyze(_image_from_json(images[key], layers))
            return analyses[key]

        builds = document["builds"]
        outcomes: dict[str, Analysis | BuildFailed] = {
            name: analysis(builds[name]["image"]) if "image" in builds[name]
            else _failure_from_json(builds[name]["failure"])
            for name in document["order"]
        }
        reads = {name: analysis(key) for name, key in document["reads"].items()}
        return Recording(path, document["metadata"], outcomes, reads,
                         {name: build["dockerfile"] for name, build in builds.items()},
                         {name: build.get("context") for name, build in builds.items()},
                         {name: (m["key"], m.get("value")) for name, m in document.get("measurements", {}).items()})
    except (KeyError, TypeError, ValueError, AttributeError, IndexError) as exc:
        raise ArchiveError(f"the recording {path} is malformed ({type(exc).__name__}: {exc})",
                           "record it again") from exc
