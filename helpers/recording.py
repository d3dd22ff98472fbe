"""Record real builds, and replay them where no engine can build.

A *recording* holds what a real build measured (every layer's tar entries,
the history and config) plus where and when it was made: the engine and its
version, the platform, the base images' IDs, the date and the Dockerfiles.
Replaying one gives exactly the tables and figures of the live analysis.

Only a real build writes a recording: :func:`record` builds with the engine
and nothing else in the package writes one.  Files are written atomically (a
temporary file in the same folder, then a rename), so an interrupted run
leaves either the old recording or the new one, never half of one.
"""

from __future__ import annotations

import datetime
import gzip
import json
import os
import tempfile
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from .analysis import Analysis, analyze
from .archive import align_history
from .errors import ArchiveError, BuildFailed, LayerLabError
from .model import Entry, Image, Layer

RECORDING_FORMAT = "layerlab-recording"
RECORDING_VERSION = 1
#: Set to ``1`` to make live runs of :func:`attempt_or_replay` write their recording.
RECORD_VARIABLE = "LAYERLAB_RECORD"


class RecordingMissing(LayerLabError):
    """Nothing can build here, and there is no recording to replay."""


@dataclass
class Recording:
    """A loaded (or freshly written) recording: its metadata and each variant's outcome.

    An outcome is the variant's :class:`~helpers.analysis.Analysis`, or the
    :class:`~helpers.errors.BuildFailed` that stopped its build: a Dockerfile
    that fails on some release is a result worth replaying too.
    """

    path: Path
    metadata: dict
    outcomes: dict[str, Analysis | BuildFailed]

    @property
    def analyses(self) -> dict[str, Analysis]:
        """The variants that built."""
        return {name: o for name, o in self.outcomes.items() if isinstance(o, Analysis)}

    def describe(self) -> str:
        """Where and when the recording was made, in one sentence."""
        m = self.metadata
        bases = ", ".join(f"{name} ({info['id'][:19]})" for name, info in m.get("base_images", {}).items())
        return (
            f"recorded on {m['recorded_on']} with {m['engine']} {m['engine_version']} ({m['platform']})"
            + (f", from {bases}" if bases else "")
        )


# ---------------------------------------------------------------- writing


def _image_to_json(image: Image) -> dict:
    return {
        "source": image.source,
        "format": image.format,
        "tags": image.tags,
        "config": image.config,
        "layers": [
            {
                "digest": layer.digest,
                "media_type": layer.media_type,
                "blob_bytes": layer.blob_bytes,
                "entries": [list(entry) for entry in layer.entries],
            }
            for layer in image.layers
        ],
    }


def _failure_to_json(failure: BuildFailed) -> dict:
    return {
        "message": failure.message, "hint": failure.hint, "log_tail": failure.log_tail,
        "step": failure.step, "instruction": failure.instruction, "reason": failure.reason,
    }


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
        os.replace(handle.name, path)
    except BaseException:
        Path(handle.name).unlink(missing_ok=True)
        raise


def _metadata(client, dockerfiles: Mapping[str, str]) -> dict:
    import docker.errors

    from .engine import base_images, offline

    version = client.version()
    bases = {}
    for text in dockerfiles.values():
        for name in base_images(text):
            try:
                image = client.images.get(name)
            except docker.errors.ImageNotFound:
                continue
            bases[name] = {"id": image.id, "repo_digests": image.attrs.get("RepoDigests") or []}
    return {
        "engine": "Docker Engine",
        "engine_version": version.get("Version", "unknown"),
        "api_version": version.get("ApiVersion", "unknown"),
        "platform": f"{version.get('Os', 'unknown')}/{version.get('Arch', 'unknown')}",
        "base_images": bases,
        "recorded_on": datetime.date.today().isoformat(),
        "offline": offline(),
        "dockerfiles": dict(dockerfiles),
    }


def _embedded_metadata(dockerfiles: Mapping[str, str]) -> dict:
    import platform
    import subprocess

    from .embedded import require_tools
    from .engine import base_images, offline

    tools = require_tools()
    versions = {tool: subprocess.run([path, "--version"], capture_output=True, text=True).stdout.split("\n")[0].strip()
                for tool, path in tools.items() if tool != "proot"}
    return {
        "engine": "embedded builder",
        "engine_version": "; ".join(versions.values()),
        "api_version": "none",
        "platform": f"linux/{ {'x86_64': 'amd64', 'aarch64': 'arm64'}.get(platform.machine(), platform.machine())}",
        "base_images": {name: {"id": "see the image's first layer", "repo_digests": []}
                        for text in dockerfiles.values() for name in base_images(text)},
        "recorded_on": datetime.date.today().isoformat(),
        "offline": offline(),
        "dockerfiles": dict(dockerfiles),
    }


def record(
    variants: Mapping[str, str | os.PathLike],
    path: str | os.PathLike,
    context: str | os.PathLike | None = None,
    *,
    progress=None,
    client=None,
    engine: str | None = None,
) -> Recording:
    """Build ``variants`` for real, then write their outcomes' recording to ``path``.

    A variant whose build fails is recorded as that failure (its step, instruction,
    reason and log tail), so a release matrix replays as it ran.
    """
    from .engine import _dockerfile_text, attempt_builds, docker_client, select_engine

    engine = "docker" if client is not None and engine is None else select_engine(engine)
    texts = {name: _dockerfile_text(dockerfile)[0] for name, dockerfile in variants.items()}
    if engine == "docker":
        client = client or docker_client()
    outcomes = attempt_builds(variants, context, progress=progress, client=client, engine=engine)
    metadata = _metadata(client, texts) if engine == "docker" else _embedded_metadata(texts)
    document = {
        "format": RECORDING_FORMAT,
        "version": RECORDING_VERSION,
        "metadata": metadata,
        "order": list(outcomes),
        "images": {n: _image_to_json(o.image) for n, o in outcomes.items() if isinstance(o, Analysis)},
        "failures": {n: _failure_to_json(o) for n, o in outcomes.items() if isinstance(o, BuildFailed)},
    }
    path = Path(path)
    _write_atomically(path, document)
    return Recording(path, metadata, outcomes)


