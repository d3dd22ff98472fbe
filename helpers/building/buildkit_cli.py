"""Build with the Docker Engine's BuildKit, through the Docker CLI: what ``docker build`` runs for learners today.

The Docker SDK's build API is the classic builder, deprecated since Engine 23,
which refuses ``RUN --mount`` (and ``--network``, ``--security``) in a
Dockerfile.  BuildKit reads them; the Docker CLI is its maintained client, so
a Dockerfile is built with ``docker buildx build --load`` where the buildx plugin is installed, else
with a CLI older than 23 and ``DOCKER_BUILDKIT=1 docker build`` (BuildKit is
built into Engine 18.09 and later; from 23 on, the CLI needs buildx for it):

``docker [buildx] build [--load] --progress=plain --network=none|default --iidfile FILE -t TAG -f - CONTEXT``

with the Dockerfile on standard input.  The CLI sends the context, with its
``.dockerignore`` applied, as it does for any learner.  Offline mode still
pulls nothing: every base must be in the engine first, and the step network is
``none`` unless the build asks for it.  Each step is reported once, as
BuildKit's plain progress names it (``#7 [2/3] RUN …``); the image is read
afterwards exactly as the classic builder's images are.
"""

from __future__ import annotations

import functools
import os
import re
import subprocess
import tempfile
import threading
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from ..ground.dockerfile import Dockerfile
from ..ground.dockerignore import read_dockerignore_text
from ..ground.errors import LayerLabError
from ..ground.run_flags import uses_buildkit_flags
from ..ground.steps import BuildStep, Progress
from .engine import build_failure
from .registry import fetch_failed
from .step_process import tied

#: The longest a BuildKit build may take.
BUILD_TIMEOUT = 3600
#: ``#7 [stage-1 2/3] RUN …`` or ``#7 [2/3] RUN …``: a step of the Dockerfile, as plain progress first names it.
_STEP = re.compile(r"^#(\d+) \[(?:([^\]\s]+) )?(\d+)/(\d+)\] (.+)$")
#: ``#7 0.215 text``: a line the step's command wrote, after the seconds since it started.
_OUTPUT = re.compile(r"^#(\d+) \d+\.\d+ ?(.*)$")
#: ``#7 ERROR: why``: the step that failed, in BuildKit's words.
_VERTEX_ERROR = re.compile(r"^#(\d+) ERROR:? (.+)$")
#: ``ERROR: failed to solve: …`` (or ``error: …``): the build's failure, not a step's.
_ERROR = re.compile(r"^(?:ERROR|error):? (.+)$")
_LOG_TAIL = 12


def needs_buildkit(dockerfile: Dockerfile) -> bool:
    """Whether the classic builder would refuse ``dockerfile``: a ``RUN`` with flags only BuildKit reads."""
    return any(item["instruction"] == "RUN" and uses_buildkit_flags(item["value"])
               for item in dockerfile.instructions)


def _docker_commands(path: str) -> list[str]:
    """Every ``docker`` on ``path`` (a ``PATH``), in order (a newer CLI may shadow the distribution's)."""
    found = []
    for folder in path.split(os.pathsep):
        candidate = os.path.join(folder or ".", "docker")
        if os.path.isfile(candidate) and os.access(candidate, os.X_OK) and candidate not in found:
            found.append(candidate)
    return found


def _answers(command: list[str]) -> str | None:
    try:
        done = subprocess.run(command, capture_output=True, text=True, timeout=30)
    except (OSError, subprocess.TimeoutExpired):
        return None
    return done.stdout.strip() if done.returncode == 0 else None


def buildkit_command() -> tuple[str, ...]:
    """How this machine's Docker CLI builds with BuildKit: ``docker buildx build --load``, or ``docker build``.

    The first ``docker`` on ``PATH`` with the buildx plugin is used; else the first older
    than 23, whose ``docker build`` has BuildKit built in (``DOCKER_BUILDKIT=1``).  From 23
    on, the CLI needs buildx for BuildKit.  Else a clear error naming what to install.
    The answer is kept for each ``PATH`` and ``DOCKER_CONFIG`` (where the CLI finds its
    plugins): finding it starts the CLI up to twice per ``docker``.
    """
    return _buildkit_command(os.environ.get("PATH", ""), os.environ.get("DOCKER_CONFIG", ""))


