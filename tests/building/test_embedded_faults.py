"""The embedded builder when things really go wrong: proot refused by the kernel, a build killed mid-write.

Nothing here is faked; each fault is made for real around the real tools:

* **proot refused.**  The build runs where the kernel refuses proot's ptrace,
  in two real ways: under a seccomp filter that fails every ``ptrace`` call
  with EPERM (what a container's seccomp profile does), installed in the
  build's process before it starts and inherited by proot; and under
  ``strace -f``, a tracer that already holds every process, so proot's
  ``PTRACE_TRACEME`` fails.  The real proot fails with its own message.
* **killed mid-write.**  A real build runs in a subprocess and its whole
  session is SIGKILL-ed at several points, seen in ``/proc`` (while skopeo
  imports the base image, just after it, while umoci unpacks, during a ``RUN``,
  while umoci commits a layer), one after another in the same store, as someone
  interrupting and re-running would.  After each kill every tag in the store
  must be whole; in the end the same build must succeed, leave no scratch
  behind, and give the image a clean store gives.  (Before the fix, a kill just
  after skopeo cached the base image without its config: no ``PATH``, no ``CMD``.)
* **index.json rewritten in place.**  ``strace``'s fault injection SIGKILLs any
  process at its first ``write`` to the store's ``index.json``: skopeo rewrites
  the index of the layout it copies into that way, so a kill there emptied the
  store's index and lost every cached step.
"""

from __future__ import annotations

import ctypes
import hashlib
import json
import os
import platform
import shutil
import signal
import struct
import subprocess
import sys
import time
from pathlib import Path
from typing import NamedTuple

import pytest
from layerlab_fixtures import ALPINE_TARBALLS, current_settings, embedded_tools, need

import helpers
from helpers.building.proot import ProotRefused
from helpers.ground.errors import BuildFailed, LayerLabError

REPO = Path(__file__).resolve().parents[2]
RUN_DOCKERFILE = "FROM alpine:3.20.3\nRUN echo hi > /hi\n"
#: (AUDIT_ARCH_*, __NR_ptrace) for the machines the seccomp filter below knows.
PTRACE_SYSCALL = {"x86_64": (0xC000003E, 101), "aarch64": (0xC00000B7, 117)}


@pytest.fixture
def store(tmp_path, monkeypatch) -> Path:
    """An empty store of its own, with the Alpine rootfs tarballs as the base images."""
    embedded_tools()
    root = tmp_path / "store"
    monkeypatch.setenv("LAYERLAB_STORE", str(root))
    monkeypatch.setenv("LAYERLAB_ROOTFS", str(ALPINE_TARBALLS))
    return root


def _strace() -> str:
    path = shutil.which("strace")
    need(path is not None, "strace is not installed (apt-get install strace)")
    return path


# ---------------------------------------------------------------- proot refused by the kernel
def _deny_ptrace() -> None:
    """Run in the child before exec: a seccomp filter that fails every ptrace call with EPERM, inherited by all."""
    audit_arch, ptrace = PTRACE_SYSCALL[platform.machine()]
    load, equals, answer = 0x20, 0x15, 0x06  # BPF_LD|BPF_W|BPF_ABS, BPF_JMP|BPF_JEQ|BPF_K, BPF_RET|BPF_K
    program = [
        (load, 0, 0, 4),  # seccomp_data.arch
        (equals, 0, 3, audit_arch),  # another architecture: allow
        (load, 0, 0, 0),  # seccomp_data.nr
        (equals, 0, 1, ptrace),
        (answer, 0, 0, 0x00050000 | 1),  # SECCOMP_RET_ERRNO | EPERM
        (answer, 0, 0, 0x7FFF0000),  # SECCOMP_RET_ALLOW
    ]
    code = ctypes.create_string_buffer(b"".join(struct.pack("HBBI", *op) for op in program))

    class Program(ctypes.Structure):
        _fields_ = [("len", ctypes.c_ushort), ("filter", ctypes.c_void_p)]

    libc = ctypes.CDLL(None, use_errno=True)
    no_new_privs, set_seccomp, mode_filter = 38, 22, 2
    if libc.prctl(no_new_privs, 1, 0, 0, 0) or libc.prctl(
            set_seccomp, mode_filter, ctypes.byref(Program(len(program), ctypes.addressof(code))), 0, 0):
        raise OSError(ctypes.get_errno(), "installing the seccomp filter")


