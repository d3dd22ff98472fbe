"""Builds of one call at once: the same outcomes as one by one, and nothing left when they are stopped.

Real builds with the embedded builder (and one with the Docker Engine), each lane a
real process.  Interrupts are real signals sent to a real notebook-like run in a
subprocess; a lane that dies is killed for real (the one fault injected).
"""

from __future__ import annotations

import io
import os
import signal
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import pytest
from layerlab_fixtures import ALPINE_TARBALLS, embedded_tools, processes_naming

from helpers.building.embedded import EmbeddedBuilder
from helpers.edges.progress import print_progress
from helpers.ground.errors import BaseImageMissing, BuildFailed, LayerLabError
from helpers.ground.references import tag_for
from helpers.ground.settings import Settings
from helpers.measuring.analysis import Analysis
from helpers.orchestration.lab import Lab

REPO = Path(__file__).resolve().parents[2]
LANE = "helpers.orchestration.build_lane"
#: Lanes [first, shares], [fails], [third]: shares, given second, would start beside first if lanes were not kept.
VARIANTS = {
    "first": "FROM alpine:3.20.3\nRUN head -c 3000 /dev/urandom > /a && sleep 1\n",
    "shares": "FROM alpine:3.20.3\nRUN head -c 3000 /dev/urandom > /a && sleep 1\nRUN rm /a && sleep 3\n",
    "fails": "FROM alpine:3.20.3\nRUN echo boom && false\n",
    "third": "FROM alpine:3.20.3\nRUN mkdir /t && head -c 5000 /dev/zero > /t/z && sleep 1\n",
}
#: A step that sleeps for an hour, marked so that the test can find it on the host.
SLEEPER = "FROM alpine:3.20.3\nRUN sh -c 'sleep 3600' layerlab-lingering-{mark}\n"


@pytest.fixture
def embedded_env(tmp_path, monkeypatch):
    embedded_tools()
    monkeypatch.setenv("LAYERLAB_ROOTFS", str(ALPINE_TARBALLS))
    monkeypatch.setenv("LAYERLAB_ENGINE", "embedded")
    monkeypatch.setenv("LAYERLAB_OFFLINE", "1")
    (tmp_path / "tmp").mkdir()
    monkeypatch.setenv("TMPDIR", str(tmp_path / "tmp"))  # for the runs in processes of their own
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path / "tmp"))  # for this one, which has read TMPDIR already
    return tmp_path


def _lab(store: Path, at_once: int) -> Lab:
    settings = Settings.from_environment()._replace(store=store, builds_at_once=at_once)
    return Lab(store.parent / "unused.json.gz", needs=["engine"], settings=settings)


def _parent_of(pid: int) -> int | None:
    try:
        return int(Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()[1])
    except (OSError, ValueError, IndexError):
        return None  # it ended meanwhile


class _Watch:
    """The most lane processes alive at one moment, while a call runs (looked at every 50 ms).

    A lane is a child of this process. A lane's own child, between its fork and its exec, carries
    the lane's command line for a moment, and is not counted: once, in CI, one was.
    """

    def __init__(self) -> None:
        self.most, self._done = 0, threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self._done.wait(0.05):
            lanes = [pid for pid in processes_naming(LANE) if _parent_of(pid) == os.getpid()]
            self.most = max(self.most, len(lanes))

    def __enter__(self) -> _Watch:
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._done.set()
        self._thread.join()


def _shape(outcome: Analysis | BuildFailed) -> object:
    if isinstance(outcome, BuildFailed):
        return ("failed", outcome.step, outcome.instruction, outcome.log_tail[-1:])
    return [sorted(layer.entries) for layer in outcome.image.layers]