# ---------------------------------------------------------------- reading


def _image_from_json(data: dict) -> Image:
    layers = []
    config = data.get("config") or {}
    steps, per_layer = align_history(config, len(data["layers"]))
    for index, layer in enumerate(data["layers"]):
        step, created_by = per_layer[index]
        entries = [Entry(*entry) for entry in layer["entries"]]
        layers.append(Layer(index, entries, layer["digest"], layer["media_type"], created_by, step,
                            layer.get("blob_bytes", 0)))
    return Image(data["source"], data["format"], layers, steps, config, list(data.get("tags") or []))


def load_recording(path: str | os.PathLike) -> Recording:
    """Read a recording and analyse its images again, exactly as the live run did."""
    path = Path(path)
    try:
        with gzip.open(path, "rb") as stream:
            document = json.loads(stream.read())
    except FileNotFoundError as exc:
        raise RecordingMissing(
            f"there is no recording at {path}", "record one with `python -m helpers record`"
        ) from exc
    except (OSError, EOFError, ValueError) as exc:
        raise ArchiveError(f"the recording {path} is unreadable: {exc}", "record it again") from exc
    if document.get("format") != RECORDING_FORMAT or document.get("version") != RECORDING_VERSION:
        raise ArchiveError(f"{path} is not a version-{RECORDING_VERSION} recording", "record it again")
    outcomes: dict[str, Analysis | BuildFailed] = {}
    for name in document.get("order") or list(document["images"]):
        if name in document["images"]:
            outcomes[name] = analyze(_image_from_json(document["images"][name]))
        else:
            failure = document["failures"][name]
            outcomes[name] = BuildFailed(
                failure["message"], failure["hint"], failure["log_tail"],
                step=failure["step"], instruction=failure["instruction"], reason=failure["reason"],
            )
    return Recording(path, document["metadata"], outcomes)


def live_reason(needs_internet: bool = True) -> str | None:
    """Why builds cannot run live here (no engine; offline when they need the internet), or ``None``."""
    return _live_reason(needs_internet)[0]


def _live_reason(needs_internet: bool):
    """``(None, engine)`` when builds can run live here (Docker, else embedded), else ``(why not, None)``."""
    from .engine import offline, select_engine
    from .errors import EngineUnavailable

    if needs_internet and offline():
        return "offline mode (LAYERLAB_OFFLINE=1) is on and these builds need the internet", None
    try:
        return None, select_engine()
    except EngineUnavailable as exc:
        return exc.message, None


def attempt_or_replay(
    variants: Mapping[str, str | os.PathLike],
    recording: str | os.PathLike,
    context: str | os.PathLike | None = None,
    *,
    needs_internet: bool = True,
    progress=None,
) -> dict[str, Analysis | BuildFailed]:
    """Each variant's outcome: built live where possible, else replayed from ``recording`` (and it says so).

    Live needs a reachable engine and, when ``needs_internet``, not offline mode;
    with ``LAYERLAB_RECORD=1`` a live run also (re)writes ``recording``.
    A recording replays only for the very Dockerfiles it was made from; when
    nothing can build and no such recording exists, :class:`RecordingMissing`
    says what is needed.
    """
    from .engine import _dockerfile_text, attempt_builds

    reason, engine = _live_reason(needs_internet)
    if reason is None:
        if os.environ.get(RECORD_VARIABLE, "").strip() == "1":
            made = record(variants, recording, context, progress=progress, engine=engine)
            print(f"Recorded {made.path.name}, {made.describe()}.")
            return made.outcomes
        return attempt_builds(variants, context, progress=progress, engine=engine)
    path = Path(recording)
    how = (
        "run this with a Docker Engine" + (" and the internet" if needs_internet else "")
        + f", or record these builds where you can: python -m helpers record {path} -v NAME=DOCKERFILE …"
    )
    if not path.exists():
        raise RecordingMissing(f"cannot build here ({reason}), and there is no recording at {path}", how)
    replayed = load_recording(path)
    wanted = {name: _dockerfile_text(dockerfile)[0] for name, dockerfile in variants.items()}
    recorded = replayed.metadata.get("dockerfiles", {})
    changed = sorted(name for name, text in wanted.items() if recorded.get(name) != text)
    if changed:
        raise RecordingMissing(
            f"cannot build here ({reason}), and {path.name} was recorded from other Dockerfiles "
            f"for {', '.join(changed)}",
            how,
        )
    print(f"Replaying {path.name}, {replayed.describe()}: {reason}.")
    return {name: replayed.outcomes[name] for name in wanted}


def build_or_replay(
    variants: Mapping[str, str | os.PathLike],
    recording: str | os.PathLike,
    context: str | os.PathLike | None = None,
    *,
    needs_internet: bool = True,
    progress=None,
) -> dict[str, Analysis]:
    """Like :func:`attempt_or_replay`, for variants that must all build: a failure raises it."""
    from .engine import require_built

    return require_built(attempt_or_replay(variants, recording, context, needs_internet=needs_internet,
                                           progress=progress))
