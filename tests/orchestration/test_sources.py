"""A source is parsed once: skopeo's transport prefixes say what it is, and read exactly what the bare form reads."""

from __future__ import annotations

import subprocess
import sys

import pytest
from layerlab_fixtures import current_settings

import helpers
from helpers.ground.errors import SourceNotFound
from helpers.ground.model import Source
from helpers.orchestration.sources import save_stream
from helpers.reading.files import read_archive_stream
from helpers.reading.images import read_image
from helpers.reading.oci_documents import RefNotFound
from helpers.reading.source import parse_source


def _same(one: helpers.Analysis, other: helpers.Analysis) -> None:
    assert one.summary() == other.summary()
    assert one.files.equals(other.files)


@pytest.mark.parametrize(("text", "expected"), [
    ("docker-archive:/x/image.tar", Source("docker-archive", "/x/image.tar")),
    ("oci-archive:/x/image.tar", Source("oci-archive", "/x/image.tar")),
    ("oci:/x/layout:v1", Source("oci", "/x/layout", "v1")),
    ("oci:/x/layout", Source("oci", "/x/layout")),
    ("docker-daemon:alpine:3.20.3", Source("docker-daemon", "alpine:3.20.3")),
    ("alpine:3.20.3", Source("name", "alpine:3.20.3")),
    ("docker:24-dind", Source("name", "docker:24-dind")),  # an image called docker, not a transport
])
def test_a_source_is_parsed_as_skopeo_writes_it(text, expected):
    assert parse_source(text) == expected
    assert str(parse_source(text)) == text


@pytest.mark.parametrize(("text", "words"), [
    ("docker://alpine:3.20.3", "is in a registry, and nothing here pulls it"),
    ("oci:", "names no oci source"),
    ("docker-archive:", "names no docker-archive source"),
    ("", "names no source"),
    ("docker-archive:/nonexistent/image.tar", "does not exist"),
])
def test_a_source_that_cannot_be_read_is_one_clear_error(text, words):
    with pytest.raises(SourceNotFound, match=words) as raised:
        read_image(text, settings=current_settings())
    assert raised.value.hint


def test_a_transport_prefix_reads_what_the_bare_path_reads(dive_testdata):
    for name, transport in (("test-docker-image.tar", "docker-archive"), ("test-oci-gzip-image.tar", "oci-archive")):
        path = dive_testdata / name
        bare, prefixed = (helpers.analyze(read_image(source, settings=current_settings()))
                          for source in (str(path), f"{transport}:{path}"))
        _same(bare, prefixed)


def test_an_archive_transport_refuses_a_folder(tmp_path):
    with pytest.raises(SourceNotFound, match="is not a file"):
        read_image(f"docker-archive:{tmp_path}", settings=current_settings())
    with pytest.raises(SourceNotFound, match="is not an OCI image layout"):
        read_image(f"oci:{tmp_path}:latest", settings=current_settings())


def test_oci_names_one_image_of_a_layout_by_tag(dive_testdata, skopeo, tmp_path):
    layout = tmp_path / "layout"
    archive = dive_testdata / "test-docker-image.tar"
    subprocess.run([skopeo, "--insecure-policy", "copy", "-q", f"docker-archive:{archive}", f"oci:{layout}:mine"],
                   check=True, capture_output=True, timeout=300)
    image = read_image(f"oci:{layout}:mine", settings=current_settings())
    assert image.source == f"{layout}:mine"
    by_path = read_image(f"{layout}:mine", settings=current_settings())
    assert helpers.analyze(image).summary() == helpers.analyze(by_path).summary()
    with pytest.raises(RefNotFound, match="no image tagged"):
        read_image(f"oci:{layout}:theirs", settings=current_settings())


def test_the_parsed_source_travels_with_the_image_and_saves_it_again(dive_testdata, skopeo, tmp_path):
    """A layout's tag is never joined into text and split again: the image keeps its source, parsed."""
    archive = dive_testdata / "test-docker-image.tar"
    subprocess.run([skopeo, "--insecure-policy", "copy", "-q", f"docker-archive:{archive}",
                    f"oci:{tmp_path / 'plain'}:mine"], check=True, capture_output=True, timeout=300)
    layout = (tmp_path / "plain").rename(tmp_path / "with:colon")  # a name that would split wrongly as text
    image = read_image(Source("oci", str(layout), "mine"), settings=current_settings())
    assert image.origin == Source("oci", str(layout), "mine")
    assert read_image(str(archive), settings=current_settings()).origin == Source("path", str(archive))
    with save_stream(image.origin, settings=current_settings()) as stream:
        again = read_archive_stream(stream, "saved")
    assert helpers.analyze(again).summary()["final_bytes"] == helpers.analyze(image).summary()["final_bytes"]


@pytest.mark.engine
def test_docker_daemon_reads_the_engine_s_image(alpine, docker_client):
    ours = helpers.analyze(read_image(f"docker-daemon:{alpine}", settings=current_settings()))
    assert ours.image.format.startswith("docker-engine/")
    assert ours.image.origin == Source("docker-daemon", alpine)
    assert ours.summary() == helpers.analyze(read_image(alpine, settings=current_settings())).summary()


def test_the_cli_takes_a_transport_and_refuses_a_registry_in_one_line(dive_testdata):
    path = dive_testdata / "test-docker-image.tar"
    done = subprocess.run([sys.executable, "-m", "helpers", "report", f"docker-archive:{path}"],
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    refused = subprocess.run([sys.executable, "-m", "helpers", "report", "docker://alpine:3.20.3"],
                             capture_output=True, text=True, timeout=120)
    assert refused.returncode == 2
    assert refused.stderr.splitlines() == [refused.stderr.splitlines()[-1]]
    assert refused.stderr.startswith("error: 'docker://alpine:3.20.3' is in a registry")
