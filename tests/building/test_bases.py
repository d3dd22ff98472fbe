"""Base images made the way the official ones are: the recipes, the mirror from apt's own configuration, the CLI.

The Debian base itself is made once, by .ci/run, with ``python -m helpers base
debian:bookworm-slim`` (debuerreotype takes about 40 s); these tests check what
it made against the recipe, and run every failure path for real.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from layerlab_fixtures import ALPINE_TARBALLS, current_settings, need

import helpers
from helpers.building.bases import (
    RECIPES,
    apt_sources,
    debian_mirror,
    debian_sources,
    dockerfile,
    find_rootfs,
    make_debian_rootfs,
    provide,
)
from helpers.building.checksums import verified_copy
from helpers.ground.errors import BaseImageMissing, LayerLabError
from helpers.reading.layer_stream import scan_layer

ROOT = Path(__file__).resolve().parents[2]
NO_DEBUERREOTYPE = "debuerreotype is not installed (apt-get install debuerreotype)"


def _apt(root: Path, files: dict[str, str | bytes]) -> Path:
    for name, text in files.items():
        path = root / "etc" / "apt" / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(text if isinstance(text, bytes) else text.encode())
    return root


DEB822 = """\
Types: deb deb-src
URIs: http://mirror.example/debian http://other.example/debian
Suites: bookworm bookworm-updates
Components: main contrib

Types: deb-src
URIs: http://sources-only.example/debian
Suites: bookworm

Types: deb
URIs: http://disabled.example/debian
Suites: bookworm
Enabled: no