@functools.cache
def _buildkit_command(path: str, _config: str) -> tuple[str, ...]:
    clients = _docker_commands(path)
    for docker in clients:
        if _answers([docker, "buildx", "version"]) is not None:
            return (docker, "buildx", "build", "--load")
    for docker in clients:
        version = _answers([docker, "version", "--format", "{{.Client.Version}}"]) or ""
        major = version.split(".")[0]
        if major.isdigit() and int(major) < 23:
            return (docker, "build")
    raise LayerLabError(
        "no Docker CLI here can drive BuildKit: "
        + ("there is no `docker` command" if not clients else "the buildx plugin is missing"),
        "install Docker's buildx plugin (Debian: docker-buildx), or build with the embedded builder "
        "(--engine embedded)")


def describe_client() -> str:
    """Which client builds with BuildKit here, in words (what a test run or a log says it used)."""
    try:
        command = buildkit_command()
    except LayerLabError as exc:
        return f"none: {exc.message}"
    if command[1] == "buildx":
        return f"{command[0]} buildx build ({_answers([command[0], 'buildx', 'version']) or 'version unknown'})"
    version = _answers([command[0], "version", "--format", "{{.Client.Version}}"]) or "version unknown"
    return f"DOCKER_BUILDKIT=1 {command[0]} build (CLI {version})"


def build(dockerfile: Dockerfile, context: Path | None, name: str, tag: str, progress: Progress | None,
          network: bool, host: str, describe_base: Callable[[str], str] | None = None) -> str:
    """Build ``dockerfile`` in ``context`` (or an empty folder) as ``tag`` with BuildKit; the image's ID.

    The CLI is sent to ``host`` (``DOCKER_HOST``): the engine the builder's client talks to.
    """
    with tempfile.TemporaryDirectory(prefix="layerlab-buildkit-") as scratch:
        folder = context if context is not None else Path(scratch) / "context"
        if context is None:
            folder.mkdir()
        # The CLI reads the .dockerignore itself: it would block on a FIFO, or read a link to an endless device for
        # ever. Refused here first, in one line, as the classic builder's path refuses it.
        read_dockerignore_text(folder)
        iidfile = Path(scratch) / "iid"
        command = [*buildkit_command(), "--progress=plain", f"--network={'default' if network else 'none'}",
                   "--iidfile", str(iidfile), "-t", tag, "-f", "-", str(folder)]
        environment = {**os.environ, "DOCKER_BUILDKIT": "1", "DOCKER_HOST": host}
        timed_out = threading.Event()
        # tied: the kernel kills the CLI if this process dies first; and any interrupt here kills it too (the CLI
        # itself only cancels on a first SIGINT or SIGTERM, and never while it is blocked).
        with subprocess.Popen(tied(command), stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                              env=environment, text=True, errors="replace") as process:
            assert process.stdin is not None and process.stdout is not None
            watchdog = threading.Timer(BUILD_TIMEOUT, lambda: (timed_out.set(), process.kill()))
            watchdog.daemon = True
            watchdog.start()
            try:
                try:
                    process.stdin.write(dockerfile.text)
                    process.stdin.close()
                except BrokenPipeError:
                    pass  # the CLI stopped before reading the Dockerfile: its output says why
                followed = _follow(process.stdout, name, progress, dockerfile.bases, describe_base, dockerfile)
                status = process.wait()
            except BaseException:
                process.kill()
                raise
            finally:
                watchdog.cancel()
        if timed_out.is_set():
            raise LayerLabError(f"{name}: the build ran past {BUILD_TIMEOUT // 60} minutes and was stopped",
                                "look for a step that waits for input or for the network, and build again")
        if status != 0 or not iidfile.exists():
            log = list(followed.log)
            message = followed.reason or (log[-1] if log else f"docker build exited with {status}")
            raise build_failure(name, followed.step, message, log, network,
                                [line for line in log if fetch_failed(line)])
        return iidfile.read_text().strip()


def _as_written(reference: str, bases: list[str]) -> str | None:
    """The base of ``bases`` that BuildKit names ``docker.io/library/alpine:3.20.3@sha256:…``, as written."""
    name = reference.split("@", 1)[0]
    for prefix in ("docker.io/library/", "docker.io/"):
        if name.startswith(prefix):
            name = name[len(prefix):]
            break
    for base in bases:
        if base == name or (":" not in base.rsplit("/", 1)[-1] and f"{base}:latest" == name):
            return base
    return None


