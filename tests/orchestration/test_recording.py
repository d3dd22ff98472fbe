"""Recordings: only a real build writes one; replaying it gives exactly the live tables and figures."""

from __future__ import annotations

import gzip
import json
import os
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest
from layerlab_fixtures import FIXTURES, LAB_VARIANTS, current_settings

import helpers
from helpers.edges.notebook import build_or_replay
from helpers.orchestration.lab import record
from helpers.orchestration.recording import RecordingMissing, load_recording

LAB = {name: FIXTURES / folder / "Dockerfile" for name, folder in LAB_VARIANTS.items()}


@pytest.fixture(scope="module")
def recorded(docker_client, alpine, tmp_path_factory):
    path = tmp_path_factory.mktemp("recordings") / "lab.json.gz"
    return record(LAB, path, client=docker_client, progress=lambda name, step: None, settings=current_settings())


@pytest.mark.engine
def test_replaying_gives_exactly_the_live_tables_and_figures(recorded):
    replayed = load_recording(recorded.path)
    assert list(replayed.analyses) == list(LAB)
    for name, live in recorded.analyses.items():
        again = replayed.analyses[name]
        assert again.summary() == live.summary()
        pd.testing.assert_frame_equal(again.files, live.files)
        pd.testing.assert_frame_equal(again.layers, live.layers)
        pd.testing.assert_frame_equal(again.hidden, live.hidden)
        assert again.image.history == live.image.history
    assert replayed.analyses["layerlab-test-multi-run"].reclaimable_bytes == 16 * 1024 * 1024


@pytest.mark.engine
def test_a_recording_says_where_and_when_it_was_made(recorded, docker_client):
    meta = load_recording(recorded.path).metadata
    version = docker_client.version()
    assert meta["engine"] == "Docker Engine"
    assert meta["engine_version"] == version["Version"]
    assert meta["platform"] == f"{version['Os']}/{version['Arch']}"
    assert meta["base_images"]["alpine:3.20.3"]["id"] == docker_client.images.get("alpine:3.20.3").id
    assert meta["base_images"]["alpine:3.20.3"]["made"] == "made locally"
    assert load_recording(recorded.path).dockerfiles == {name: path.read_text() for name, path in LAB.items()}
    assert meta["recorded_on"].count("-") == 2
    assert "recorded on" in load_recording(recorded.path).describe()


@pytest.mark.engine
def test_the_recording_is_compact_and_written_without_leftovers(recorded):
    folder = recorded.path.parent
    assert sorted(p.name for p in folder.iterdir()) == ["lab.json.gz"]
    assert recorded.path.stat().st_size < 64 * 1024
    with gzip.open(recorded.path) as stream:
        assert json.load(stream)["format"] == "layerlab-recording"


@pytest.mark.engine
def test_offline_builds_that_need_the_internet_replay_and_say_so(recorded, capsys):
    analyses = build_or_replay(LAB, recorded.path, needs_internet=True)
    banner = capsys.readouterr().out
    assert banner.startswith("Replaying lab.json.gz, recorded on ")
    assert "offline mode" in banner
    assert analyses["layerlab-test-single-run"].reclaimable_bytes == 0


def test_with_nothing_to_build_and_no_recording_the_message_says_what_is_needed(tmp_path, monkeypatch):
    monkeypatch.setenv("LAYERLAB_OFFLINE", "1")
    with pytest.raises(RecordingMissing, match="cannot build here .*offline mode.*no recording at") as caught:
        build_or_replay(LAB, tmp_path / "none.json.gz", needs_internet=True)
    assert "the internet" in caught.value.hint
    assert list(tmp_path.iterdir()) == []


def test_without_the_chosen_engine_there_is_nothing_to_record(tmp_path):
    out = tmp_path / "out.json.gz"
    done = subprocess.run(
        [sys.executable, "-m", "helpers", "record", str(out), "-v", f"lab={LAB['layerlab-test-multi-run']}"],
        capture_output=True, text=True,
        env={**os.environ, "DOCKER_HOST": "unix:///nonexistent/docker.sock", "LAYERLAB_ENGINE": "docker"},
    )
    assert done.returncode == 2
    assert done.stderr.startswith("error: no Docker Engine answered at unix:///nonexistent/docker.sock")
    assert list(tmp_path.iterdir()) == []


