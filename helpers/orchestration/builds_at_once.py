"""Several builds of one call at the same time: each lane (:mod:`.lanes`) in a process of its own.

A notebook cell that builds three Dockerfiles which share no step waits for the
slowest, not for the sum: on two cores, ``apt-get`` fetching for one build
while another unpacks.  At most ``settings.builds_at_once`` lanes run at once
(``LAYERLAB_BUILDS_AT_ONCE``, default 2), each a :mod:`.build_lane` process that
builds its variants one by one, exactly as :func:`.builds.attempt_builds` does here,
and hands back their outcomes as a recording, which is loaded as any recording is
(checked, bounded) and analysed here.  What a build measures is the same either way:
the hand-over recording keeps every entry a read gives.

Processes, not threads: a ``RUN`` step's processes are tied to the thread that
started them, and an interrupt reaches only the main thread.  So:

* each lane's process is tied to this one (``setpriv --pdeathsig SIGINT``): if this
  process dies, each lane stops its build as an interrupt stops it;
* an interrupt (a notebook's stop button, Ctrl-C) or an error here is passed on to
  every running lane as ``SIGINT``, and each is waited for, so that it removes what
  its build made, before the interrupt goes on; a second interrupt kills them at once;
* each lane runs in a process group of its own, so a terminal's Ctrl-C reaches it
  once, through this process, never twice;
* progress shows each image's line in the order the variants were given, as soon as
  it and every variant before it are done: a notebook's output is the same as one
  by one.  Steps are not shown as they land (a progress that wants them builds one by one).

The lanes' hand-over files live in a private folder made for the call; only the
files this call's lanes were told to write are removed, then the folder.
"""

from __future__ import annotations

import json
import os
import pickle
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Mapping
from pathlib import Path

from ..building.builder import Builder
from ..building.docker_builder import DockerBuilder
from ..building.embedded import EmbeddedBuilder
from ..building.step_process import tied
from ..ground import errors
from ..ground.errors import BuildFailed, LayerLabError
from ..ground.limits import Limits
from ..ground.settings import BUILDS_AT_ONCE_VARIABLE, Settings
from ..ground.steps import Progress
from ..measuring.analysis import Analysis
from .lanes import lanes
from .recording import load_recording

#: How long an interrupted lane gets to stop its build and remove what it made before it is killed.
STOP_GRACE_SECONDS = 60.0
#: How often the running lanes are looked at.
POLL_SECONDS = 0.05
#: The end of a lane's error output kept for a message, when it ends without an outcome.
ERROR_TAIL_BYTES = 2_000

_ROOT = str(Path(__file__).resolve().parents[2])  # the folder holding this package, first on the lanes' path
_LANE_CODE = (f"import sys; sys.path[0] = {_ROOT!r}; "  # never the working folder, where a helpers/ might lie
              "from helpers.orchestration.build_lane import main; sys.exit(main())")


def lane_settings(builder: Builder, settings: Settings) -> Settings | None:
    """The settings a lane's process builds with to build as ``builder`` does; ``None`` if none can (a builder
    made here, such as a test's, is built with one by one)."""
    if type(builder) is EmbeddedBuilder:
        return settings._replace(engine="embedded", store=builder.root)
    if type(builder) is DockerBuilder:  # the engine DOCKER_HOST names, as the notebooks' builder uses
        return settings._replace(engine="docker")
    return None


def wants_steps(progress: Progress | None) -> bool:
    """Whether ``progress`` shows each step as it lands (a plain callable is taken to)."""
    return progress is not None and getattr(progress, "steps", True) is not False


def plan(variants: Mapping[str, str | os.PathLike], builder: Builder, progress: Progress | None,
         settings: Settings) -> list[list[str]] | None:
    """The lanes to build ``variants`` in at once, or ``None`` where they are built one by one here."""
    if settings.builds_at_once < 2 or len(variants) < 2 or wants_steps(progress) \
            or lane_settings(builder, settings) is None:
        return None
    planned = lanes(variants)
    return planned if len(planned) > 1 else None


