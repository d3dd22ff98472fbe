"""``.dockerignore`` means what Docker makes it mean, in both engines, and no ``.dockerignore`` can hang a build.

The reference is Docker itself: the Docker CLI (``docker build``, classic
builder) packs each context below with its own Go matcher, and the engine
copies it into an image (``COPY . /ctx/``).  The same context is then built by
this package's Docker path (which packs the context itself) and by the
embedded builder, and each image's files must be Docker's, name for name,
byte for byte.  Then the attacks: a FIFO or a link to ``/dev/zero`` named
``.dockerignore``, a pattern that makes a backtracking matcher take minutes,
a context 1,100 folders deep.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest
from layerlab_fixtures import ALPINE_TARBALLS, embedded_tools, need

import helpers
from helpers.building.digests import context_digest
from helpers.building.removal import remove_tree
from helpers.ground.dockerignore import Dockerignore, DockerignoreError, parse_lines
from helpers.ground.errors import DockerfileError

TREE = {
    "app.env": "SECRET=1\n", "app.py": "print('hi')\n", "Dockerfile": None, "README.md": "# readme\n",
    "sub/app.env": "SECRET=2\n", "sub/keep.txt": "keep\n", "sub/deeper/x.txt": "x\n", "sub/deeper/y.log": "y\n",
    "a.txt": "a\n", "b.txt": "b\n", "z.txt": "z\n", "*.txt": "star\n", ".git/HEAD": "ref\n", "docs/guide.md": "g\n",
}

CASES = {
    "top-level glob": "*.env",
    "any depth": "**/*.env",
    "folder with an exception below it": "sub\n!sub/keep.txt",
    "an exception Docker does not reach": "sub\n!**/keep.txt",
    "leading slash, dot and dot-dot": "/app.py\n./README.md\ndocs/../z.txt",
    "comments, BOM, CRLF and spaces": "\ufeff# a comment\r\n  *.md  \r\n\r\n#app.py\n",
    "classes, ? and an escape": "[a-b].txt\n?.env\n\\*.txt",
    "trailing **": "sub/**",
    "everything but one": "**\n!app.py",
    "parent folder pattern": "sub/deeper",
    "Dockerfile and .dockerignore themselves": "Dockerfile\n.dockerignore\n.git",
    "exceptions in order": "*.txt\n!a.txt\nsub\n",
}


def _context(root: Path, ignore: str) -> Path:
    root.mkdir()
    for name, text in TREE.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text("FROM scratch\nCOPY . /ctx/\n" if text is None else text)
    (root / ".dockerignore").write_text(ignore)
    return root


def _files(image) -> set[tuple[str, str, int]]:
    return {(e.path, e.kind, e.size) for layer in image.layers for e in layer.entries
            if e.path.startswith("ctx/") and e.kind != "dir"}


def _docker_cli(context: Path, tag: str) -> set[tuple[str, str, int]]:
    docker = shutil.which("docker")
    need(docker is not None, "the Docker CLI is not installed (apt-get install docker.io)")
    done = subprocess.run([docker, "build", "-q", "-t", tag, str(context)], capture_output=True, text=True,
                          env={**os.environ, "DOCKER_BUILDKIT": "0"})
    assert done.returncode == 0, done.stderr
    return _files(helpers.read_image(tag))


@pytest.mark.parametrize("case", CASES)
def test_both_engines_leave_out_exactly_what_docker_leaves_out(docker_client, tmp_path, monkeypatch, case):
    context = _context(tmp_path / "context", CASES[case])
    reference = _docker_cli(context, "layerlab-test/ignore-reference:latest")
    assert reference, "Docker copied nothing: the case is wrong"
    docker_path = helpers.build(context / "Dockerfile", context, name="ignore", tag="layerlab-test/ignore:latest",
                                client=docker_client)
    assert _files(docker_path.analysis.image) == reference
    embedded_tools()
    monkeypatch.setenv("LAYERLAB_STORE", str(tmp_path / "store"))
    embedded = helpers.build(context / "Dockerfile", context, name="ignore", engine="embedded")
    assert _files(embedded.analysis.image) == reference


def test_a_secret_the_dockerignore_leaves_out_is_in_no_layer_of_either_engine(docker_client, tmp_path, monkeypatch):
    context = _context(tmp_path / "context", "*.env\n**/*.env\n")
    text = "FROM alpine:3.20.3\nWORKDIR /app\nCOPY . .\nCOPY sub /sub\n"
    monkeypatch.setenv("LAYERLAB_STORE", str(tmp_path / "store"))
    monkeypatch.setenv("LAYERLAB_ROOTFS", str(ALPINE_TARBALLS))
    embedded_tools()
    for built in (helpers.build(text, context, name="secret", client=docker_client),
                  helpers.build(text, context, name="secret", engine="embedded")):
        paths = {e.path for layer in built.analysis.image.layers for e in layer.entries}
        assert "app/app.py" in paths and "sub/keep.txt" in paths
        assert not any(path.endswith(".env") for path in paths), sorted(p for p in paths if "env" in p)


def test_copying_an_excluded_file_by_name_is_refused_in_one_line(tmp_path, monkeypatch):
    embedded_tools()
    context = _context(tmp_path / "context", "*.env\n")
    monkeypatch.setenv("LAYERLAB_STORE", str(tmp_path / "store"))
    with pytest.raises(DockerfileError, match="its .dockerignore leaves it out") as caught:
        helpers.build("FROM scratch\nCOPY app.env /\n", context, name="excluded", engine="embedded")
    assert "\n" not in str(caught.value)


def test_an_ignored_file_changes_neither_the_cache_key_nor_the_context_digest(tmp_path):
    context = _context(tmp_path / "context", "*.env\n")
    before = context_digest(context)
    (context / "app.env").write_text("SECRET=changed\n")
    assert context_digest(context) == before
    (context / "app.py").write_text("print('changed')\n")
    assert context_digest(context) != before


@pytest.mark.parametrize("kind", ["fifo", "link to /dev/zero", "link to a file", "huge", "folder"])
def test_a_dockerignore_that_is_not_a_small_regular_file_is_one_line_and_never_read(docker_client, tmp_path,
                                                                                      monkeypatch, kind):
    context = tmp_path / "context"
    context.mkdir()
    (context / "f").write_text("f\n")
    ignore = context / ".dockerignore"
    if kind == "fifo":
        os.mkfifo(ignore)
    elif kind == "link to /dev/zero":
        ignore.symlink_to("/dev/zero")
    elif kind == "link to a file":
        (context / "real").write_text("*.env\n")
        ignore.symlink_to("real")
    elif kind == "huge":
        with open(ignore, "wb") as sparse:
            sparse.truncate(8 << 30)
    else:
        ignore.mkdir()
    monkeypatch.setenv("LAYERLAB_STORE", str(tmp_path / "store"))
    embedded_tools()
    for how in ({"client": docker_client}, {"engine": "embedded"}):
        with pytest.raises(DockerignoreError) as caught:
            helpers.build("FROM scratch\nCOPY f /\n", context, name="hostile", **how)
        assert ".dockerignore" in caught.value.message and "\n" not in str(caught.value)


def test_a_pattern_that_backtracks_in_python_s_re_is_linear_here():
    hostile = Dockerignore(["/".join(["**"] * 40) + "/x"])
    path = "/".join(["a"] * 5000)
    assert not hostile.excluded(path)  # finishes: RE2 is linear in the path; Python's re would take minutes
    assert hostile.excluded(path + "/x")


@pytest.mark.parametrize("pattern", ["[abc", "a[", "[]a]", "[-a]", "x\\", "[a-]"])
def test_a_pattern_go_calls_malformed_is_one_line(pattern):
    with pytest.raises(DockerignoreError, match="is not a valid pattern"):
        Dockerignore([pattern])


def test_a_line_longer_than_docker_reads_is_refused():
    with pytest.raises(DockerignoreError, match="longer than Docker reads"):
        parse_lines("a" * (64 * 1024 + 1))


@pytest.fixture
def deep_context(tmp_path):
    """A folder to make a deep tree in, removed after the test (pytest's own clean-up recurses, and would crash)."""
    context = tmp_path / "context"
    context.mkdir()
    yield context
    remove_tree(context)


def test_a_context_1100_folders_deep_is_packed_and_copied(docker_client, deep_context, tmp_path, monkeypatch):
    context = deep_context
    fd = os.open(context, os.O_RDONLY | os.O_DIRECTORY)
    for _ in range(1100):
        os.mkdir("d", dir_fd=fd)
        below = os.open("d", os.O_RDONLY | os.O_DIRECTORY, dir_fd=fd)
        os.close(fd)
        fd = below
    os.close(os.open("leaf", os.O_WRONLY | os.O_CREAT, 0o644, dir_fd=fd))
    os.close(fd)
    (context / ".dockerignore").write_text("**/nothing\n")
    assert context_digest(context)
    monkeypatch.setenv("LAYERLAB_STORE", str(tmp_path / "store"))
    embedded_tools()
    for how in ({"client": docker_client}, {"engine": "embedded"}):
        built = helpers.build("FROM scratch\nCOPY . /ctx/\n", context, name="deep", **how)
        assert any(e.path.endswith("/leaf") for layer in built.analysis.image.layers for e in layer.entries)
