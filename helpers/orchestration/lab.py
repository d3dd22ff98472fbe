"""Where a notebook's figures come from: builds run here, live, or the replay of a recording of real ones.

A :class:`Lab` is made once at the top of a notebook with what the notebook
needs (an engine, the internet, Debian's package registry, base images).
Where all of it is at hand it builds and reads for real, and with
``LAYERLAB_RECORD=1`` it also writes everything it measured to its recording.
Where something is missing it replays that recording instead, and says so;
where there is no recording either, it stops with one line saying what is
needed.  Either way the notebook's code is the same, and so are its figures.
"""

from __future__ import annotations

import datetime
import os
import tempfile
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path

from ..building.builder import Builder
from ..building.digests import context_digest as digest_of_context
from ..building.selection import select_builder
from ..ground.dockerfile import dockerfile_text
from ..ground.errors import BuildFailed, LayerLabError
from ..ground.settings import BUILDER_LABELS, Settings
from ..ground.steps import Progress
from ..measuring.analysis import Analysis, analyze
from .builds import attempt_builds, builder_for, require_built
from .builds_at_once import attempt_at_once, plan
from .needs import live_blocker
from .recording import (
    Recording,
    RecordingMissing,
    RecordingWriter,
    describe,
    load_recording,
)
from .wheels import Wheels, download, wheel_contents, wheels_context

#: The largest build context :func:`context_digest` hashes (a recording keeps a digest of each context).
MAX_CONTEXT_BYTES = 256 << 20


def context_digest(context: str | os.PathLike | None) -> str | None:
    """A digest of a build context's files (their paths, modes and bytes), or ``None`` for no context.

    A recording keeps it beside each Dockerfile, so that a replay for a changed
    context (an edited source file) is refused instead of showing stale figures.
    Links are hashed as links, never followed, and what its ``.dockerignore`` leaves out is left out.
    """
    if context is None:
        return None
    try:
        return "sha256:" + digest_of_context(Path(context), MAX_CONTEXT_BYTES)
    except PermissionError as exc:
        raise LayerLabError(f"cannot read the build context: {exc.filename}: permission denied",
                            "make it readable, or move it out of the context") from exc


def recording_metadata(builder: Builder, offline: bool) -> dict:
    """Which builder (and version), platform, date and mode (``offline`` or not) a recording is made with."""
    return {**builder.metadata(), "recorded_on": datetime.date.today().isoformat(), "offline": offline}