class _Lane:
    """One lane's process and the files it was told to write."""

    def __init__(self, index: int, names: list[str], folder: Path) -> None:
        self.names = names
        self.recording = folder / f"lane-{index}.json.gz"
        self.error = folder / f"lane-{index}.error.json"
        self.log = folder / f"lane-{index}.stderr"
        self.process: subprocess.Popen | None = None

    def start(self, job: dict) -> None:
        with open(self.log, "xb") as log:  # made here, in the private folder: never a file found there
            self.process = subprocess.Popen(tied([sys.executable, "-c", _LANE_CODE], on_death="SIGINT"),
                                            stdin=subprocess.PIPE, stdout=subprocess.DEVNULL, stderr=log,
                                            process_group=0)
        try:
            self.process.stdin.write(pickle.dumps({**job, "recording": str(self.recording),  # type: ignore[union-attr]
                                                   "error": str(self.error)}))
            self.process.stdin.close()  # type: ignore[union-attr]
        except BrokenPipeError:
            pass  # it ended at once; what it said is in its log

    def outcomes(self, limits: Limits) -> dict[str, Analysis | BuildFailed]:
        """What the lane built, loaded from its recording; its error raised, if one stopped it."""
        assert self.process is not None
        status = self.process.returncode
        if status == 0 and self.recording.is_file():
            return load_recording(self.recording, limits).outcomes
        if status == 2 and self.error.is_file():
            raise _error_from(json.loads(self.error.read_text()))
        if status == 130:
            raise KeyboardInterrupt
        with open(self.log, "rb") as log:
            log.seek(max(0, log.seek(0, os.SEEK_END) - ERROR_TAIL_BYTES))
            tail = " ".join(log.read().decode(errors="replace").split()[-60:])
        raise LayerLabError(
            f"the build of {', '.join(self.names)} ended without an outcome (exit status {status})"
            + (f": {tail}" if tail else ""),
            f"run it again; with {BUILDS_AT_ONCE_VARIABLE}=1 builds run one by one, in this process")

    def remove_files(self) -> None:
        for path in (self.recording, self.error, self.log):
            path.unlink(missing_ok=True)
        for partial in self.recording.parent.glob(f".{self.recording.name}.*.partial"):  # a lane killed mid-write
            partial.unlink(missing_ok=True)


def _error_from(data: dict) -> LayerLabError:
    """The error a lane stopped on, as its own class where that is one of :mod:`helpers.ground.errors`'."""
    kind = getattr(errors, str(data.get("kind")), None)
    message, hint = str(data.get("message")), data.get("hint")
    if isinstance(kind, type) and issubclass(kind, LayerLabError) and kind is not BuildFailed:
        return kind(message, None if hint is None else str(hint))
    return LayerLabError(message, None if hint is None else str(hint))


def _stop(running: list[_Lane]) -> None:
    """Interrupt every running lane and wait for each to stop; on a second interrupt, kill them all at once."""
    for lane in running:
        if lane.process is not None and lane.process.poll() is None:
            lane.process.send_signal(signal.SIGINT)
    try:
        for lane in running:
            if lane.process is not None:
                try:
                    lane.process.wait(timeout=STOP_GRACE_SECONDS)
                except subprocess.TimeoutExpired:
                    lane.process.kill()
                    lane.process.wait()
    except KeyboardInterrupt:
        for lane in running:
            if lane.process is not None and lane.process.poll() is None:
                lane.process.kill()
        for lane in running:
            if lane.process is not None:
                lane.process.wait()
        raise


def attempt_at_once(
    variants: Mapping[str, str | os.PathLike], context: str | os.PathLike | None, planned: list[list[str]], *,
    progress: Progress | None, builder: Builder, network: bool | None, measure_pull: bool, settings: Settings,
) -> dict[str, Analysis | BuildFailed]:
    """Each variant's outcome, as :func:`.builds.attempt_builds` gives it, the ``planned`` lanes built at once."""
    child = lane_settings(builder, settings)
    assert child is not None
    order = list(variants)
    outcomes: dict[str, Analysis | BuildFailed] = {}
    shown = 0
    folder = Path(tempfile.mkdtemp(prefix="layerlab-lanes-"))
    every = [_Lane(index, names, folder) for index, names in enumerate(planned)]
    waiting, running = list(every), []
    try:
        while waiting or running:
            while waiting and len(running) < settings.builds_at_once:
                lane = waiting.pop(0)
                lane.start({"variants": {name: variants[name] for name in lane.names}, "context": context,
                            "network": network, "measure_pull": measure_pull, "settings": child})
                running.append(lane)
            ended = [lane for lane in running if lane.process is not None and lane.process.poll() is not None]
            if not ended:
                time.sleep(POLL_SECONDS)
                continue
            for lane in ended:
                running.remove(lane)
                outcomes.update(lane.outcomes(settings.limits))
            while shown < len(order) and order[shown] in outcomes:
                outcome = outcomes[order[shown]]
                if isinstance(outcome, Analysis) and progress is not None and hasattr(progress, "done"):
                    progress.done(order[shown], outcome.image.built_by, outcome)
                shown += 1
    except BaseException:
        _stop(running)
        raise
    finally:
        for lane in every:
            if lane.process is None or lane.process.poll() is not None:
                lane.remove_files()
        try:
            folder.rmdir()
        except OSError:
            pass  # a lane that could not be stopped still has its files here; never removed by listing
    return {name: outcomes[name] for name in order}
