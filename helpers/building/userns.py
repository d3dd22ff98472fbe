"""Run a ``RUN`` step without ptrace: in a user namespace, as its root, chrooted into the image's filesystem.

proot fakes root and a changed root directory by tracing every system call,
which makes file-heavy steps several times slower than Docker.  Where the
kernel lets an unprivileged user make a user namespace (most Linux laptops and
CI machines), the embedded builder runs a ``RUN`` step this way instead:

``unshare --map-root-user --mount --pid --fork [--net] -- python -I helpers/building/userns.py ROOTFS WORKDIR -- ARGV``

Inside, this module mounts what Docker gives a container onto the image's own
directories (only where they are real directories, each opened ``O_NOFOLLOW``
and mounted through its descriptor: a link is never followed out of the image),
then ``chroot``-s and ``exec``-s the step:

* a private ``/dev``: a new ``tmpfs`` holding only ``null``, ``zero``, ``full``,
  ``random``, ``urandom`` and ``tty`` (each bound from the host), a new
  ``devpts``, a ``tmpfs`` ``shm`` and the usual links (``fd``, ``stdin``, ...).
  The host's disks and other devices are not there, so a step run by root
  cannot write them;
* a new ``/proc`` for the step's PID namespace, with ``/proc/sys``, ``bus``,
  ``fs`` and ``irq`` read-only and ``sysrq-trigger``, ``kcore``, ``keys`` and
  ``timer_list`` masked, as Docker's defaults have them;
* ``/sys`` read-only (a new sysfs where the step has a network namespace of its
  own, else the host's, bound and made read-only; left empty if neither works).

The mounts live in the step's private mount namespace and vanish with it, so
the layer umoci commits holds only what the step wrote.  Where the kernel will
not give a private ``/dev``, the step fails here and proot runs it instead.

Which identities the namespace holds depends on who builds:

* **root** (a CI machine, a container run as root): every ID, each mapped to
  itself (:func:`maps_every_id`).  A step can then ``chown`` a file to any
  owner and apt can drop to its ``_apt`` user, as in Docker.  The map is
  written from outside by a short-lived child (:func:`_map_every_id`): only a
  process in the parent namespace may map more than its own ID.
* **anyone else**: one ID, yours, mapped to root (``unshare --map-root-user``):
  a step runs as root there and writes files that are yours on the host, as
  under proot.  A chown to another owner (a package's install script runs
  ``chown root:staff``) cannot succeed there, so a seccomp filter makes it
  succeed and do nothing, as proot's fake root does (:func:`chown_filter`).
  apt drops to ``_apt`` to download, which one ID cannot give either
  (``setgroups`` is refused), so a step whose command runs apt gets one more
  setting, as proot gives it the drop faked: ``APT_CONFIG`` names a file in
  the step's private ``/dev`` (:data:`APT_CONFIG_FILE`, never in the image)
  that says ``APT::Sandbox::User "root";``, and apt stays root; the variable,
  in the step's own environment, is the one trace a step could see.  A step
  that sets its own ``APT_CONFIG`` keeps it.

Either way the layer is the same: umoci unpacked the image rootless and
records every file it repacks as root's, whoever owns it on the host, as
proot's faked owners are.  A step whose stage sets a ``USER`` other than root
runs under proot.

**This is not a security boundary either.**  A user namespace gives the step
no more than your own rights on the host, but the step runs with all of them:
build only Dockerfiles you would run yourself.
"""

from __future__ import annotations

import functools
import os
import re
import shutil
import stat
import subprocess
import sys
from collections.abc import Sequence

#: The devices a step sees, Docker's few, each bound from the host (proot binds the same: :data:`.proot.BINDS`).
DEVICES = ("null", "zero", "full", "random", "urandom", "tty")
_DEV_LINKS = {"fd": "/proc/self/fd", "stdin": "/proc/self/fd/0", "stdout": "/proc/self/fd/1",
              "stderr": "/proc/self/fd/2", "ptmx": "pts/ptmx", "core": "/proc/kcore"}