class Lab:
    """A notebook's builds and reads: live where the machine has what they need, else replayed.

    ``recording`` is the notebook's recording (relative paths are relative to
    the working directory, which is the notebook's folder when it runs);
    ``needs`` and ``images`` are the notebook's needs (see :mod:`helpers.orchestration.needs`).
    ``settings`` decide the engine, offline mode, whether to record (``record``), and the limits;
    the notebooks' :class:`helpers.edges.notebook.Lab` reads them from the environment.
    """

    def __init__(self, recording: str | os.PathLike, *, needs: Iterable[str] = ("engine",),
                 images: Iterable[str] = (), settings: Settings) -> None:
        self.path = Path(recording)
        self.needs = list(needs)
        self.settings = settings
        self.reason = live_blocker(self.needs, list(images), settings=settings)
        self._writer: RecordingWriter | None = None
        self._replay: Recording | None = None
        self._dockerfiles: dict[str, str] = {}
        self.builder: Builder | None = None
        if self.reason is None:
            self.builder = select_builder(settings=settings)
            if settings.record:
                self._writer = RecordingWriter(recording_metadata(self.builder, settings.offline))
            return
        if not self.path.exists():
            raise RecordingMissing(f"cannot build here ({self.reason}), and there is no recording at {self.path}",
                                   self._how())
        self._replay = load_recording(self.path, settings.limits)

    # ---------------------------------------------------------- saying what it does
    @property
    def live(self) -> bool:
        """True when builds run here; False when they are replayed."""
        return self._replay is None

    def status(self) -> str:
        """One line: building live with which engine (and recording or not), or replaying which recording and why."""
        if self._replay is None:
            assert self.builder is not None
            recording = f", and recording them to {self.path.name}" if self._writer is not None else ""
            return f"Building live with {self.builder.label}{recording}."
        return f"Replaying {self.path.name}, {self._replay.describe()}: {self.reason}."

    def note(self) -> str | None:
        """What a notebook shows after its builds: that they were replayed and why, or that they were recorded."""
        if not self.live:
            return self.status()
        if self._writer is not None:
            return f"Recorded {self.path.name}, {describe(self.metadata())}."
        return None

    def __repr__(self) -> str:
        return self.status()

    def _how(self) -> str:
        wanted = {"internet": "the internet", "packages": "Debian's package registry",
                  "docker": "a Docker Engine"}
        extra = [wanted[need] for need in self.needs if need in wanted]
        return ("run this where there is an engine" + "".join(f" and {w}" for w in extra)
                + f", or record these builds where you can (LAYERLAB_RECORD=1), which writes {self.path}")

    def metadata(self) -> dict:
        """Where and when the figures were measured: this run's engine, or the recording's."""
        if self._replay is not None:
            return self._replay.metadata
        if self._writer is not None:
            return self._writer.document["metadata"]
        assert self.builder is not None
        return recording_metadata(self.builder, self.settings.offline)

    def provenance(self, analyses: Mapping[str, Analysis]):
        """One row per image: what built it, the engine, the date, and each base it came from (made locally or pulled).

        ``built by`` names the builder (BuildKit or the classic builder, say); empty for an image only read.
        """
        import pandas as pd

        meta = self.metadata()
        rows = []
        for name, analysis in analyses.items():
            for base in analysis.image.bases or [{}]:
                rows.append({
                    "image": name, "base": base.get("image", ""), "base id": base.get("id", "")[:19],
                    "made": base.get("made", ""), "from": base.get("from") or "",
                    "built by": BUILDER_LABELS.get(analysis.image.built_by or "", ""),
                    "engine": f"{meta['engine']} {meta['engine_version']}", "measured on": meta["recorded_on"],
                })
        return pd.DataFrame(rows).set_index("image")

    # ---------------------------------------------------------- reading and building
    def _save(self) -> None:
        if self._writer is not None:
            self._writer.write(self.path)

    def read(self, images: Iterable[str], *, measure_pull: bool = False) -> dict[str, Analysis]:
        """The analyses of images already at hand (base images, say), by name: read here, or replayed."""
        names = list(images)
        if self._replay is not None:
            missing = [name for name in names if name not in self._replay.reads]
            if missing:
                raise RecordingMissing(f"cannot read images here ({self.reason}), and {self.path.name} has no "
                                       f"recording of {', '.join(missing)}", self._how())
            return {name: self._replay.reads[name] for name in names}
        builder = self.builder
        assert builder is not None
        read = {name: analyze(builder.read_base(name, measure_pull)) for name in names}
        if self._writer is not None:
            for name, analysis in read.items():
                self._writer.add_read(name, analysis)
            self._save()
        return read

    def measure(self, name: str, key: str, function: Callable[[], object]) -> object:
        """Something measured live (``function()``, a JSON value), or its recorded value when replaying.

        ``key`` says exactly what is asked (a script, a set of pins): a recording
        replays a measurement only for the very same key.
        """
        if self._replay is not None:
            recorded = self._replay.measurements.get(name)
            if recorded is None or recorded[0] != key:
                raise RecordingMissing(f"cannot measure here ({self.reason}), and {self.path.name} has no recording "
                                       f"of {name!r} as asked now", self._how())
            return recorded[1]
        value = function()
        if self._writer is not None:
            self._writer.add_measurement(name, key, value)
            self._save()
        return value

    def wheel_contents(self, wheels: Wheels) -> list[dict]:
        """What each of ``wheels`` puts on disk (:func:`.wheels.wheel_contents`): read here, or replayed."""

        def measure_here() -> list[dict]:
            with tempfile.TemporaryDirectory(prefix="layerlab-wheels-") as folder:
                return [wheel_contents(path) for path in download(wheels, Path(folder))]

        value = self.measure(f"the wheels of {wheels.pins[0]}", wheels.key, measure_here)
        if not isinstance(value, list) or not all(isinstance(row, dict) for row in value):
            raise RecordingMissing(f"{self.path.name} holds a malformed recording of {wheels.key}", self._how())
        return value

    def attempt(
        self, variants: Mapping[str, str | os.PathLike], context: str | os.PathLike | Wheels | None = None, *,
        network: bool | None = None, measure_pull: bool = False, progress: Progress | None = None,
    ) -> dict[str, Analysis | BuildFailed]:
        """Each variant's outcome (its analysis, or the failure that stopped its build): built here, or replayed.

        ``network=True`` is for builds that run ``apt-get`` (see
        :func:`helpers.building.engine.build`); ``measure_pull`` also measures what a
        pull of each image moves.  Variants that share no step are built at once
        (``settings.builds_at_once``, see :mod:`.builds_at_once`).  A recording replays only for the very
        Dockerfiles and build contexts it was made from.
        """
        texts = {name: dockerfile_text(dockerfile)[0] for name, dockerfile in variants.items()}
        digest = context.digest if isinstance(context, Wheels) else context_digest(context)
        for name, text in texts.items():
            if self._dockerfiles.setdefault(name, text) != text:
                raise LayerLabError(f"the variant name {name!r} is used twice, for two Dockerfiles",
                                    "give each variant of a notebook its own name")
        if self._replay is not None:
            return self._replayed(texts, digest)
        if isinstance(context, Wheels):
            with wheels_context(context) as folder:
                outcomes = self._attempt_live(variants, folder, network, measure_pull, progress)
        else:
            outcomes = self._attempt_live(variants, context, network, measure_pull, progress)
        if self._writer is not None:
            for name, outcome in outcomes.items():
                self._writer.add_build(name, texts[name], digest, outcome)
            self._save()
        return outcomes

    def _attempt_live(self, variants: Mapping[str, str | os.PathLike], context: str | os.PathLike | None,
                      network: bool | None, measure_pull: bool,
                      progress: Progress | None) -> dict[str, Analysis | BuildFailed]:
        """Build here: the variants that share no step at once (:mod:`.builds_at_once`), else one by one."""
        assert self.builder is not None
        planned = plan(variants, self.builder, progress, self.settings)
        if planned is not None:
            return attempt_at_once(variants, context, planned, progress=progress, builder=self.builder,
                                   network=network, measure_pull=measure_pull, settings=self.settings)
        return attempt_builds(variants, context, progress=progress, builder=self.builder, network=network,
                              measure_pull=measure_pull, settings=self.settings)

    def _replayed(self, texts: dict[str, str], digest: str | None) -> dict[str, Analysis | BuildFailed]:
        assert self._replay is not None
        recorded = self._replay
        changed = sorted(name for name, text in texts.items()
                         if recorded.dockerfiles.get(name) != text or name not in recorded.outcomes)
        if changed:
            raise RecordingMissing(
                f"cannot build here ({self.reason}), and {self.path.name} was recorded from other Dockerfiles "
                f"for {', '.join(changed)}", self._how())
        moved = sorted(name for name in texts if recorded.contexts.get(name) != digest)
        if moved:
            raise RecordingMissing(
                f"cannot build here ({self.reason}), and {self.path.name} was recorded from another build "
                f"context for {', '.join(moved)}", self._how())
        return {name: recorded.outcomes[name] for name in texts}

    def build(self, variants: Mapping[str, str | os.PathLike], context: str | os.PathLike | Wheels | None = None,
              **options) -> dict[str, Analysis]:
        """Like :meth:`attempt`, for variants that must all build: a failure raises it."""
        return require_built(self.attempt(variants, context, **options))


