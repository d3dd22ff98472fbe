"""A ``RUN`` step's processes end with the step, as a container's do: on its exit, on an interrupt, on a kill.

Docker ends a ``RUN`` when its command exits: the container's PID namespace
goes, and every process left in the background with it.  Here:

* in a user namespace the step is PID 1 of a PID namespace of its own, so the
  kernel does the same; ``unshare --kill-child`` kills that namespace when
  ``unshare`` itself is killed;
* under proot, which waits for every process it traces and has no option not
  to, the step's command is wrapped (``/bin/sh -c '"$@"; echo $? > /proc/self/fd/N'``) to
  write its exit status on a pipe the moment it exits; then every process
  left in the step's session is killed, as Docker kills a container's
  processes, and proot, with nothing left to trace, ends and tidies up;
* every step runs in a process group of its own, tied to the builder's life
  (``setpriv --pdeathsig``: a builder killed outright takes it along), and an
  interrupt (a notebook's stop button, Ctrl-C) or any error here kills all of
  it (its group, and the PID namespaces its processes made) before re-raising.
  Where user namespaces exist, proot itself runs as PID 1 of one, so its
  tracees cannot outlive it either.

Each of the step's output streams is kept to its last :data:`KEEP_BYTES`: a
step that prints gigabytes costs that much time, not memory.
"""

from __future__ import annotations

import os
import selectors
import shutil
import signal
import subprocess
from collections.abc import Mapping, Sequence

#: The bytes of each output stream kept (its end: a failure's message is in its last lines).
KEEP_BYTES = 1 << 20


def status_wrapper(argv: Sequence[str], fd: int) -> list[str]:
    """``argv`` run by the image's ``/bin/sh``, which then writes its exit status to file descriptor ``fd``.

    Through ``/proc/self/fd/N``, not ``>&N``: dash, Debian's ``sh``, reads only one digit there.
    """
    return ["/bin/sh", "-c", f'"$@"; status=$?; echo $status > /proc/self/fd/{fd}; exit $status', "sh", *argv]


#: The programs of a step that are the builder's, not the step's: left to end on their own.
_RUNNERS = frozenset({"proot", "unshare", "setpriv"})


def _step_processes(leader: int) -> list[tuple[int, str]]:
    """(pid, program) of each process of the step led by ``leader``: its process group, and every PID namespace
    a process of that group lives in (a process there that left the group, with ``setsid``, is the step's too)."""
    try:
        own = os.readlink("/proc/self/ns/pid")
    except OSError:
        own = ""
    seen: list[tuple[int, str, int, str]] = []
    for entry in os.scandir("/proc"):
        if not entry.name.isdigit():
            continue
        try:
            with open(f"/proc/{entry.name}/stat", "rb") as stat_file:
                stat = stat_file.read()
            namespace = os.readlink(f"/proc/{entry.name}/ns/pid")
        except OSError:
            continue
        name = stat[stat.find(b"(") + 1: stat.rfind(b")")].decode(errors="replace")
        fields = stat[stat.rfind(b")") + 2:].split()
        if len(fields) > 2:
            seen.append((int(entry.name), name, int(fields[2]), namespace))
    namespaces = {ns for _, _, group, ns in seen if group == leader and ns != own}
    return [(pid, name) for pid, name, group, ns in seen if group == leader or ns in namespaces]


def _kill(process: subprocess.Popen, spare_runners: bool = False) -> None:
    """SIGKILL every process of the step (with ``spare_runners``, all but proot and the like, which then end)."""
    for pid, name in _step_processes(process.pid):
        if not (spare_runners and name in _RUNNERS):
            try:
                os.kill(pid, signal.SIGKILL)
            except (ProcessLookupError, PermissionError):
                pass


def tied(command: Sequence[str], on_death: str = "SIGKILL") -> list[str]:
    """``command``, sent ``on_death`` by the kernel if the builder dies first (``setpriv --pdeathsig``), where setpriv
    exists."""
    setpriv = shutil.which("setpriv")
    return [setpriv, "--pdeathsig", on_death, "--", *command] if setpriv else list(command)


def run_step(command: Sequence[str] | None, environment: Mapping[str, str], *,
             wrap: tuple[Sequence[str], Sequence[str]] | None = None) -> subprocess.CompletedProcess:
    """Run a step's ``command`` in a session of its own; its output and exit status, when it has ended.

    ``wrap`` is ``(before, argv)``: run ``[*before, *status_wrapper(argv, N)]`` (proot's command line,
    then the step), and end the whole session as soon as ``argv`` exits, with ``argv``'s status.
    """
    status_read = status_write = -1
    if wrap is not None and not wrap[1]:  # nothing to wrap (no shell in the image): the command as it is
        command, wrap = wrap[0], None
    if wrap is not None:
        status_read, status_write = os.pipe()
        command = [*wrap[0], *status_wrapper(wrap[1], status_write)]
    assert command is not None
    try:
        process = subprocess.Popen(tied(command), stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                   env=dict(environment), process_group=0,
                                   pass_fds=(status_write,) if wrap is not None else ())
    except BaseException:
        for fd in (status_read, status_write):
            if fd >= 0:
                os.close(fd)
        raise
    if status_write >= 0:
        os.close(status_write)
    kept = {process.stdout.fileno(): bytearray(), process.stderr.fileno(): bytearray()}  # type: ignore[union-attr]
    status: int | None = None
    try:
        with selectors.DefaultSelector() as selector:
            for fd in kept:
                selector.register(fd, selectors.EVENT_READ)
            if status_read >= 0:
                selector.register(status_read, selectors.EVENT_READ)
            while selector.get_map():
                for key, _ in selector.select():
                    chunk = os.read(key.fd, 1 << 16)
                    if key.fd == status_read:
                        selector.unregister(key.fd)
                        text = chunk.decode(errors="replace").strip()
                        status = int(text) if text.isdigit() else None
                        _kill(process, spare_runners=True)  # the command is done: what it left goes, as in Docker
                    elif not chunk:
                        selector.unregister(key.fd)
                    else:
                        buffer = kept[key.fd]
                        buffer += chunk
                        del buffer[:-KEEP_BYTES]
        returncode = process.wait()
    except BaseException:
        _kill(process)
        process.wait()
        raise
    finally:
        if status_read >= 0:
            os.close(status_read)
        process.stdout.close()  # type: ignore[union-attr]
        process.stderr.close()  # type: ignore[union-attr]
    out, err = (bytes(kept[fd]).decode("utf-8", "replace") for fd in kept)
    return subprocess.CompletedProcess(list(command), status if status is not None else returncode, out, err)