#: Docker's default read-only and masked paths of /proc (moby's oci/defaults.go).
_PROC_READ_ONLY = ("bus", "fs", "irq", "sys")
_PROC_MASKED = ("kcore", "keys", "timer_list", "sysrq-trigger", "latency_stats", "sched_debug")
MS_RDONLY, MS_NOSUID, MS_NODEV, MS_NOEXEC, MS_REMOUNT, MS_BIND, MS_REC = 1, 2, 4, 8, 32, 4096, 16384
#: The exit status of a step whose namespace could not be set up: the builder then runs it under proot.
SETUP_FAILED = 125
#: The exit status of a step whose own mounts could not be made (a target that passes through a link).
MOUNT_FAILED = 124
#: Where a step that runs apt finds the setting that keeps apt root: in its private ``/dev``, a tmpfs of its own.
APT_CONFIG_FILE = "/dev/.layerlab-apt.conf"
_APT_SETTING = 'APT::Sandbox::User "root";\n'
_RUNS_APT = re.compile(r"(?<![\w.-])apt(?:-get|itude)?(?![\w./-])")


def runs_apt(argv: Sequence[str]) -> bool:
    """Whether a step's command names apt, apt-get or aptitude (a word of its own, as a shell would run it)."""
    return any(_RUNS_APT.search(part) for part in argv)


@functools.cache
def available() -> bool:
    """Whether this kernel and user can make the namespaces a step needs (asked once per process)."""
    unshare = shutil.which("unshare")
    if unshare is None:
        return False
    try:
        done = subprocess.run([*user_namespace(unshare), "--mount", "--pid", "--fork", "--", "true"],
                              capture_output=True, timeout=30)
    except (OSError, subprocess.TimeoutExpired):
        return False
    return done.returncode == 0


def maps_every_id() -> bool:
    """Whether a step's namespace maps every user and group ID to itself: only root may write such a map."""
    return os.geteuid() == 0


def user_namespace(unshare: str) -> list[str]:
    """How a step's command enters its user namespace; ``unshare`` options for the other namespaces follow."""
    if maps_every_id():
        return [sys.executable, "-I", os.path.abspath(__file__), "--map-every-id", "--", unshare]
    return [unshare, "--map-root-user"]


def usable(user: str, run_mode: str = "auto") -> bool:
    """Whether a step run as ``user`` goes through a user namespace here (else proot).

    ``run_mode`` is ``LAYERLAB_RUN`` (the settings' ``run_mode``): ``proot`` always takes proot.
    """
    return user in ("", "root", "0", "0:0") and run_mode == "auto" and available()


def command(rootfs: str | os.PathLike, workdir: str, environment: dict[str, str], argv: list[str],
            network: bool, binds: Sequence[tuple[str | None, str, bool]] = ()) -> list[str]:
    """The command that runs ``argv`` in ``rootfs`` as root of a new user namespace, from ``workdir``.

    ``binds``: the step's mounts, each ``(host path, in-image path, read-only)``, a host path
    ``None`` for a new tmpfs (see :mod:`helpers.building.run_mounts`).  A step that runs apt
    gets :data:`APT_CONFIG_FILE` (see above), unless it sets its own ``APT_CONFIG``.
    """
    unshare = shutil.which("unshare") or "unshare"
    mounts = [a for host, inside, read_only in binds
              for a in (["--tmpfs", inside] if host is None else ["--bind", host, inside, "ro" if read_only else "rw"])]
    if not maps_every_id():
        mounts.append("--chown-as-proot")
        if runs_apt(argv) and "APT_CONFIG" not in environment:
            mounts.append("--apt-as-root")
            environment = {**environment, "APT_CONFIG": APT_CONFIG_FILE}
    return [*user_namespace(unshare), "--mount", "--pid", "--fork", "--kill-child", *([] if network else ["--net"]),
            "--",
            sys.executable, "-I", os.path.abspath(__file__), str(rootfs), workdir or "/", *mounts, "--",
            "/usr/bin/env", "-i", *[f"{k}={v}" for k, v in environment.items()], *argv]


def mounting(rootfs: str | os.PathLike, binds: Sequence[tuple[str, str, bool]]) -> list[str]:
    """A prefix that makes ``binds`` real mounts in ``rootfs``, in a mount namespace of their own, then runs the rest.

    For proot run by root, who can write through a copy's permissions: a read-only bind is then a
    read-only mount, as in a user namespace.  Root needs no user namespace to make a mount namespace.
    """
    unshare = shutil.which("unshare") or "unshare"
    specs = [a for host, inside, read_only in binds for a in ("--bind", host, inside, "ro" if read_only else "rw")]
    return [unshare, "--mount", "--propagation", "private", "--", sys.executable, "-I", os.path.abspath(__file__),
            "--only-mounts", str(rootfs), *specs, "--"]