# ---------------------------------------------------------------- one-shot forms


def needs_for(needs_internet: bool) -> list[str]:
    return ["engine", "internet"] if needs_internet else ["engine"]


def live_reason(needs_internet: bool = True, *, settings: Settings) -> str | None:
    """Why builds cannot run live here (no engine; offline when they need the internet), or ``None``."""
    return live_blocker(needs_for(needs_internet), settings=settings)


def check_writable(path: Path) -> None:
    """A clear error unless a recording can be written at ``path``: a file in an existing or makeable folder."""
    try:
        if path.is_dir():
            raise LayerLabError(f"{path} is a folder, not a recording file", "name a file, e.g. NAME.json.gz")
        folder = path.parent
        for above in [folder, *folder.parents]:
            if above.exists():
                if not above.is_dir():
                    raise LayerLabError(f"cannot write {path}: {above} is a file, not a folder",
                                        "name a path under a folder")
                break
        if len(path.name.encode()) > 200:  # the writer adds a prefix and a suffix to make its temporary file
            raise LayerLabError(f"the recording's name is {len(path.name.encode())} bytes, too long for a file here",
                                "give it a shorter name")
    except OSError as exc:
        raise LayerLabError(f"cannot write the recording {path}: {exc.strerror}", "name another path") from exc


def record(
    variants: Mapping[str, str | os.PathLike],
    path: str | os.PathLike,
    context: str | os.PathLike | None = None,
    *,
    progress: Progress | None = None,
    client=None,
    engine: str | None = None,
    network: bool | None = None,
    settings: Settings,
) -> Recording:
    """Build ``variants`` for real, then write their outcomes' recording to ``path``.

    ``path`` is checked first (a file can be written there), so no build is run for a recording
    that cannot be saved.
    """
    check_writable(Path(path))
    builder = builder_for(client, engine, settings=settings)
    texts = {name: dockerfile_text(dockerfile)[0] for name, dockerfile in variants.items()}
    outcomes = attempt_builds(variants, context, progress=progress, builder=builder, network=network,
                              settings=settings)
    writer = RecordingWriter(recording_metadata(builder, settings.offline))
    digest = context_digest(context)
    for name, outcome in outcomes.items():
        writer.add_build(name, texts[name], digest, outcome)
    written = writer.write(path)
    return Recording(written, writer.document["metadata"], outcomes, {}, texts, dict.fromkeys(texts, digest))
