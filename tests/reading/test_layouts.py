"""Layouts this engine (Docker 20.10) does not write itself, made from real images' real blobs.

* Engine 25+'s ``docker save``: an OCI layout whose layers are the uncompressed
  ``layer.tar`` blobs named by diff_id, plus a compatibility ``manifest.json``.
  Re-laid here from a real legacy ``docker save``, member for member, the way
  moby's tarexport writes it; and once more with the OCI manifest's layers out
  of order, as Engine 25.0.0 wrote them, to check that ``manifest.json`` wins.
* A multi-platform OCI layout: a real linux/amd64 image (skopeo from the engine)
  next to dive's real linux/arm64 test image, under one index, with a nested
  index and an attestation manifest that must be skipped.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import shutil
import subprocess
import sys
import tarfile
from pathlib import Path

import pytest
from layerlab_fixtures import saved_format

import helpers
from helpers.ground.errors import PlatformNotFound

OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
OCI_INDEX = "application/vnd.oci.image.index.v1+json"


def _digest(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


def _add(tar: tarfile.TarFile, name: str, data: bytes) -> None:
    info = tarfile.TarInfo(name)
    info.size = len(data)
    tar.addfile(info, io.BytesIO(data))


def _relay_as_engine25(legacy: Path, out: Path, reverse_oci_layers: bool = False) -> None:
    """Write ``legacy`` (a classic ``docker save``) again in Engine 25+'s OCI form."""
    members: dict[str, bytes] = {}
    with tarfile.open(legacy) as source:
        for member in source:
            if member.isfile():
                members[member.name] = source.extractfile(member).read()
    entry = json.loads(members["manifest.json"])[0]
    config = members[entry["Config"]]
    layers = [members[name] for name in entry["Layers"]]
    descriptors = [
        {"mediaType": "application/vnd.oci.image.layer.v1.tar", "digest": _digest(blob), "size": len(blob)}
        for blob in layers
    ]
    oci_layers = list(reversed(descriptors)) if reverse_oci_layers else descriptors
    manifest = json.dumps({
        "schemaVersion": 2, "mediaType": OCI_MANIFEST,
        "config": {"mediaType": "application/vnd.oci.image.config.v1+json", "digest": _digest(config),
                   "size": len(config)},
        "layers": oci_layers,
    }).encode()
    index = json.dumps({"schemaVersion": 2, "mediaType": OCI_INDEX, "manifests": [
        {"mediaType": OCI_MANIFEST, "digest": _digest(manifest), "size": len(manifest)}]}).encode()
    compat = json.dumps([{
        "Config": "blobs/sha256/" + _digest(config)[7:],
        "RepoTags": entry.get("RepoTags"),
        "Layers": ["blobs/sha256/" + d["digest"][7:] for d in descriptors],
    }]).encode()
    with tarfile.open(out, "w") as tar:
        for blob in [config, manifest, *layers]:
            _add(tar, "blobs/sha256/" + _digest(blob)[7:], blob)
        _add(tar, "oci-layout", b'{"imageLayoutVersion":"1.0.0"}')
        _add(tar, "index.json", index)
        _add(tar, "manifest.json", compat)


def _columns(analysis) -> list[tuple]:
    frame = analysis.files[["layer", "path", "kind", "size", "mode", "uid", "gid", "link", "visible", "hidden_by"]]
    return sorted(tuple(str(v) for v in row) for row in frame.itertuples(index=False))


@pytest.fixture(scope="module")
def legacy_archive(docker_client, lab, tmp_path_factory) -> tuple[Path, helpers.Analysis]:
    case = lab["lab-multi-run"]
    path = tmp_path_factory.mktemp("legacy") / "image.tar"
    with path.open("wb") as out:
        for chunk in docker_client.images.get(case.tag).save(named=True):
            out.write(chunk)
    return path, helpers.analyze(helpers.read_image(path))


@pytest.mark.engine
@pytest.mark.parametrize("reverse", [False, True], ids=["in-order", "engine-25.0.0-order"])
def test_engine25_docker_save_reads_like_the_legacy_archive(legacy_archive, docker_client, tmp_path, reverse):
    legacy_path, legacy = legacy_archive
    relaid = tmp_path / "engine25.tar"
    _relay_as_engine25(legacy_path, relaid, reverse_oci_layers=reverse)
    analysis = helpers.analyze(helpers.read_image(relaid))
    assert analysis.image.format == "docker-archive+oci"
    assert legacy.image.format == saved_format(docker_client)  # on Engine 25+ the engine's own save is OCI too
    assert analysis.summary() == legacy.summary()
    assert _columns(analysis) == _columns(legacy)
    assert analysis.reclaimable_bytes == 16 * 1024 * 1024