@functools.cache
def _libc():
    """The C library, for the calls Python does not wrap (mount, unshare, prctl), with ``errno`` kept."""
    import ctypes
    import ctypes.util

    return ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6", use_errno=True)


def _real_directory(path: str) -> bool:
    try:
        return stat.S_ISDIR(os.lstat(path).st_mode)
    except OSError:
        return False


def _bytes(text: str | None) -> bytes | None:
    return None if text is None else text.encode()


class _Mounts:
    """mount(2) through libc, onto paths opened ``O_NOFOLLOW`` and named by their descriptors."""

    def __init__(self) -> None:
        import ctypes

        self._libc = _libc()
        self._ctypes = ctypes

    def mount(self, source: str | None, target: str, fstype: str | None, flags: int, data: str | None = None,
              kind: int = stat.S_IFDIR) -> None:
        """Mount onto ``target`` (a folder, or a file for ``kind=S_IFREG``), never through a link; else ``OSError``."""
        fd = os.open(target, os.O_PATH | os.O_NOFOLLOW | os.O_CLOEXEC | (os.O_DIRECTORY if kind == stat.S_IFDIR else 0))
        try:
            if stat.S_IFMT(os.fstat(fd).st_mode) != kind:
                raise OSError(f"{target} is not what a mount point must be")
            self.at(source, fd, fstype, flags, data, target)
        finally:
            os.close(fd)

    def at(self, source: str | None, fd: int, fstype: str | None, flags: int, data: str | None = None,
           name: str = "") -> None:
        """Mount onto the file or folder open at ``fd`` (an ``O_PATH`` descriptor: no path is resolved again)."""
        if self._libc.mount(_bytes(source), f"/proc/self/fd/{fd}".encode(), _bytes(fstype), flags,
                            _bytes(data)) != 0:
            error = self._ctypes.get_errno()
            raise OSError(error, os.strerror(error), name or f"descriptor {fd}")

    def detach(self, target: str) -> None:
        """Unmount ``target`` lazily (``umount2(MNT_DETACH)``)."""
        if self._libc.umount2(target.encode(), 2) != 0:
            error = self._ctypes.get_errno()
            raise OSError(error, os.strerror(error), target)

    def read_only(self, target: str) -> None:
        """Remount the bind mount at ``target`` read-only, keeping the flags the kernel locks."""
        locked = os.statvfs(target).f_flag & (MS_NOSUID | MS_NODEV | MS_NOEXEC)
        self.mount(None, target, None, MS_REMOUNT | MS_BIND | MS_RDONLY | locked)


def _private_dev(mounts: _Mounts, dev: str) -> None:
    """A new tmpfs at ``dev`` with Docker's few devices, bound one by one from the host."""
    mounts.mount("tmpfs", dev, "tmpfs", MS_NOSUID | MS_NOEXEC, "mode=755,size=65536k")
    for name in DEVICES:
        node = os.path.join(dev, name)
        os.close(os.open(node, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o666))
        mounts.mount(f"/dev/{name}", node, None, MS_BIND, kind=stat.S_IFREG)
    for name, target in _DEV_LINKS.items():
        os.symlink(target, os.path.join(dev, name))
    os.mkdir(os.path.join(dev, "pts"), 0o755)
    os.mkdir(os.path.join(dev, "shm"), 0o1777)
    try:
        mounts.mount("devpts", os.path.join(dev, "pts"), "devpts", MS_NOSUID | MS_NOEXEC,
                     "newinstance,ptmxmode=0666,mode=0620")
    except OSError:
        pass  # no terminals for the step: a build has none anyway
    mounts.mount("shm", os.path.join(dev, "shm"), "tmpfs", MS_NOSUID | MS_NODEV | MS_NOEXEC, "mode=1777,size=65536k")


def _proc(mounts: _Mounts, proc: str) -> None:
    """A new proc for the step's PID namespace, its dangerous files read-only or masked, as Docker has them."""
    mounts.mount("proc", proc, "proc", MS_NOSUID | MS_NODEV | MS_NOEXEC)
    for name in _PROC_READ_ONLY:
        path = os.path.join(proc, name)
        if _real_directory(path):
            mounts.mount(path, path, None, MS_BIND | MS_REC)
            mounts.read_only(path)
    for name in _PROC_MASKED:
        path = os.path.join(proc, name)
        if os.path.exists(path) and not os.path.isdir(path):
            mounts.mount("/dev/null", path, None, MS_BIND, kind=stat.S_IFREG)