def _refused(mechanism: str, command: list[str]) -> subprocess.CompletedProcess:
    """``command`` run where the kernel refuses ptrace, by ``mechanism``."""
    if mechanism == "seccomp":
        need(platform.machine() in PTRACE_SYSCALL, f"the seccomp filter knows no ptrace on {platform.machine()}")
        return subprocess.run(command, capture_output=True, text=True, cwd=REPO, preexec_fn=_deny_ptrace)
    return subprocess.run([_strace(), "-f", "-qq", "-o", "/dev/null", *command], capture_output=True, text=True,
                          cwd=REPO)


API_CHECK = """
import json, sys
import helpers
from helpers.building.proot import ProotRefused
try:
    helpers.build(sys.argv[1], name="refused", engine="embedded", progress=lambda n, s: None)
except ProotRefused as exc:
    print(json.dumps({"class": type(exc).__name__, "message": exc.message, "hint": exc.hint}))
"""


@pytest.mark.parametrize("mechanism", ["seccomp", "tracer"])
def test_proot_refused_by_the_kernel_is_one_clear_error(store, tmp_path, mechanism, monkeypatch):
    """The real proot, really refused: under a seccomp filter denying ptrace, or under ``strace -f``.

    (Where user namespaces exist a RUN step needs no ptrace at all; proot is forced here.)
    """
    monkeypatch.setenv("LAYERLAB_RUN", "proot")
    done = _refused(mechanism, [sys.executable, "-c", API_CHECK, RUN_DOCKERFILE])
    assert done.returncode == 0 and done.stdout, done.stderr
    raised = json.loads(done.stdout)
    assert raised["class"] == "ProotRefused" and issubclass(ProotRefused, LayerLabError)
    # The cause in proot's own words, and the fix.
    assert raised["message"] == ("proot cannot run `RUN echo hi > /hi` here: the kernel refused its "
                                 "ptrace(TRACEME): Operation not permitted")
    assert "do not build under strace" in raised["hint"] and "--cap-add SYS_PTRACE" in raised["hint"]
    assert "--engine docker" in raised["hint"]

    # The CLI: one `error:` line, exit status 2, no traceback and no "RUN step failed".
    (tmp_path / "Dockerfile").write_text(RUN_DOCKERFILE)
    done = _refused(mechanism, [sys.executable, "-m", "helpers", "build", str(tmp_path), "--engine", "embedded"])
    assert done.returncode == 2, done.stderr
    errors = [line for line in done.stderr.splitlines() if line.startswith("error:")]
    assert errors == [f"error: {raised['message']} ({raised['hint']})"]
    assert "Traceback" not in done.stderr and "non-zero code" not in done.stderr


def test_a_command_missing_from_the_image_is_still_the_run_step_s_failure(store):
    """A missing command fails the RUN step, even when proot itself says so: the Dockerfile's fault, no refusal."""
    with pytest.raises(BuildFailed) as caught:
        helpers.build('FROM alpine:3.20.3\nRUN ["/no/such/command"]\n', name="missing", engine="embedded",
                      progress=lambda n, s: None)
    assert caught.value.reason == "The command '/no/such/command' returned a non-zero code: 127"
    # FROM scratch has no /usr/bin/env (nor a shell): proot's own fatal error, still the step's failure.
    with pytest.raises(BuildFailed) as caught:
        helpers.build("FROM scratch\nRUN true\n", name="empty", engine="embedded", progress=lambda n, s: None)
    assert caught.value.step == 2
    assert any("proot error: '/usr/bin/env' not found" in line for line in caught.value.log_tail)


# ---------------------------------------------------------------- killed mid-write
KILLED_DOCKERFILE = (
    "FROM alpine:3.20.3\n"
    "RUN head -c 3000000 /dev/urandom > /big.bin && sleep 1\n"
    "COPY data.bin /data.bin\n"
    "RUN echo done > /done\n"
)


