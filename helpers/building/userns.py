"""Run a ``RUN`` step without ptrace: in a user namespace, as its root, chrooted into the image's filesystem.

proot fakes root and a changed root directory by tracing every system call,
which makes file-heavy steps several times slower than Docker.  Where the
kernel lets an unprivileged user make a user namespace (most Linux laptops and
CI machines), the embedded builder runs a ``RUN`` step this way instead:

``unshare --map-root-user --mount --pid --fork [--net] -- python -I helpers/building/userns.py ROOTFS WORKDIR -- ARGV``

Inside, this module binds the host's ``/dev``, a new ``/proc`` and ``/sys`` onto
the image's own directories (only where they are real directories: a link is
never followed out of the image), then ``chroot``-s and ``exec``-s the step.
The mounts live in the step's private mount namespace and vanish with it, so
the layer umoci commits holds only what the step wrote.

The namespace maps one user, yours, to root: a step runs as root there and
writes files that are yours on the host, as under proot.  A step whose stage
sets a ``USER`` other than root needs a second identity that one mapping
cannot give, so it runs under proot.

**This is not a security boundary either.**  A user namespace gives the step
no more than your own rights on the host, but the step runs with all of them:
build only Dockerfiles you would run yourself.
"""

from __future__ import annotations

import functools
import os
import shutil
import stat
import subprocess
import sys

_MOUNTS = (("dev", ["--rbind", "/dev"]), ("proc", ["-t", "proc", "proc"]), ("sys", ["--rbind", "/sys"]))


@functools.cache
def available() -> bool:
    """Whether this kernel and user can make the namespaces a step needs (asked once per process)."""
    unshare = shutil.which("unshare")
    if unshare is None:
        return False
    try:
        done = subprocess.run([unshare, "--map-root-user", "--mount", "--pid", "--fork", "--", "true"],
                              capture_output=True, timeout=30)
    except (OSError, subprocess.TimeoutExpired):
        return False
    return done.returncode == 0


def usable(user: str, run_mode: str = "auto") -> bool:
    """Whether a step run as ``user`` goes through a user namespace here (else proot).

    ``run_mode`` is ``LAYERLAB_RUN`` (the settings' ``run_mode``): ``proot`` always takes proot.
    """
    return user in ("", "root", "0", "0:0") and run_mode == "auto" and available()


def command(rootfs: str | os.PathLike, workdir: str, environment: dict[str, str], argv: list[str],
            network: bool) -> list[str]:
    """The command that runs ``argv`` in ``rootfs`` as root of a new user namespace, from ``workdir``."""
    unshare = shutil.which("unshare") or "unshare"
    return [unshare, "--map-root-user", "--mount", "--pid", "--fork", *([] if network else ["--net"]), "--",
            sys.executable, "-I", os.path.abspath(__file__), str(rootfs), workdir or "/", "--",
            "/usr/bin/env", "-i", *[f"{k}={v}" for k, v in environment.items()], *argv]


def _real_directory(path: str) -> bool:
    try:
        return stat.S_ISDIR(os.lstat(path).st_mode)
    except OSError:
        return False


def main(args: list[str]) -> int:
    """Inside the namespaces: mount, chroot, change to the step's folder, and become the step."""
    rootfs, workdir, separator, *argv = args
    if separator != "--" or not argv:
        print("usage: python helpers/building/userns.py ROOTFS WORKDIR -- ARGV", file=sys.stderr)
        return 2
    for name, how in _MOUNTS:
        target = os.path.join(rootfs, name)
        if _real_directory(target):
            subprocess.run(["mount", *how, target], check=True)
    os.chroot(rootfs)
    os.chdir(workdir)
    try:
        os.execv(argv[0], argv)
    except OSError as exc:
        print(f"cannot run {argv[0]} in the image: {exc.strerror}", file=sys.stderr)
        return 127


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