@dataclass
class _Followed:
    """What a BuildKit build's plain progress said: the steps it named, and where it failed."""

    step: BuildStep | None = None  #: the step that failed (None: none of the Dockerfile's), else the last named
    log: deque[str] = field(default_factory=lambda: deque(maxlen=_LOG_TAIL))  #: that step's output, its tail
    reason: str | None = None  #: BuildKit's own words for the failure


def _stage_offsets(dockerfile: Dockerfile | None) -> tuple[dict[str, int], int]:
    """Where each stage starts in the whole Dockerfile, by the names BuildKit gives stages; and how many steps.

    BuildKit calls a stage by its ``AS`` name, else ``stage-N``, and names none in a one-stage
    build.  Its steps ``k/n`` are then step ``offset + k`` of the Dockerfile's, as the classic
    builder counts them (``ARG`` before the first ``FROM`` included).
    """
    if dockerfile is None:
        return {}, 0
    offsets: dict[str, int] = {}
    stage = -1
    for index, item in enumerate(dockerfile.instructions):
        if item["instruction"] != "FROM":
            continue
        stage += 1
        words = item["value"].split()
        offsets[f"stage-{stage}"] = index
        if len(words) >= 3 and words[-2].lower() == "as":
            offsets[words[-1].lower()] = index
        if stage == 0:
            offsets[""] = index
    return offsets, len(dockerfile.instructions)


def _follow(lines, name: str, progress: Progress | None, bases: list[str] | None = None,
            describe_base: Callable[[str], str] | None = None, dockerfile: Dockerfile | None = None) -> _Followed:
    """Report each step once, as plain progress first names it; which failed, its output's tail, and why.

    Plain progress numbers each vertex (``#7``): its name (``#7 [2/3] RUN …``), its output
    (``#7 0.215 text``), and ``#7 ERROR: why`` if it failed.  Steps may run side by side, so
    output is kept per vertex, and the failed step is the vertex that says ``ERROR``.  BuildKit
    numbers the steps of each stage (``[builder 2/3]``) and names cached steps in any order;
    each is reported with its number in the whole Dockerfile (:func:`_stage_offsets`), as the
    classic builder numbers it.  A ``FROM`` step is reported as the Dockerfile wrote it, with
    the base it used (``describe_base``), as the classic builder's steps are.
    """
    offsets, whole = _stage_offsets(dockerfile)
    steps: dict[int, BuildStep] = {}
    outputs: dict[int, deque[str]] = {}
    followed = _Followed()
    build_error: str | None = None  # the last line the CLI wrote about the build as a whole
    failed: int | None = None
    for raw in lines:
        line = raw.rstrip()
        if match := _STEP.match(line):
            vertex, stage, number, instruction = (int(match.group(1)), match.group(2), int(match.group(3)),
                                                  match.group(5).strip())
            if vertex in steps:
                continue
            total = whole or int(match.group(4))
            step = steps[vertex] = BuildStep(offsets.get((stage or "").lower(), 0) + number, total, instruction)
            followed.step = step if failed is None else followed.step
            keyword, _, rest = instruction.partition(" ")
            if keyword == "FROM" and rest and (base := _as_written(rest.split()[0], list(bases or []))):
                step.instruction = f"FROM {base}"
                if describe_base is not None:
                    step.base = describe_base(base)
            if progress:
                progress(name, step)
        elif match := _OUTPUT.match(line):
            vertex = int(match.group(1))
            if vertex != failed:  # the failure's summary repeats the output after the ERROR line
                outputs.setdefault(vertex, deque(maxlen=_LOG_TAIL)).append(match.group(2)[:500])
        elif match := _VERTEX_ERROR.match(line):
            if failed is None:
                failed, followed.reason = int(match.group(1)), match.group(2).strip()[:500]
                followed.step = steps.get(failed)  # None: a vertex of BuildKit's own (a base's metadata)
        elif match := _ERROR.match(line):
            build_error = match.group(1).strip()[:500]
    if followed.reason is None:
        followed.reason = build_error
    if failed is not None:
        followed.log = outputs.get(failed, followed.log)
    return followed
