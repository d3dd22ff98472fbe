"""One lane of builds, in a process of its own: what :mod:`.builds_at_once` starts for each lane.

Its job comes pickled on stdin, from the process that started it (and only from it):
the variants, the context, the options and the settings.  It builds the lane's
variants one after the other with the builder the settings name, and hands back
their outcomes as a recording (JSON, which the starter loads as it loads any
recording: checked, and bounded by its limits), or an error that stopped it as one
JSON document: never a pickle, since a ``RUN`` step can write where this process can.
Nothing is printed.  An interrupt (``SIGINT``, which is also what it gets if its
starter dies) stops the build as a notebook's stop button does, and it ends with
status 130.
"""

from __future__ import annotations

import json
import pickle
import sys

from ..building.selection import select_builder
from ..ground.dockerfile import dockerfile_text
from ..ground.errors import LayerLabError
from .builds import attempt_builds
from .recording import RecordingWriter

#: What the lane's hand-over recording says of itself: it is read once, by its starter, and never kept.
HANDOVER_METADATA = {"recorded_on": "", "engine_version": "", "platform": ""}


def run_lane(job: dict) -> None:
    """Build ``job["variants"]`` one by one and write their outcomes to the recording ``job["recording"]``."""
    settings = job["settings"]
    builder = select_builder(settings=settings)
    outcomes = attempt_builds(job["variants"], job["context"], builder=builder, network=job["network"],
                              measure_pull=job["measure_pull"], settings=settings)
    writer = RecordingWriter({**HANDOVER_METADATA, "engine": builder.name})
    for name, outcome in outcomes.items():
        writer.add_build(name, dockerfile_text(job["variants"][name])[0], None, outcome)
    writer.write(job["recording"])


def main() -> int:
    job = pickle.loads(sys.stdin.buffer.read())
    try:
        run_lane(job)
    except LayerLabError as exc:
        error = {"kind": type(exc).__name__, "message": exc.message, "hint": exc.hint}
        with open(job["error"], "x") as handle:  # a new file in its starter's private folder, never one found there
            handle.write(json.dumps(error))
        return 2
    except KeyboardInterrupt:
        return 130
    return 0


if __name__ == "__main__":
    sys.exit(main())