@pytest.fixture(scope="module")
def multi_platform(docker_client, lab, skopeo, dive_testdata, tmp_path_factory) -> Path:
    """An OCI layout directory whose nested index holds linux/arm64, an attestation and linux/amd64."""
    root = tmp_path_factory.mktemp("multi") / "layout"
    case = lab["lab-multi-run"]
    saved = root.parent / "saved.tar"
    with saved.open("wb") as out:  # skopeo's docker-daemon: reaches only the default engine, with too old an API
        for chunk in docker_client.images.get(case.tag).save():
            out.write(chunk)
    subprocess.run([skopeo, "--insecure-policy", "copy", "-q", f"docker-archive:{saved}", f"oci:{root}:amd64"],
                   check=True)
    amd64 = json.loads((root / "index.json").read_text())["manifests"][0]
    amd64 = {"mediaType": OCI_MANIFEST, "digest": amd64["digest"], "size": amd64["size"],
             "platform": {"os": "linux", "architecture": "amd64"}}
    with tarfile.open(dive_testdata / "test-oci-gzip-image.tar") as dive:
        arm64 = json.loads(dive.extractfile("index.json").read())["manifests"][0]
        for member in dive:
            name = member.name
            if member.isfile() and name.startswith("blobs/sha256/"):
                data = dive.extractfile(member).read()
                # Written under the digest we computed, never under the member's own name.
                (root / "blobs" / "sha256" / hashlib.sha256(data).hexdigest()).write_bytes(data)
    attestation = {"mediaType": OCI_MANIFEST, "digest": "sha256:" + "0" * 64, "size": 1,
                   "platform": {"os": "unknown", "architecture": "unknown"},
                   "annotations": {"vnd.docker.reference.type": "attestation-manifest"}}
    nested = json.dumps({"schemaVersion": 2, "mediaType": OCI_INDEX,
                         "manifests": [arm64, attestation, amd64]}).encode()
    (root / "blobs" / "sha256" / hashlib.sha256(nested).hexdigest()).write_bytes(nested)
    (root / "index.json").write_text(json.dumps({"schemaVersion": 2, "mediaType": OCI_INDEX, "manifests": [
        {"mediaType": OCI_INDEX, "digest": _digest(nested), "size": len(nested)}]}))
    return root


@pytest.mark.engine
def test_a_multi_platform_index_gives_linux_amd64_unless_told_otherwise(multi_platform, lab):
    default = helpers.analyze(helpers.read_image(multi_platform))
    assert default.image.format == "oci-layout"
    assert default.summary() == lab["lab-multi-run"].analysis.summary()
    arm64 = helpers.analyze(helpers.read_image(multi_platform, platform="linux/arm64"))
    assert (arm64.stored_bytes, len(arm64.image.layers)) == (11189, 1)
    assert arm64.image.config["architecture"] == "arm64"


@pytest.mark.engine
def test_a_platform_the_index_lacks_is_one_clear_error(multi_platform, tmp_path):
    with pytest.raises(PlatformNotFound, match=r"linux/s390x.*linux/amd64, linux/arm64"):
        helpers.read_image(multi_platform, platform="linux/s390x")
    done = subprocess.run([sys.executable, "-m", "helpers", "report", str(multi_platform), "--platform", "linux/s390x"],
                          capture_output=True, text=True)
    assert done.returncode == 2
    assert done.stderr.startswith("error: ") and done.stderr.count("\n") == 1
    assert "Traceback" not in done.stderr


@pytest.mark.engine
def test_a_layout_directory_reads_nothing_outside_itself(multi_platform, tmp_path):
    """A member that is a symlink out of the layout is refused, and said to be: the reader never follows it out."""
    copy = tmp_path / "layout"
    shutil.copytree(multi_platform, copy, symlinks=True)
    outside = tmp_path / "outside.json"
    index = copy / "index.json"
    outside.write_bytes(index.read_bytes())
    index.unlink()
    index.symlink_to(outside)  # a good index: followed, it would read
    with pytest.raises(helpers.LayerLabError, match="`index.json` in .* is a symlink leading out of the layout"):
        helpers.read_image(copy)


def test_a_blob_swapped_for_a_fifo_after_its_check_is_refused_not_waited_on(skopeo, tmp_path, monkeypatch):
    """The swap is timed by a fault injected between the check and the open; the FIFO itself is real."""
    import json
    import threading

    from layerlab_fixtures import ALPINE_TARBALLS

    from helpers.ground.errors import ArchiveError
    from helpers.reading import oci_layout
    from helpers.reading.files import read_path

    layout = tmp_path / "layout"
    tarball = ALPINE_TARBALLS / "alpine-minirootfs-3.20.3-x86_64.tar.gz"
    subprocess.run([skopeo, "--insecure-policy", "copy", "-q", f"tarball:{tarball}", f"oci:{layout}:t"], check=True)
    manifest = json.loads((layout / "index.json").read_text())["manifests"][0]["digest"].split(":")[1]
    layer = json.loads((layout / "blobs" / "sha256" / manifest).read_text())["layers"][0]["digest"].split(":")[1]
    blob = layout / "blobs" / "sha256" / layer
    checked = oci_layout.LayoutDirectory._lookup

    def check_then_swap(self, name):
        found = checked(self, name)
        if name.endswith(layer) and blob.is_file():
            blob.unlink()
            os.mkfifo(blob)  # nothing ever writes it: opening it to read would wait forever
        return found

    monkeypatch.setattr(oci_layout.LayoutDirectory, "_lookup", check_then_swap)
    outcome: list[object] = []
    reader = threading.Thread(target=lambda: outcome.append(_try(lambda: read_path(layout))), daemon=True)
    reader.start()
    reader.join(60)
    assert not reader.is_alive(), "the read blocked on the FIFO"
    assert isinstance(outcome[0], ArchiveError) and "a FIFO" in str(outcome[0])


def _try(read):
    try:
        return read()
    except Exception as exc:  # the outcome is checked by the caller
        return exc