def _sys(mounts: _Mounts, sys_dir: str) -> None:
    """``/sys`` read-only: a new sysfs where the step has a network namespace of its own, else the host's, bound."""
    try:
        mounts.mount("sysfs", sys_dir, "sysfs", MS_RDONLY | MS_NOSUID | MS_NODEV | MS_NOEXEC)
        return
    except OSError:
        pass
    mounts.mount("/sys", sys_dir, None, MS_BIND | MS_REC)
    try:
        for point in [sys_dir, *_mounted_below(sys_dir)]:  # cgroups and the like are mounts of their own
            mounts.read_only(point)
    except OSError:
        mounts.detach(sys_dir)  # no /sys at all rather than a writable one


def _mounted_below(folder: str) -> list[str]:
    """The mount points below ``folder`` in this mount namespace, outermost first."""
    with open("/proc/self/mountinfo") as table:
        points = [line.split()[4].encode().decode("unicode_escape") for line in table]
    return sorted({point for point in points if point.startswith(folder.rstrip("/") + "/")}, key=len)


def _inside(rootfs: str, inside: str) -> int:
    """An ``O_PATH`` descriptor of the in-image path ``inside``, reached following no link; else ``OSError``."""
    fd = os.open(rootfs, os.O_PATH | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC)
    try:
        for name in [part for part in inside.split("/") if part]:
            if name == "..":
                raise OSError(f"{inside} climbs out of the image")
            below = os.open(name, os.O_PATH | os.O_NOFOLLOW | os.O_CLOEXEC, dir_fd=fd)
            os.close(fd)
            fd = below
            if stat.S_ISLNK(os.fstat(fd).st_mode):
                raise OSError(f"{inside} passes through a link")
        return fd
    except BaseException:
        os.close(fd)
        raise


def _step_mounts(mounts: _Mounts, rootfs: str, specs: list[str]) -> None:
    """The step's own mounts (``--bind HOST INSIDE ro|rw``, ``--tmpfs INSIDE``), each onto a path with no link."""
    while specs:
        kind = specs.pop(0)
        if kind == "--tmpfs":
            fd = _inside(rootfs, specs.pop(0))
            try:
                mounts.at("tmpfs", fd, "tmpfs", MS_NOSUID | MS_NODEV, "mode=755")
            finally:
                os.close(fd)
            continue
        if kind != "--bind":
            raise OSError(f"unknown mount {kind}")
        host, inside, mode = specs.pop(0), specs.pop(0), specs.pop(0)
        fd = _inside(rootfs, inside)
        try:
            mounts.at(host, fd, None, MS_BIND | MS_REC, None, inside)
        finally:
            os.close(fd)
        if mode == "ro":
            fd = _inside(rootfs, inside)  # now the mount itself
            try:
                locked = os.statvfs(f"/proc/self/fd/{fd}").f_flag & (MS_NOSUID | MS_NODEV | MS_NOEXEC)
                mounts.at(None, fd, None, MS_REMOUNT | MS_BIND | MS_RDONLY | locked, None, inside)
            finally:
                os.close(fd)


def _only_mounts(args: list[str]) -> int:
    """``--only-mounts ROOTFS [--bind …]… -- ARGV``: make the step's mounts, then run ARGV (proot) as it is."""
    rootfs, *rest = args
    if "--" not in rest or not rest[rest.index("--") + 1:]:
        print("usage: python helpers/building/userns.py --only-mounts ROOTFS [--bind HOST INSIDE ro|rw]... -- ARGV",
              file=sys.stderr)
        return 2
    specs, argv = rest[: rest.index("--")], rest[rest.index("--") + 1:]
    try:
        _step_mounts(_Mounts(), os.path.abspath(rootfs), specs)
    except OSError as exc:
        print(f"cannot mount what the step asks for: {exc}", file=sys.stderr)
        return MOUNT_FAILED
    os.execv(argv[0], argv)
    return 127  # not reached


