"""Offline means offline: a Dockerfile that fetches from the network is refused before either engine runs.

The Docker Engine downloads ``ADD <url>`` with the daemon's own network, which
``network_mode="none"`` does not cover.  A real HTTP server on loopback (the
daemon's network reaches it) counts every request it gets: offline, it must get
none, whichever engine was asked, and whichever way the URL was written.
"""

from __future__ import annotations

import http.server
import threading

import pytest
from layerlab_fixtures import ALPINE_TARBALLS, embedded_tools

import helpers
from helpers.ground.errors import DockerfileError


@pytest.fixture
def server():
    hits: list[str] = []

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self):  # noqa: N802 (the standard library's name)
            hits.append(self.path)
            body = b"fetched\n"
            self.send_response(200)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args):
            pass

    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}", hits
    httpd.shutdown()


FORMS = [
    "ADD {url}/file /file",
    'ADD ["{url}/file", "/file"]',
    "ARG SOURCE={url}/file\nADD $SOURCE /file",
    "ENV SOURCE {url}\nADD ${{SOURCE}}/file /file",
    "ADD --chown=0:0 {url}/file /file",
]


@pytest.mark.parametrize("form", FORMS)
def test_the_docker_engine_is_never_asked_to_fetch_offline(docker_client, alpine, server, tmp_path, form):
    url, hits = server
    with pytest.raises(DockerfileError, match=r"fetches from the network, and offline mode") as caught:
        helpers.build(f"FROM {alpine}\n" + form.format(url=url) + "\n", tmp_path, name="fetch", client=docker_client)
    assert "\n" not in str(caught.value)
    assert hits == []


@pytest.mark.parametrize("form", FORMS[:2])
def test_the_embedded_builder_refuses_it_offline_too(server, tmp_path, monkeypatch, form):
    embedded_tools()
    url, hits = server
    monkeypatch.setenv("LAYERLAB_STORE", str(tmp_path / "store"))
    monkeypatch.setenv("LAYERLAB_ROOTFS", str(ALPINE_TARBALLS))
    (tmp_path / "context").mkdir()
    with pytest.raises(DockerfileError, match="offline mode"):
        helpers.build("FROM alpine:3.20.3\n" + form.format(url=url) + "\n", tmp_path / "context",
                      engine="embedded", name="fetch")
    assert hits == []


def test_online_the_embedded_builder_says_it_does_not_download(server, tmp_path, monkeypatch):
    embedded_tools()
    url, hits = server
    monkeypatch.setenv("LAYERLAB_OFFLINE", "0")
    monkeypatch.setenv("LAYERLAB_STORE", str(tmp_path / "store"))
    monkeypatch.setenv("LAYERLAB_ROOTFS", str(ALPINE_TARBALLS))
    (tmp_path / "context").mkdir()
    with pytest.raises(DockerfileError, match="the embedded builder does not download") as caught:
        helpers.build(f"FROM alpine:3.20.3\nADD {url}/file /file\n", tmp_path / "context", engine="embedded",
                      name="fetch")
    assert "not in the build context" not in str(caught.value)
    assert hits == []