def test_lanes_at_once_give_what_one_by_one_gives_in_the_order_given(embedded_env, monkeypatch):
    hostile = embedded_env / "cwd"
    (hostile / "helpers").mkdir(parents=True)  # a notebook's folder holding a helpers/ of its own: never the lanes'
    (hostile / "helpers" / "__init__.py").write_text("raise SystemExit('the working folder was imported')\n")
    monkeypatch.chdir(hostile)
    shown = io.StringIO()
    with _Watch() as watch:
        at_once = _lab(embedded_env / "store-at-once", 2).attempt(VARIANTS, progress=print_progress(shown))
    one_by_one_shown = io.StringIO()
    one_by_one = _lab(embedded_env / "store-one-by-one", 1).attempt(VARIANTS,
                                                                     progress=print_progress(one_by_one_shown))
    assert watch.most == 2  # two lanes ran together, never three
    assert list(at_once) == list(VARIANTS)
    assert {name: _shape(outcome) for name, outcome in at_once.items()} == \
        {name: _shape(outcome) for name, outcome in one_by_one.items()}
    failure = at_once["fails"]
    assert isinstance(failure, BuildFailed) and failure.log_tail[-1] == "boom" and failure.step == 2
    first, shares = at_once["first"], at_once["shares"]
    assert isinstance(first, Analysis) and isinstance(shares, Analysis)
    assert shares.image.layers[1].digest == first.image.layers[1].digest  # built after it, from its cache
    assert shown.getvalue() == one_by_one_shown.getvalue()  # the same lines, in the variants' order
    # in the variants' order, though third ended first (fails, then third, ran beside first and shares)
    assert [line.split("]")[0] for line in shown.getvalue().splitlines()] == ["[first", "[shares", "[third"]
    assert list((embedded_env / "tmp").iterdir()) == []  # the lanes' hand-over folder went, and all in it


def _notebook_like(embedded_env: Path, mark: str) -> subprocess.Popen:
    """A run of two lanes that each sleep for an hour, in a process of its own, as a notebook's kernel runs it."""
    script = (
        "import sys; from pathlib import Path\n"
        "from helpers.ground.settings import Settings\n"
        "from helpers.orchestration.lab import Lab\n"
        f"variants = {{name: {SLEEPER!r}.format(mark={mark!r} + '-' + name) for name in ('one', 'two')}}\n"
        "settings = Settings.from_environment()._replace(builds_at_once=2)\n"
        f"Lab({str(embedded_env / 'unused.json.gz')!r}, needs=['engine'], settings=settings).attempt(variants)\n"
    )
    env = {**os.environ, "LAYERLAB_STORE": str(embedded_env / "store"), "PYTHONPATH": str(REPO)}

    def as_a_terminal_leaves_it() -> None:  # a runner started in the background ignores SIGINT, and so its children
        signal.signal(signal.SIGINT, signal.SIG_DFL)
        os.setpgid(0, 0)  # a process group of its own, as a shell gives a job

    return subprocess.Popen([sys.executable, "-c", script], cwd=embedded_env, env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, preexec_fn=as_a_terminal_leaves_it)


def _no_scratch_left(embedded_env: Path) -> bool:
    """Whether every build's scratch folder was removed by the build itself (a killed one leaves its folder)."""
    return list((embedded_env / "store" / "tmp").iterdir()) == []


def _both_sleeping(mark: str) -> None:
    deadline = time.monotonic() + 180
    while time.monotonic() < deadline and not (processes_naming(f"{mark}-one") and processes_naming(f"{mark}-two")):
        time.sleep(0.2)
    assert processes_naming(f"{mark}-one") and processes_naming(f"{mark}-two"), "the two lanes never ran at once"


def _gone(text: str, seconds: float = 90) -> bool:
    deadline = time.monotonic() + seconds
    while processes_naming(text) and time.monotonic() < deadline:
        time.sleep(0.2)
    return processes_naming(text) == []