class KillPoint(NamedTuple):
    """Kill the build ``delay`` s after a process running ``tool [subcommand] … mentions …`` is seen (or ended)."""

    tool: str
    subcommand: str | None = None
    delay: float = 0.0
    once_ended: bool = False
    mentions: str = ""
    run: str = "auto"  # LAYERLAB_RUN: how RUN steps run
    alone: bool = False  # kill the builder's process alone: its children see it die


KILL_POINTS = [
    KillPoint("skopeo"),  # importing the base image
    KillPoint("skopeo", once_ended=True),  # the base image imported, not yet configured
    KillPoint("umoci", "raw", delay=0.05, mentions="unpack"),  # unpacking the base into a bundle
    KillPoint("proot", delay=0.3, run="proot"),  # the first RUN running under proot
    KillPoint("unshare", delay=0.3),  # ... or in a user namespace, where there is one
    KillPoint("umoci", "raw", mentions="add-layer"),  # adding its layer: starting
    KillPoint("umoci", "raw", delay=0.1, mentions="add-layer"),  # ... and in the middle
    KillPoint("umoci", "raw", mentions="COPY"),  # adding the COPY layer
    KillPoint("umoci", "raw", delay=0.02, mentions="COPY", alone=True),  # the builder alone, mid-stream
]
BUILD_SCRIPT = ("import sys, helpers; "
                "helpers.build(sys.argv[1], name='killed', engine='embedded', progress=lambda n, s: None)")


def _session(sid: int) -> list[tuple[int, list[str]]]:
    """(pid, argv) of every live process in session ``sid``."""
    found = []
    for entry in Path("/proc").glob("[0-9]*"):
        try:
            fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
            argv = (entry / "cmdline").read_bytes().decode(errors="replace").split("\0")
        except (OSError, IndexError):
            continue
        if int(fields[3]) == sid and fields[0] != "Z":
            found.append((int(entry.name), argv))
    return found


def _runs(argv: list[str], point: KillPoint) -> bool:
    return bool(argv and argv[0]) and Path(argv[0]).name == point.tool and (
        point.subcommand is None or (len(argv) > 1 and argv[1] == point.subcommand)) and any(
        point.mentions in arg for arg in argv)


