"""A report's process ends as soon as its output is flushed, without the interpreter's teardown, when nothing needs it.

The teardown costs a small image's report about a fifth of the interpreter's start-up
(:func:`helpers.edges.cli.end_process`); an exit handler or a running thread still gets it.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def _run_module(prelude: str, argv: list[str]) -> subprocess.CompletedProcess:
    """``python -m helpers ARGV`` in a process that first runs ``prelude``."""
    script = (f"import runpy, sys\n{prelude}\nsys.argv = ['helpers', *{argv!r}]\n"
              "runpy.run_module('helpers', run_name='__main__')")
    return subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, cwd=ROOT, timeout=120)


def test_a_report_written_to_a_file_is_whole(dive_testdata, tmp_path):
    out = tmp_path / "report.json"
    with out.open("w") as handle:
        done = subprocess.run([sys.executable, "-m", "helpers", "report", "--json",
                               str(dive_testdata / "test-docker-image.tar")], stdout=handle, stderr=subprocess.PIPE,
                              text=True, cwd=ROOT, timeout=120)
    assert done.returncode == 0, done.stderr
    assert len(json.loads(out.read_text())["layers"]) == 14


def test_a_report_skips_the_teardown(dive_testdata):
    noisy = "class Noisy:\n    def __del__(self):\n        print('torn down', file=sys.stderr)\nkept = Noisy()"
    done = _run_module(noisy, ["report", str(dive_testdata / "test-docker-image.tar")])
    assert done.returncode == 0 and "reclaimable" in done.stdout
    assert "torn down" not in done.stderr
    bad = _run_module(noisy, ["report", "/no/such/archive.tar"])
    assert bad.returncode == 2 and bad.stderr.startswith("error: ")  # the status survives the quick end


def test_an_exit_handler_still_runs_after_a_report(dive_testdata):
    handler = "import atexit\natexit.register(lambda: print('handler ran', file=sys.stderr))"
    done = _run_module(handler, ["report", "--json", str(dive_testdata / "test-docker-image.tar")])
    assert done.returncode == 0 and '"layers"' in done.stdout
    assert "handler ran" in done.stderr


def test_a_running_thread_still_gets_the_teardown(dive_testdata):
    thread = ("import threading, time\n"
              "threading.Thread(target=lambda: (time.sleep(0.5), print('thread done', file=sys.stderr))).start()")
    done = _run_module(thread, ["report", str(dive_testdata / "test-docker-image.tar")])
    assert done.returncode == 0 and "thread done" in done.stderr