@pytest.mark.parametrize("sent_to", ["the process", "its process group"])
def test_an_interrupt_stops_every_lane_and_leaves_no_step_file_or_tag(embedded_env, sent_to):
    mark = f"at-once-interrupted-{os.getpid()}"
    run = _notebook_like(embedded_env, mark)
    try:
        _both_sleeping(mark)
        assert all(os.getpgid(pid) not in (run.pid, os.getpgid(0)) for pid in processes_naming(LANE))
        if sent_to == "the process":
            run.send_signal(signal.SIGINT)  # a notebook's stop button
        else:
            os.killpg(run.pid, signal.SIGINT)  # Ctrl-C in a terminal: the lanes, in groups of their own, get it once
        _, err = run.communicate(timeout=120)
        assert b"KeyboardInterrupt" in err  # the interrupt went on, after the lanes stopped
        assert processes_naming(mark) == [] and processes_naming(LANE) == []  # nothing left to wait out
        assert list((embedded_env / "tmp").iterdir()) == []
        assert _no_scratch_left(embedded_env)  # each lane stopped its build and removed what the build made
        tags = EmbeddedBuilder(embedded_env / "store", settings=Settings()).store.index()
        assert not {tag_for("one"), tag_for("two")} & set(tags)  # no half-built image is tagged
    finally:  # a failed run of this test leaves nothing running either
        run.kill()
        run.communicate()


def test_lanes_whose_starter_is_killed_stop_their_builds(embedded_env):
    mark = f"at-once-orphaned-{os.getpid()}"
    run = _notebook_like(embedded_env, mark)
    try:
        _both_sleeping(mark)
        run.kill()  # SIGKILL: nothing in the starter can pass anything on
        run.communicate(timeout=60)
        assert _gone(mark), "a lane's step outlived the process that started it"
        assert _gone(LANE), "a lane outlived the process that started it"
        assert _no_scratch_left(embedded_env)  # told as an interrupt, each lane removed what its build made
    finally:
        run.kill()
        run.communicate()


def test_an_error_in_one_lane_stops_the_others_and_is_raised_as_itself(embedded_env):
    mark = f"at-once-error-{os.getpid()}"
    variants = {"sleeps": SLEEPER.format(mark=mark), "missing": "FROM alpine:9.99\nRUN true\n"}
    with pytest.raises(BaseImageMissing, match="base image alpine:9.99 is not in the embedded builder's store"):
        _lab(embedded_env / "store", 2).attempt(variants)
    assert processes_naming(mark) == [] and processes_naming(LANE) == []
    assert list((embedded_env / "tmp").iterdir()) == []


def test_a_lane_that_dies_is_one_clear_error_naming_its_builds(embedded_env):
    mark = f"at-once-dies-{os.getpid()}"
    variants = {"killed": SLEEPER.format(mark=mark + "-killed"), "other": SLEEPER.format(mark=mark + "-other")}

    def kill_the_first_lane() -> None:
        deadline = time.monotonic() + 180
        while time.monotonic() < deadline and not processes_naming(mark + "-killed"):
            time.sleep(0.2)
        for pid in processes_naming(LANE)[:1]:
            os.kill(pid, signal.SIGKILL)  # the fault: a lane killed outright (the kernel's OOM killer, say)

    killer = threading.Thread(target=kill_the_first_lane, daemon=True)
    killer.start()
    with pytest.raises(LayerLabError) as caught:
        _lab(embedded_env / "store", 2).attempt(variants)
    killer.join()
    message = caught.value.message
    assert message.startswith("the build of ") and "ended without an outcome (exit status -9)" in message
    assert "LAYERLAB_BUILDS_AT_ONCE=1" in (caught.value.hint or "")
    assert _gone(mark) and processes_naming(LANE) == []


@pytest.mark.engine
def test_the_docker_engine_builds_lanes_at_once_too(docker_client, alpine, monkeypatch):
    monkeypatch.setenv("LAYERLAB_ENGINE", "docker")
    settings = Settings.from_environment()._replace(builds_at_once=2)
    marker = str(time.time_ns())  # a fresh step each run: the engine's cache would end a build at once
    variants = {name: f"FROM alpine:3.20.3\nRUN echo {marker} > /{name} && sleep 2\n" for name in ("one", "two")}
    with _Watch() as watch:
        outcomes = Lab("unused.json.gz", needs=["engine"], settings=settings).attempt(variants)
    assert watch.most == 2
    for name, outcome in outcomes.items():
        assert isinstance(outcome, Analysis)
        assert [(e.path, e.size) for e in outcome.image.layers[-1].entries if e.kind == "file"] == \
            [(name, len(marker) + 1)]  # BuildKit also commits /etc, where it made its mount points
