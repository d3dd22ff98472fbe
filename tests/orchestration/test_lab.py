"""A notebook's Lab: live where the machine has what the builds need, a replay of a real recording where not.

Recordings are made here by real builds and real reads, then replayed with
``LAYERLAB_ENGINE=recorded`` (nothing builds) and compared with what the live
run measured: every table, the package databases, what a pull moves, and the
bases' provenance.
"""

from __future__ import annotations

import gzip
import json

import pandas as pd
import pytest
from layerlab_fixtures import FIXTURES, LAB_VARIANTS, current_settings, docker_built_by

from helpers.ground.errors import LayerLabError
from helpers.orchestration.lab import Lab, context_digest
from helpers.orchestration.needs import compares_lax, live_blocker, replays, unmet
from helpers.orchestration.recording import RecordingMissing, load_recording
from helpers.views.tables import installed_packages

LAB = {name: (FIXTURES / folder / "Dockerfile").read_text() for name, folder in LAB_VARIANTS.items()}
QUIET = {"progress": lambda name, step: None}


@pytest.fixture(scope="module")
def recorded(docker_client, alpine, tmp_path_factory):
    """A live Lab that recorded one read and one set of builds with a context, and what it measured."""
    folder = tmp_path_factory.mktemp("lab")
    context = folder / "context"
    context.mkdir()
    (context / "note.txt").write_text("copied in\n")
    path = folder / "lab.json.gz"
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("LAYERLAB_RECORD", "1")
        patch.setenv("LAYERLAB_ENGINE", "docker")
        lab = Lab(path, needs=["engine"], images=[alpine], settings=current_settings())
        assert lab.live and lab.status() == "Building live with the Docker Engine, and recording them to lab.json.gz."
        reads = lab.read([alpine], measure_pull=True)
        copied = {"copy": "FROM alpine:3.20.3\nCOPY note.txt /note.txt\n"}
        builds = lab.build({**LAB, **copied}, context, measure_pull=True, **QUIET)
    return path, context, reads, builds, copied


def _replay(path, monkeypatch, **kwargs) -> Lab:
    monkeypatch.setenv("LAYERLAB_ENGINE", "recorded")
    return Lab(path, needs=["engine"], **kwargs, settings=current_settings())


@pytest.mark.engine
def test_a_replay_gives_exactly_what_the_live_run_measured(recorded, monkeypatch):
    path, context, reads, builds, copied = recorded
    lab = _replay(path, monkeypatch)
    assert not lab.live
    assert lab.status().startswith("Replaying lab.json.gz, recorded on ")
    assert lab.status().endswith(": needs an engine to build with: LAYERLAB_ENGINE=recorded: nothing builds here "
                                 "(notebooks replay recordings).")
    again = {**lab.read(list(reads)), **lab.build({**LAB, **copied}, context)}
    for name, live in {**reads, **builds}.items():
        replayed = again[name]
        assert replayed.summary() == live.summary()
        assert replayed.compressed_bytes == live.compressed_bytes and live.compressed_bytes is not None
        assert replayed.image.bases == live.image.bases and live.image.bases[0]["made"] == "made locally"
        assert replayed.image.built_by == live.image.built_by == (None if name in reads else docker_built_by())
        pd.testing.assert_frame_equal(replayed.files, live.files)
        pd.testing.assert_frame_equal(replayed.layers, live.layers)
        pd.testing.assert_frame_equal(installed_packages(replayed), installed_packages(live))
    assert len(installed_packages(again["alpine:3.20.3"])) > 10
    again_lab = Lab(path, needs=["engine"], settings=current_settings())
    pd.testing.assert_frame_equal(lab.provenance(again), again_lab.provenance(again))


@pytest.mark.engine
def test_a_layer_shared_by_images_is_recorded_once(recorded):
    path, *_ = recorded
    with gzip.open(path) as stream:
        document = json.load(stream)
    digests = [d for image in document["images"].values() for d in image["layers"]]
    assert len(document["layers"]) == len(set(digests)) < len(digests)  # the base layer, under four images, once
    base = document["images"]["read/alpine:3.20.3"]["layers"][0]
    assert sum(base in image["layers"] for image in document["images"].values()) == 4


@pytest.mark.engine
def test_a_replay_refuses_builds_it_was_not_made_from(recorded, monkeypatch, tmp_path):
    path, context, reads, _builds, copied = recorded
    lab = _replay(path, monkeypatch)
    with pytest.raises(RecordingMissing, match="recorded from other Dockerfiles for layerlab-test-single-run"):
        lab.attempt({"layerlab-test-single-run": "FROM alpine:3.20.3\nRUN echo changed\n"})
    (tmp_path / "note.txt").write_text("another note\n")
    with pytest.raises(RecordingMissing, match="recorded from another build context for copy"):
        _replay(path, monkeypatch).attempt(copied, tmp_path)
    with pytest.raises(RecordingMissing, match="has no recording of alpine:3.7.3"):
        lab.read(["alpine:3.7.3"])
    with pytest.raises(RecordingMissing, match="recorded from other Dockerfiles for never-built"):
        lab.attempt({"never-built": "FROM alpine:3.20.3\n"})