#: Per machine: the kernel's audit architecture, and each chown call's number with the indices of its
#: uid and gid arguments (``chown``/``lchown``/``fchown``: 1 and 2; ``fchownat``: 2 and 3).
_CHOWN_CALLS = {
    "x86_64": (0xC000003E, {92: (1, 2), 93: (1, 2), 94: (1, 2), 260: (2, 3)}),
    "aarch64": (0xC00000B7, {54: (2, 3), 55: (1, 2)}),
}
_BPF_LD_ABS, _BPF_JEQ, _BPF_RET = 0x20, 0x15, 0x06
_SECCOMP_RET_ALLOW, _SECCOMP_RET_ERRNO = 0x7FFF0000, 0x00050000
_PR_SET_NO_NEW_PRIVS, _PR_SET_SECCOMP, _SECCOMP_MODE_FILTER = 38, 22, 2


def chown_filter(machine: str) -> list[tuple[int, int, int, int]] | None:
    """A seccomp program under which a chown to an ID other than root (or -1, unchanged) succeeds and does nothing.

    One mapped ID cannot own a file as anyone else: such a chown fails (``EINVAL``), and
    with it a package whose install script runs ``chown root:staff``.  proot's fake root
    fakes those calls; this does the same, and only those: a chown to root runs.  umoci
    records every file as root's either way, so the layer is the same.  ``None`` where
    this machine's call numbers are not known here (the step then runs as before).
    Each instruction is ``(code, jump if true, jump if false, k)``.
    """
    if machine not in _CHOWN_CALLS:
        return None
    arch, calls = _CHOWN_CALLS[machine]
    n = len(calls)
    blocks_at = 4 + n  # arch load, arch check, call load, n call checks, allow: then 6 instructions a call
    fake, allow = blocks_at + 6 * n, blocks_at + 6 * n + 1
    program = [(_BPF_LD_ABS, 0, 0, 4), (_BPF_JEQ, 0, allow - 2, arch), (_BPF_LD_ABS, 0, 0, 0)]
    for index, number in enumerate(calls):
        at = 3 + index
        program.append((_BPF_JEQ, blocks_at + 6 * index - at - 1, 0, number))
    program.append((_BPF_RET, 0, 0, _SECCOMP_RET_ALLOW))
    for uid, gid in calls.values():
        at = len(program)
        program += [(_BPF_LD_ABS, 0, 0, 16 + 8 * uid),  # the low 32 bits of the argument: an ID
                    (_BPF_JEQ, 1, 0, 0), (_BPF_JEQ, 0, fake - (at + 2) - 1, 0xFFFFFFFF),
                    (_BPF_LD_ABS, 0, 0, 16 + 8 * gid),
                    (_BPF_JEQ, allow - (at + 4) - 1, 0, 0),
                    (_BPF_JEQ, allow - (at + 5) - 1, fake - (at + 5) - 1, 0xFFFFFFFF)]
    program += [(_BPF_RET, 0, 0, _SECCOMP_RET_ERRNO | 0), (_BPF_RET, 0, 0, _SECCOMP_RET_ALLOW)]
    return program