def test_a_corrupt_recording_is_one_clear_error(tmp_path):
    bad = tmp_path / "bad.json.gz"
    bad.write_bytes(b"not gzip")
    with pytest.raises(helpers.LayerLabError, match="unreadable"):
        load_recording(bad)


@pytest.mark.engine
def test_the_cli_records_for_real(docker_client, alpine, tmp_path):
    out = tmp_path / "cli.json.gz"
    done = subprocess.run(
        [sys.executable, "-m", "helpers", "record", str(out), "-v", f"single={LAB['layerlab-test-single-run']}"],
        capture_output=True, text=True,
    )
    assert done.returncode == 0, done.stderr
    assert "[single] step 2/2" in done.stderr
    assert load_recording(Path(out)).analyses["single"].stored_bytes > 0


@pytest.mark.engine
def test_a_failing_variant_is_recorded_and_replays_as_the_same_row(docker_client, alpine, tmp_path, monkeypatch):
    from helpers.edges.notebook import attempt_or_replay
    from helpers.views.tables import attempts_table

    variants = {
        "fails": "FROM alpine:3.20.3\nRUN echo recorded-failure && false\n",
        "built": LAB["layerlab-test-single-run"],
    }
    made = record(variants, tmp_path / "matrix.json.gz", client=docker_client, progress=lambda name, step: None,
                  settings=current_settings())
    monkeypatch.setenv("LAYERLAB_OFFLINE", "1")
    replayed = attempt_or_replay(variants, made.path, needs_internet=True)
    pd.testing.assert_frame_equal(attempts_table(replayed), attempts_table(made.outcomes))
    assert attempts_table(replayed).outcome.tolist() == ["failed", "built"]
    assert attempts_table(replayed).last_log_line.iloc[0] == "recorded-failure"
    with pytest.raises(helpers.LayerLabError, match="recorded-failure"):
        build_or_replay(variants, made.path, needs_internet=True)


@pytest.mark.engine
def test_a_recording_replays_only_for_the_dockerfiles_it_was_made_from(recorded, monkeypatch):
    monkeypatch.setenv("LAYERLAB_OFFLINE", "1")
    changed = {**LAB, "layerlab-test-single-run": "FROM alpine:3.20.3\nRUN echo something else\n"}
    with pytest.raises(RecordingMissing, match="recorded from other Dockerfiles for layerlab-test-single-run"):
        build_or_replay(changed, recorded.path, needs_internet=True)


@pytest.mark.engine
def test_a_live_run_with_layerlab_record_writes_the_recording(docker_client, alpine, tmp_path, monkeypatch, capsys):
    from helpers.edges.notebook import attempt_or_replay

    monkeypatch.setenv("LAYERLAB_RECORD", "1")
    path = tmp_path / "made.json.gz"
    variants = {"single": LAB["layerlab-test-single-run"]}
    live = attempt_or_replay(variants, path, needs_internet=False, progress=lambda name, step: None)
    assert capsys.readouterr().out.startswith("Recorded made.json.gz, recorded on ")
    assert load_recording(path).analyses["single"].summary() == live["single"].summary()


def test_a_writer_killed_mid_write_leaves_the_old_recording_whole(tmp_path):
    """SIGKILL while a big recording is being written: the target keeps its old content, whole."""
    import signal
    import time

    from helpers.orchestration.recording import _write_atomically

    target = tmp_path / "kept.json.gz"
    _write_atomically(target, {"format": "layerlab-recording", "version": 1, "old": True})
    writer = subprocess.Popen([sys.executable, "-c", (
        "import sys; from pathlib import Path; from helpers.orchestration.recording import _write_atomically; "
        "_write_atomically(Path(sys.argv[1]), {'big': ['x' * 100] * 1_000_000})"), str(target)])
    for _ in range(1000):
        if list(tmp_path.glob(".kept.json.gz.*.partial")):
            break
        time.sleep(0.01)
    writer.send_signal(signal.SIGKILL)
    writer.wait()
    assert writer.returncode == -signal.SIGKILL
    with gzip.open(target) as stream:
        assert json.load(stream)["old"] is True  # the old recording, whole
    assert list(tmp_path.glob(".kept.json.gz.*.partial"))  # what the killed writer could not clean up
    _write_atomically(target, {"format": "layerlab-recording", "version": 1, "new": True})
    assert sorted(p.name for p in tmp_path.iterdir()) == ["kept.json.gz"]  # the next write cleans up
