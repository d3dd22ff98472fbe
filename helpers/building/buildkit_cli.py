"""Build with the Docker Engine's BuildKit, through the Docker CLI: for Dockerfiles the classic builder cannot build.

The Docker SDK's build API is the classic builder, which refuses ``RUN
--mount`` (and ``--network``, ``--security``) in a Dockerfile.  BuildKit reads
them; the Docker CLI is its maintained client, so such a Dockerfile is built
with ``docker buildx build --load`` where the buildx plugin is installed, else
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
from collections import deque
from collections.abc import Callable
from pathlib import Path

from ..ground.dockerfile import Dockerfile
from ..ground.errors import BuildFailed, LayerLabError
from ..ground.run_flags import uses_buildkit_flags
from ..ground.steps import BuildStep, Progress
from .registry import apt_failure, fetch_failed

#: The longest a BuildKit build may take.
BUILD_TIMEOUT = 3600
#: ``#7 [stage-1 2/3] RUN …`` or ``#7 [2/3] RUN …``: a step of the Dockerfile, as plain progress first names it.
_STEP = re.compile(r"^#\d+ \[(?:[^\]\s]+ )?(\d+)/(\d+)\] (.+)$")
_ERROR = re.compile(r"^(?:#\d+ )?(?:ERROR|error):? (.+)$")
_LOG_TAIL = 12


def needs_buildkit(dockerfile: Dockerfile) -> bool:
    """Whether the classic builder would refuse ``dockerfile``: a ``RUN`` with flags only BuildKit reads."""
    return any(item["instruction"] == "RUN" and uses_buildkit_flags(item["value"])
               for item in dockerfile.instructions)


def _docker_commands() -> list[str]:
    """Every ``docker`` on ``PATH``, in order (a newer CLI may shadow the distribution's)."""
    found = []
    for folder in os.environ.get("PATH", "").split(os.pathsep):
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


@functools.cache
def buildkit_command() -> tuple[str, ...]:
    """How this machine's Docker CLI builds with BuildKit: ``docker buildx build --load``, or ``docker build``.

    The first ``docker`` on ``PATH`` with the buildx plugin is used; else the first older
    than 23, whose ``docker build`` has BuildKit built in (``DOCKER_BUILDKIT=1``).  From 23
    on, the CLI needs buildx for BuildKit.  Else a clear error naming what to install.
    """
    clients = _docker_commands()
    for docker in clients:
        if _answers([docker, "buildx", "version"]) is not None:
            return (docker, "buildx", "build", "--load")
    for docker in clients:
        version = _answers([docker, "version", "--format", "{{.Client.Version}}"]) or ""
        major = version.split(".")[0]
        if major.isdigit() and int(major) < 23:
            return (docker, "build")
    raise LayerLabError(
        "this Dockerfile needs BuildKit (RUN --mount), and no Docker CLI here can drive BuildKit: "
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
        iidfile = Path(scratch) / "iid"
        command = [*buildkit_command(), "--progress=plain", f"--network={'default' if network else 'none'}",
                   "--iidfile", str(iidfile), "-t", tag, "-f", "-", str(folder)]
        environment = {**os.environ, "DOCKER_BUILDKIT": "1", "DOCKER_HOST": host}
        with subprocess.Popen(command, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                              env=environment, text=True, errors="replace") as process:
            assert process.stdin is not None and process.stdout is not None
            process.stdin.write(dockerfile.text)
            process.stdin.close()
            step, log, errors = _follow(process.stdout, name, progress, dockerfile.bases, describe_base)
            try:
                status = process.wait(timeout=BUILD_TIMEOUT)
            except subprocess.TimeoutExpired:
                process.kill()
                raise
        if status != 0 or not iidfile.exists():
            message = errors[-1] if errors else (log[-1] if log else f"docker build exited with {status}")
            if step is not None and (unreachable := apt_failure([line for line in log if fetch_failed(line)],
                                                                network, step.instruction)):
                raise unreachable
            where = f"step {step.number}/{step.total} `{step.instruction}`" if step else "the build"
            raise BuildFailed(f"{name}: {where} failed: {message}",
                              "fix that instruction, or the files it uses, and build again", list(log),
                              step=step.number if step else None, instruction=step.instruction if step else None,
                              reason=message)
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


def _follow(lines, name: str, progress: Progress | None, bases: list[str] | None = None,
            describe_base: Callable[[str], str] | None = None) -> tuple[BuildStep | None, deque[str], list[str]]:
    """Report each step the first time plain progress names it; the last step, the log's tail and its errors.

    A ``FROM`` step is reported as the Dockerfile wrote it, with the base it used (``describe_base``),
    as the classic builder's steps are.
    """
    step: BuildStep | None = None
    seen: set[tuple[int, str]] = set()
    log: deque[str] = deque(maxlen=_LOG_TAIL)
    errors: list[str] = []
    for raw in lines:
        line = raw.rstrip()
        if match := _STEP.match(line):
            number, total, instruction = int(match.group(1)), int(match.group(2)), match.group(3).strip()
            if (number, instruction) in seen:
                continue
            seen.add((number, instruction))
            step = BuildStep(number, total, instruction)
            keyword, _, rest = instruction.partition(" ")
            if keyword == "FROM" and rest and (base := _as_written(rest.split()[0], list(bases or []))):
                step.instruction = f"FROM {base}"
                if describe_base is not None:
                    step.base = describe_base(base)
            if progress:
                progress(name, step)
            continue
        if match := _ERROR.match(line):
            errors.append(match.group(1).strip()[:500])
        if line:
            log.append(line[:500])
    return step, log, errors