Types: deb
URIs: http://mirror.example/debian-security
Suites: bookworm-security
Components: main
"""


def test_apt_sources_reads_both_formats_and_skips_what_names_no_mirror(tmp_path):
    root = _apt(tmp_path, {
        "sources.list.d/debian.sources": DEB822,
        "sources.list": "# a comment\ndeb [arch=amd64 signed-by=/k.gpg] http://line.example/debian bookworm main\n"
                        "deb-src http://line.example/debian bookworm main\n\n  # deb http://commented.example/x a\n",
        "sources.list.d/extra.list": "deb http://list.example/ubuntu noble main universe\n",
        "sources.list.d/garbage.sources": b"\xff\xfe\x00\x01 not deb822 at all\n\n\n::::\n",
    })
    uris = [source.uri for source in apt_sources(root)]
    assert uris == ["http://mirror.example/debian", "http://other.example/debian",
                    "http://mirror.example/debian-security", "http://line.example/debian",
                    "http://list.example/ubuntu"]
    assert apt_sources(root)[3].suites == ("bookworm",) and apt_sources(root)[3].components == ("main",)
    assert apt_sources(tmp_path / "nowhere") == []


def test_the_mirror_is_the_first_debian_archive_apt_names(tmp_path):
    root = _apt(tmp_path, {"sources.list.d/debian.sources": DEB822})
    assert debian_mirror(root) == ("http://mirror.example/debian", "http://mirror.example/debian-security")
    assert debian_mirror(root, override="http://given.example/debian")[0] == "http://given.example/debian"


def test_a_machine_whose_apt_names_no_debian_mirror_is_one_clear_error(tmp_path):
    root = _apt(tmp_path, {"sources.list": "deb http://archive.ubuntu.com/ubuntu noble main\n"})
    with pytest.raises(BaseImageMissing, match="names no Debian mirror") as caught:
        debian_mirror(root)
    assert "LAYERLAB_DEBIAN_MIRROR" in caught.value.hint


def test_the_sources_list_is_the_official_images_deb822_file():
    from debian import deb822

    text = debian_sources("bookworm", "http://m.example/debian", "http://m.example/debian-security")
    paragraphs = list(deb822.Deb822.iter_paragraphs(text.splitlines(), use_apt_pkg=False))
    assert [(p["URIs"], p["Suites"]) for p in paragraphs] == [
        ("http://m.example/debian", "bookworm bookworm-updates"),
        ("http://m.example/debian-security", "bookworm-security")]
    assert {p["Signed-By"] for p in paragraphs} == {"/usr/share/keyrings/debian-archive-keyring.gpg"}


def test_the_recipes_are_the_official_dockerfiles(tmp_path):
    assert dockerfile("alpine:3.20.3", Path("alpine-minirootfs-3.20.3-x86_64.tar.gz")) == (
        'FROM scratch\nADD alpine-minirootfs-3.20.3-x86_64.tar.gz /\nCMD ["/bin/sh"]\n')
    assert dockerfile("docker.io/library/debian:bookworm-slim", Path("debian-bookworm-slim-rootfs.tar")) == (
        'FROM scratch\nADD debian-bookworm-slim-rootfs.tar /\nCMD ["bash"]\n')
    assert set(RECIPES) == {"alpine", "debian"}
    (tmp_path / "debian-bookworm-slim-rootfs.tar").write_bytes(b"")
    for official in ["debian:bookworm-slim", "library/debian:bookworm-slim", "docker.io/library/debian:bookworm-slim"]:
        assert find_rootfs(official, [tmp_path]) == tmp_path / "debian-bookworm-slim-rootfs.tar"
    assert find_rootfs("debian:trixie-slim", [tmp_path]) is None
    assert find_rootfs("ubuntu:24.04", [tmp_path]) is None
    # A tag is never a pattern or a path: nothing matches more than its own file, nothing climbs out.
    (tmp_path / "debian-other-rootfs.tar").write_bytes(b"")
    for hostile in ["debian:*", "debian:?ookworm-slim", "debian:[b]ookworm-slim", "debian:../debian-other",
                    "debian:..", "debian:", "someone/debian:bookworm-slim", "quay.io/debian:bookworm-slim"]:
        assert find_rootfs(hostile, [tmp_path]) is None, hostile


def test_a_tarball_that_does_not_match_its_sha256sums_is_refused(tmp_path):
    source = ALPINE_TARBALLS / "alpine-minirootfs-3.7.3-x86_64.tar.gz"
    need(source.is_file(), f"{source} is missing")
    copy = tmp_path / source.name
    shutil.copyfile(source, copy)
    (tmp_path / "SHA256SUMS").write_text(f"{'0' * 64}  {source.name}\n")
    with pytest.raises(LayerLabError, match="does not match its SHA256SUMS"):
        verified_copy(copy)
    with pytest.raises(LayerLabError, match="does not match its SHA256SUMS"):
        provide("alpine:3.7.3", [tmp_path])
    (tmp_path / "SHA256SUMS").write_text(f"{hashlib.sha256(copy.read_bytes()).hexdigest()}  {source.name}\n")
    assert provide("alpine:3.7.3", [tmp_path])["tarball"] == str(copy)


def _entries(image) -> set:
    [layer] = image.layers
    return {(e.path, e.kind, e.size, e.link) for e in layer.entries}


def _tarball_entries(tarball: Path) -> set:
    with tarball.open("rb") as stream:
        return {(e.path, e.kind, e.size, e.link) for e in scan_layer(stream).entries}


def _cli(*args: str, **kwargs) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "helpers", "base", *args], capture_output=True, text=True,
                          cwd=ROOT, **kwargs)


def test_the_cli_says_in_one_line_what_it_cannot_make(tmp_path):
    for args, message in [
        (["ubuntu:24.04"], "error: no recipe makes ubuntu:24.04"),
        (["alpine:9.9.9", "--rootfs", str(tmp_path)], "error: no alpine-minirootfs-9.9.9-*.tar.gz in"),
        (["debian:bookworm-fat", "--rootfs", str(tmp_path)], "error: debian:bookworm-fat is not a tag this recipe"),
    ]:
        done = _cli(*args, "--no-docker")
        assert done.returncode == 2, done
        assert done.stderr.startswith(message) and "Traceback" not in done.stderr
        assert done.stderr.count("\n") == 1
    assert list(tmp_path.iterdir()) == []


@pytest.mark.engine
def test_the_cli_makes_alpine_by_the_official_recipe(docker_client):
    tarball = ALPINE_TARBALLS / "alpine-minirootfs-3.19.4-x86_64.tar.gz"
    need(tarball.is_file(), f"{tarball} is missing")
    done = _cli("alpine:3.19.4", "--rootfs", str(ALPINE_TARBALLS))
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith("alpine:3.19.4: rootfs ") and "made in the Docker Engine as sha256:" in done.stdout
    image = docker_client.images.get("alpine:3.19.4")
    assert image.attrs["Config"]["Cmd"] == ["/bin/sh"]
    assert _entries(helpers.read_image("alpine:3.19.4")) == _tarball_entries(tarball)  # ADD re-tars it, same files


@pytest.mark.engine
def test_the_debian_base_is_debuerreotypes_rootfs_by_the_official_recipe(docker_client, debian, debian_rootfs):
    image = docker_client.images.get(debian)
    assert len(image.attrs["RootFS"]["Layers"]) == 1
    assert _entries(helpers.read_image(debian)) == _tarball_entries(debian_rootfs)  # the tarball's files, as one layer
    assert image.attrs["Config"]["Cmd"] == ["bash"]
    assert [h["CreatedBy"].split("#(nop) ")[-1].strip()[:3] for h in image.history()] == ["CMD", "ADD"]
    assert not image.attrs.get("RepoDigests")  # made here, not pulled: every build says so
    sources = docker_client.containers.run(debian, ["cat", "/etc/apt/sources.list.d/debian.sources"],
                                           network_mode="none", remove=True).decode()
    mirror, security = debian_mirror(override=current_settings().debian_mirror)
    assert f"URIs: {mirror}" in sources  # this machine's own mirror, never one written in the repository
    assert (f"URIs: {security}" in sources) == (security is not None)
    listed = docker_client.containers.run(
        debian, ["sh", "-c", "ls -A /var/lib/apt/lists; test -e /etc/machine-id || echo no-machine-id"],
        network_mode="none", remove=True).decode()
    assert listed.split() == ["no-machine-id"]  # no package lists, no machine-id: as debuerreotype-tar leaves it


def test_no_mirror_host_name_is_written_in_the_project():
    texts = [path.read_text(errors="replace") for folder in ("helpers", "tests", "notebooks", "binder", ".ci")
             for path in (ROOT / folder).rglob("*") if path.is_file() and path.suffix not in (".gz", ".png")]
    texts.append((ROOT / "README.md").read_text())  # helpers/README.md, the reference, is read with helpers/
    hosts = ["deb." + "debian.org", "security." + "debian.org", "httpredir." + "debian.org"]
    assert not [host for host in hosts for text in texts if host in text]


def test_making_debian_needs_root(tmp_path):
    need(shutil.which("debuerreotype-init") is not None, NO_DEBUERREOTYPE)
    need(os.geteuid() == 0, "switching to an unprivileged user needs root (CI runs as root)")
    from binder_user import as_user, unprivileged_user, users_python

    user = unprivileged_user()
    folder = Path(user.pw_dir) / "no-root-rootfs"
    shutil.rmtree(folder, ignore_errors=True)
    folder.mkdir()
    shutil.chown(folder, user.pw_uid, user.pw_gid)
    done = as_user(user, [users_python(user), "-m", "helpers", "base", "debian:bookworm-slim", "--rootfs",
                           str(folder), "--no-docker"], folder)
    assert done.returncode == 2
    assert done.stderr.startswith("error: debuerreotype must run as root")
    assert list(folder.iterdir()) == []


def test_a_mirror_that_does_not_answer_leaves_nothing_behind(tmp_path, monkeypatch):
    need(shutil.which("debuerreotype-init") is not None, NO_DEBUERREOTYPE)
    need(os.geteuid() == 0, "debuerreotype needs root (CI runs as root)")
    with pytest.raises(LayerLabError, match="bootstrapping Debian bookworm from http://127.0.0.1:9/debian failed"):
        make_debian_rootfs("bookworm-slim", tmp_path, mirror="http://127.0.0.1:9/debian")
    assert list(tmp_path.iterdir()) == []


def test_the_ci_makes_every_base_with_the_cli():
    run = (ROOT / ".ci" / "run").read_text()
    assert "-m helpers base debian:bookworm-slim" in run
    assert "-m helpers base \"alpine:$version\"" in run
    assert json.loads(json.dumps(RECIPES["debian"].cmd)) == ["bash"]
