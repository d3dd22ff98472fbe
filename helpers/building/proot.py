"""proot, which runs a ``RUN`` step as a fake root where user namespaces cannot: its command line, and its refusals.

**proot is not a security boundary.**  It intercepts system calls with ptrace
to fake ``root`` and a changed root directory; a step runs with *your* user's
rights and can read and write whatever you can.
"""

from __future__ import annotations

import contextlib
import os
import re
import shutil
from collections.abc import Iterator, Sequence
from pathlib import Path

from ..ground.errors import DockerfileError, LayerLabError
from . import userns
from .oci_store import ToolMissing
from .placement import Rootfs
from .removal import OPEN_FOLDER
from .userns import DEVICES

#: What proot shows a step of the host: Docker's few devices one by one (never the host's disks), /proc with
#: its sysrq trigger masked, and /sys.  proot cannot make anything read-only: it is not a boundary.
BINDS = (*(f"/dev/{name}" for name in DEVICES), "/proc/self/fd:/dev/fd", "/proc", "/dev/null:/proc/sysrq-trigger",
         "/sys")
#: The last line proot prints when it failed itself, before (or instead of) running the command.
_PROOT_FATAL = "fatal error: see `proot --help`."
_PROOT_ERROR = re.compile(r"^proot error: (.*)$", re.MULTILINE)


class ProotRefused(LayerLabError):
    """proot itself could not run a ``RUN`` step: the kernel refused its ptrace, or it failed before the command."""


def refusal(stderr: str, text: str) -> ProotRefused | None:
    """The error for a ``RUN`` step whose proot failed on its own; ``None`` when the command ran (or is missing)."""
    errors = _PROOT_ERROR.findall(stderr)
    ptrace = [line for line in errors if line.startswith("ptrace(")]
    if ptrace:
        return ProotRefused(
            f"proot cannot run `{text}` here: the kernel refused its {ptrace[0]}",
            "proot needs ptrace: do not build under strace or a debugger, and in a container allow ptrace "
            "(docker run --cap-add SYS_PTRACE --security-opt seccomp=unconfined); or build with the Docker Engine "
            "(--engine docker)",
        )
    if _PROOT_FATAL not in stderr or any(" not found (root = " in line for line in errors):
        return None  # the command ran and failed, or it is not in the image: the RUN step's own failure
    return ProotRefused(f"proot failed before `{text}` could run: {errors[0] if errors else _PROOT_FATAL}",
                        "see proot's message; or build with the Docker Engine (--engine docker)")


@contextlib.contextmanager
def dev_time_kept(rootfs: Path) -> Iterator[None]:
    """Keep the times of the image's ``/dev`` folder across a proot run.

    proot makes a placeholder in the image's ``/dev`` for each device it binds,
    and removes it again: the folder's contents are as they were, but its time
    is not, and umoci would commit ``/dev`` in the step's layer.  Docker's
    layers never hold ``/dev`` (a container's is a mount of its own).
    """
    try:
        fd = os.open(rootfs / "dev", OPEN_FOLDER)
    except OSError:
        yield  # no real /dev folder in the image: proot makes its placeholders elsewhere
        return
    try:
        before = os.fstat(fd)
        try:
            yield
        finally:
            os.utime(fd, ns=(before.st_atime_ns, before.st_mtime_ns))
    finally:
        os.close(fd)


def command(proot: str, rootfs: Path, user: str, workdir: str, env: dict[str, str], argv: list[str],
            network: bool, binds: Sequence[tuple[str, str]] = ()) -> list[str]:
    """The command line that runs ``argv`` in ``rootfs`` under proot, as ``user``, in ``workdir``, with ``env`` only.

    Without ``network``, the step runs in a network namespace of its own (``unshare --net``), which proot
    cannot give it.  ``binds``: the step's mounts, ``(host path, in-image path)`` each (see
    :mod:`helpers.building.run_mounts`); proot binds them read-write: each is a copy, so what a step
    writes there is thrown away.
    """
    identity = ["-0"] if user in ("", "root", "0", "0:0") else ["-i", uid_gid(rootfs, user)]
    mounts = [a for host, inside in binds for a in ("-b", f"{host}:/{inside.lstrip('/')}")]
    line = [proot, *identity, "-r", str(rootfs), *[a for path in BINDS for a in ("-b", path)], *mounts,
            "-w", workdir or "/"]
    if network:
        # No user namespace here: one that maps a single identity makes chown to any other fail with
        # EINVAL, which proot's fake root does not hide, and apt and dpkg chown to their own users.
        return [*line, "/usr/bin/env", "-i", *[f"{k}={v}" for k, v in env.items()], *argv]
    unshare = shutil.which("unshare")
    if unshare is None:
        raise ToolMissing("offline builds run RUN steps without a network through unshare, which is missing",
                          "install the util-linux package")
    # A network namespace of its own, and a PID namespace with proot as its PID 1: its tracees end with it.
    # Its user namespace is a step's own (every ID where root builds), so a chown to any owner works as online.
    line = [*userns.user_namespace(unshare), "--net", "--pid", "--fork", "--kill-child", "--mount", "--mount-proc",
            "--", *line]
    return [*line, "/usr/bin/env", "-i", *[f"{k}={v}" for k, v in env.items()], *argv]


def wrapped(proot: str, rootfs: Path, user: str, workdir: str, env: dict[str, str], argv: list[str],
            network: bool, binds: Sequence[tuple[str, str]] = ()) -> tuple[list[str], list[str]]:
    """:func:`command` split for :func:`.step_process.run_step`: proot's part, and what runs in the image.

    With a ``/bin/sh`` in the image, the step runs through it so that its exit ends the
    step (proot itself waits for every background process); without one, as it is.
    """
    line = command(proot, rootfs, user, workdir, env, argv, network, binds)
    inside = ["/usr/bin/env", "-i", *[f"{k}={v}" for k, v in env.items()], *argv]
    before = line[: len(line) - len(inside)]
    with Rootfs(rootfs) as image:
        has_shell = image.kind("bin/sh") in ("file", "symlink")
    return (before, inside) if has_shell else (line, [])


def uid_gid(rootfs: Path, user: str) -> str:
    """``USER name[:group]`` as ``uid:gid``, looked up in the image's /etc/passwd and /etc/group."""
    name, _, group = user.partition(":")

    def lookup(table: str, key: str) -> tuple[str, str] | None:
        with Rootfs(rootfs) as image:  # the image's own /etc, never a host file a link points at
            data = image.read(f"etc/{table}", 16 << 20) or b""
        for line in data.decode("utf-8", "replace").splitlines():
            fields = line.split(":")
            if len(fields) > 3 and fields[0] == key:
                return fields[2], fields[3]
        return None

    found = (name, name) if name.isdigit() else lookup("passwd", name)
    if found is None:
        raise DockerfileError(f"USER {user}: no user {name!r} in the image's /etc/passwd", "add the user first")
    uid, gid = found
    if group:
        entry = (group, group) if group.isdigit() else lookup("group", group)
        if entry is None:
            raise DockerfileError(f"USER {user}: no group {group!r} in the image's /etc/group", "add it first")
        gid = entry[0]
    return f"{uid}:{gid}"