def _chown_as_proot() -> None:
    """Load :func:`chown_filter`'s program for this process and every process it starts (after ``no_new_privs``)."""
    import ctypes

    program = chown_filter(os.uname().machine)
    if program is None:
        return

    class Instruction(ctypes.Structure):
        _fields_ = [("code", ctypes.c_ushort), ("jt", ctypes.c_ubyte), ("jf", ctypes.c_ubyte), ("k", ctypes.c_uint)]

    class Program(ctypes.Structure):
        _fields_ = [("len", ctypes.c_ushort), ("filter", ctypes.POINTER(Instruction))]

    instructions = (Instruction * len(program))(*[Instruction(*i) for i in program])
    libc = _libc()
    if libc.prctl(_PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0 or libc.prctl(
            _PR_SET_SECCOMP, _SECCOMP_MODE_FILTER, ctypes.byref(Program(len(program), instructions)), 0, 0) != 0:
        error = ctypes.get_errno()
        raise OSError(error, f"cannot fake chown for the step: {os.strerror(error)}")


#: ``unshare(2)``'s flag for a new user namespace, and the map that gives it every ID, each as itself.
CLONE_NEWUSER = 0x10000000
_EVERY_ID = "0 0 4294967295\n"


def _map_every_id(args: list[str]) -> int:
    """``--map-every-id -- ARGV``: enter a new user namespace holding every ID as itself, then become ARGV.

    A namespace's map may name more than its creator's own ID only when written by a
    process of the parent namespace with ``CAP_SETUID``: so a child, forked first,
    writes it and exits, while this process keeps its PID (and whatever ties it to the
    builder) and becomes ARGV (``unshare`` for the other namespaces).
    """
    if args[:1] != ["--"] or not args[1:]:
        print("usage: python helpers/building/userns.py --map-every-id -- ARGV", file=sys.stderr)
        return 2
    import ctypes

    libc = _libc()
    entered_read, entered_write = os.pipe()
    child = os.fork()
    if child == 0:  # still in the parent namespace: wait for the unshare, write the map, go
        os.close(entered_write)
        status = 1
        try:
            if os.read(entered_read, 1) == b"1":
                parent = os.getppid()
                for name in ("uid_map", "gid_map"):
                    with open(f"/proc/{parent}/{name}", "w") as table:
                        table.write(_EVERY_ID)
                status = 0
        except OSError as exc:
            print(f"cannot map every ID into the step's namespace: {exc}", file=sys.stderr)
        os._exit(status)
    os.close(entered_read)
    entered = libc.unshare(CLONE_NEWUSER) == 0
    error = ctypes.get_errno()
    os.write(entered_write, b"1" if entered else b"0")
    os.close(entered_write)
    _, status = os.waitpid(child, 0)
    if not entered:
        print(f"cannot make a user namespace: {os.strerror(error)}", file=sys.stderr)
        return SETUP_FAILED
    if os.waitstatus_to_exitcode(status) != 0:
        return SETUP_FAILED
    try:
        os.execv(args[1], args[1:])
    except OSError as exc:
        print(f"cannot run {args[1]}: {exc.strerror}", file=sys.stderr)
    return SETUP_FAILED


def main(args: list[str]) -> int:
    """Inside the namespaces: mount, chroot, change to the step's folder, and become the step."""
    if args[:1] == ["--only-mounts"]:
        return _only_mounts(args[1:])
    if args[:1] == ["--map-every-id"]:
        return _map_every_id(args[1:])
    rootfs, workdir, *rest = args
    if "--" not in rest or not rest[rest.index("--") + 1:]:
        print("usage: python helpers/building/userns.py ROOTFS WORKDIR [--bind HOST INSIDE ro|rw | --tmpfs INSIDE]... "
              "-- ARGV", file=sys.stderr)
        return 2
    specs, argv = rest[: rest.index("--")], rest[rest.index("--") + 1:]
    apt_as_root, chown_as_proot = "--apt-as-root" in specs, "--chown-as-proot" in specs
    specs = [spec for spec in specs if spec not in ("--apt-as-root", "--chown-as-proot")]
    rootfs = os.path.abspath(rootfs)
    mounts = _Mounts()
    try:
        for name, setup in (("dev", _private_dev), ("proc", _proc), ("sys", _sys)):
            target = os.path.join(rootfs, name)
            if _real_directory(target):
                setup(mounts, target)
        if apt_as_root:  # in the private /dev, a tmpfs of the step's own: never in the image
            if not _real_directory(os.path.join(rootfs, "dev")):
                raise OSError("the image has no /dev folder for apt's setting")
            setting = os.open(os.path.join(rootfs, APT_CONFIG_FILE.lstrip("/")),
                              os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o644)
            with os.fdopen(setting, "w") as stream:
                stream.write(_APT_SETTING)
    except OSError as exc:
        print(f"cannot set up the step's namespace: {exc}", file=sys.stderr)
        return SETUP_FAILED
    try:
        _step_mounts(mounts, rootfs, specs)
    except OSError as exc:  # not a namespace problem: proot would meet the same path
        print(f"cannot mount what the step asks for: {exc}", file=sys.stderr)
        return MOUNT_FAILED
    if chown_as_proot:
        try:
            _chown_as_proot()
        except OSError as exc:
            print(f"cannot set up the step's namespace: {exc}", file=sys.stderr)
            return SETUP_FAILED
    os.chroot(rootfs)
    os.chdir(workdir)
    try:
        os.execv(argv[0], argv)
    except OSError as exc:
        print(f"cannot run {argv[0]} in the image: {exc.strerror}", file=sys.stderr)
        return 127


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