def _build_and_kill(dockerfile: Path, point: KillPoint) -> None:
    """Start the build in a session of its own; SIGKILL the whole session at ``point``."""
    build = subprocess.Popen([sys.executable, "-c", BUILD_SCRIPT, str(dockerfile)], cwd=REPO,
                             start_new_session=True, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        deadline, seen = time.monotonic() + 30, None
        while build.poll() is None and time.monotonic() < deadline:
            running = [pid for pid, argv in _session(build.pid) if _runs(argv, point)]
            seen = seen or next(iter(running), None)
            if seen is not None and (not point.once_ended or seen not in running):
                time.sleep(point.delay)
                break
            time.sleep(0.001)
        if build.poll() is None:
            if point.alone:
                os.kill(build.pid, signal.SIGKILL)
            else:
                os.killpg(build.pid, signal.SIGKILL)
        stderr = build.communicate()[1].decode(errors="replace")
        assert build.returncode == -signal.SIGKILL, f"the build ended before the kill point {point}: {stderr}"
        for _ in range(500):  # the killed session's last processes go away
            if not _session(build.pid):
                break
            time.sleep(0.01)
        assert not _session(build.pid)
    finally:
        if build.poll() is None:
            build.kill()
            build.wait()


def _verified(layout: Path, digest: str) -> bytes:
    algorithm, _, hexdigest = digest.partition(":")
    blob = layout / "blobs" / algorithm / hexdigest
    assert blob.is_file(), f"{digest} is missing"
    content = blob.read_bytes()
    assert hashlib.sha256(content).hexdigest() == hexdigest, f"{digest} does not hash to its name"
    return content


def _whole_store(layout: Path) -> set[str]:
    """Check index.json parses and every tag's manifest, config and layers exist and verify; return the tags."""
    index = json.loads((layout / "index.json").read_text())
    tags = set()
    for descriptor in index.get("manifests") or []:
        tags.add(descriptor["annotations"]["org.opencontainers.image.ref.name"])
        manifest = json.loads(_verified(layout, descriptor["digest"]))
        for blob in [manifest["config"], *manifest["layers"]]:
            _verified(layout, blob["digest"])
    return tags


def _leftovers(root: Path) -> set[str]:
    layout = root / "oci"
    return {p.name for p in [*(root / "tmp").glob("*"), *layout.glob(".umoci-*"), *layout.glob("oci-put-blob*")]}


def _image(analysis: helpers.Analysis) -> tuple:
    """What must not depend on how often the build was interrupted: files, config and history."""
    files = analysis.files[["layer", "path", "kind", "size", "mode"]].astype({"kind": str})
    config = analysis.image.config.get("config") or {}
    return (set(files.itertuples(index=False, name=None)), config.get("Env"), config.get("Cmd"),
            [(step.created_by, step.empty_layer) for step in analysis.image.history])


def test_a_build_killed_mid_write_leaves_no_half_cache_entry(store, tmp_path, monkeypatch):
    context = tmp_path / "context"
    context.mkdir()
    # Big enough that adding its layer (umoci compresses it) lasts long enough to be killed in.
    (context / "data.bin").write_bytes(os.urandom(16_000_000))
    (context / "Dockerfile").write_text(KILLED_DOCKERFILE)

    seen = set()
    for point in KILL_POINTS:
        monkeypatch.setenv("LAYERLAB_RUN", point.run)
        _build_and_kill(context / "Dockerfile", point)
        tags = _whole_store(store / "oci")
        # A layer streamed into umoci is tagged pending-… until it is whole: such a tag is never a cache entry.
        assert all(tag.startswith(("base-", "step-", "pending-")) for tag in tags), tags
        seen |= _leftovers(store)
    assert seen, "no kill left anything behind to clean up"
    monkeypatch.delenv("LAYERLAB_RUN")

    # The same build, after all that: it succeeds, cleans up, and gives what a clean store gives.
    again = helpers.build(context / "Dockerfile", name="killed", engine="embedded", progress=lambda n, s: None)
    assert _leftovers(store) == set()
    assert _whole_store(store / "oci") >= {again.tag}
    assert not any(tag.startswith("pending-") for tag in _whole_store(store / "oci"))
    monkeypatch.setenv("LAYERLAB_STORE", str(tmp_path / "clean-store"))
    clean = helpers.build(context / "Dockerfile", name="killed", engine="embedded", progress=lambda n, s: None)
    assert _image(again.analysis) == _image(clean.analysis)
    assert again.analysis.image.config["config"]["Cmd"] == ["/bin/sh"]
    read_back = helpers.analyze(helpers.read_image(f"{store / 'oci'}:{again.tag}"))
    assert read_back.summary() == clean.analysis.summary()


def test_nothing_rewrites_the_store_index_in_place(store, tmp_path):
    """Any process that writes the store's index.json in place is SIGKILL-ed at its first write (strace injects it).

    A build with no RUN step (proot cannot run under strace): its base import,
    its COPY layer and its tag.  Every commit must rename a whole index.json
    into place, so the build completes and the store stays whole.
    """
    from helpers.building.embedded import EmbeddedBuilder

    strace = _strace()
    EmbeddedBuilder(store, settings=current_settings())  # the empty layout, so strace has an index.json to watch
    (tmp_path / "data.bin").write_bytes(os.urandom(500_000))
    (tmp_path / "Dockerfile").write_text("FROM alpine:3.20.3\nCOPY data.bin /data.bin\nCMD [\"/bin/sh\"]\n")
    done = subprocess.run(
        [strace, "-f", "-qq", "-o", "/dev/null", "-P", str(store / "oci" / "index.json"), "-e", "trace=write",
         "-e", "inject=write:signal=SIGKILL", sys.executable, "-m", "helpers", "build", str(tmp_path),
         "--engine", "embedded", "-t", "in-place"],
        capture_output=True, text=True, cwd=REPO,
    )
    assert done.returncode == 0, done.stderr
    assert _whole_store(store / "oci") >= {"in-place"}
    assert _leftovers(store) == set()