@pytest.mark.engine
def test_a_variant_name_is_one_dockerfile_per_lab(recorded, monkeypatch):
    path, context, _reads, _builds, copied = recorded
    lab = _replay(path, monkeypatch)
    lab.attempt(copied, context)
    lab.attempt(copied, context)  # the same build again is fine
    with pytest.raises(LayerLabError, match="the variant name 'copy' is used twice, for two Dockerfiles"):
        lab.attempt({"copy": "FROM alpine:3.20.3\n"})


def test_with_nothing_to_build_and_no_recording_it_says_what_is_needed_in_one_line(monkeypatch, tmp_path):
    monkeypatch.setenv("LAYERLAB_ENGINE", "recorded")
    with pytest.raises(RecordingMissing) as caught:
        Lab(tmp_path / "none.json.gz", needs=["engine", "packages"], settings=current_settings())
    assert "cannot build here" in caught.value.message and "no recording at" in caught.value.message
    assert "Debian's package registry" in caught.value.hint and "LAYERLAB_RECORD=1" in caught.value.hint
    assert "\n" not in str(caught.value)
    assert list(tmp_path.iterdir()) == []


def test_a_registry_that_does_not_answer_means_replay_or_a_skip_with_the_reason(monkeypatch, tmp_path):
    monkeypatch.setenv("LAYERLAB_OFFLINE", "1")
    monkeypatch.setenv("LAYERLAB_DEBIAN_MIRROR", "http://127.0.0.1:9/debian")  # a closed port on loopback
    needs = {"needs": ["packages"], "recording": "recordings/r.json.gz", "nbval": "lax"}
    here = current_settings()
    blocker = live_blocker(needs["needs"], settings=here)
    assert blocker.startswith("needs Debian's package registry, and http://127.0.0.1:9/debian does not answer")
    assert unmet(needs, tmp_path, settings=here).endswith("and its recording recordings/r.json.gz does not exist yet")
    (tmp_path / "recordings").mkdir()
    (tmp_path / "recordings" / "r.json.gz").write_bytes(b"")
    assert unmet(needs, tmp_path, settings=here) is None and replays(needs, tmp_path, settings=here)
    assert compares_lax(needs, tmp_path, settings=here) is False  # a replay is exact, so it is checked strictly


def test_offline_with_no_debian_mirror_configured_the_registry_is_not_assumed(monkeypatch):
    import helpers.building.bases

    monkeypatch.setenv("LAYERLAB_OFFLINE", "1")
    monkeypatch.delenv("LAYERLAB_DEBIAN_MIRROR", raising=False)
    monkeypatch.setattr(helpers.building.bases, "apt_sources", lambda root=None: [])  # a machine with no apt at all
    assert "names no Debian mirror" in live_blocker(["packages"], settings=current_settings())
    monkeypatch.setenv("LAYERLAB_OFFLINE", "0")
    assert live_blocker(["packages"], settings=current_settings()) is None  # online, the registry is on the internet


def test_a_context_digest_sees_every_change_and_follows_no_link(tmp_path):
    (tmp_path / "a.c").write_text("int main;\n")
    (tmp_path / "sub").mkdir()
    (tmp_path / "sub" / "b.txt").write_text("b\n")
    first = context_digest(tmp_path)
    (tmp_path / "sub" / "b.txt").write_text("B\n")
    second = context_digest(tmp_path)
    (tmp_path / "sub" / "b.txt").chmod(0o600)
    third = context_digest(tmp_path)
    (tmp_path / "link").symlink_to("/etc/shadow")  # hashed as a link: its target is never read
    fourth = context_digest(tmp_path)
    assert len({first, second, third, fourth}) == 4
    assert context_digest(None) is None


def test_a_recording_of_another_version_is_one_clear_error(tmp_path):
    path = tmp_path / "old.json.gz"
    with gzip.open(path, "wt") as stream:
        json.dump({"format": "layerlab-recording", "version": 1, "images": {}}, stream)
    with pytest.raises(LayerLabError, match="is not a version-2 recording"):
        load_recording(path)
    with gzip.open(path, "wt") as stream:
        json.dump({"format": "layerlab-recording", "version": 2, "layers": {}, "images": {}, "builds": {"x": {}},
                   "reads": {}, "order": ["x"], "metadata": {}}, stream)
    with pytest.raises(LayerLabError, match="is malformed"):
        load_recording(path)
