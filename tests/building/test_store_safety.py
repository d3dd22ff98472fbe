"""The embedded builder's store deletes only what it made: attacked with folders, links and layouts of a user's own.

Every attack is made for real on this machine's file system: a ``LAYERLAB_STORE``
pointed at someone's project, an OCI layout saved by name beside a ``tmp/``
folder of the user's, links named the way the store names its scratch folders,
a tree 1,100 folders deep.  Each checks the victim's files are all still there.
"""

from __future__ import annotations

import errno
import fcntl
import gzip
import io
import os
import subprocess
import sys
import tarfile
from pathlib import Path

import pytest
from layerlab_fixtures import ALPINE_TARBALLS, current_settings, embedded_tools, need

import helpers
from helpers.building import oci_store
from helpers.building.embedded import EmbeddedBuilder
from helpers.building.oci_store import SCRATCH_MARK, STORE_MARK, OciStore, claim_store, require_tools
from helpers.building.removal import remove_tree
from helpers.ground.errors import LayerLabError

REPO = Path(__file__).resolve().parents[2]
TARBALL = ALPINE_TARBALLS / "alpine-minirootfs-3.20.3-x86_64.tar.gz"


def _victim(folder: Path) -> Path:
    """A user's folder of their own: files, a sub-folder, a read-only file."""
    folder.mkdir(parents=True)
    (folder / "notes.txt").write_text("mine")
    (folder / "deeper").mkdir()
    (folder / "deeper" / "data.bin").write_bytes(b"\0" * 100)
    return folder


def _listing(folder: Path) -> set[str]:
    return {str(p.relative_to(folder)) for p in folder.rglob("*")}


def test_a_store_pointed_at_a_folder_of_someone_else_s_is_refused_and_untouched(tmp_path):
    embedded_tools()
    project = _victim(tmp_path / "project")
    _victim(project / "tmp" / "work")  # the folder the old clean-up emptied
    before = _listing(project)
    with pytest.raises(LayerLabError) as caught:
        OciStore(project, require_tools())
    assert "it holds files of its own" in caught.value.message and "LAYERLAB_STORE" in caught.value.hint
    assert _listing(project) == before


def test_a_new_or_empty_folder_becomes_a_store_and_is_marked(tmp_path):
    embedded_tools()
    empty = tmp_path / "empty"
    empty.mkdir()
    for root in (empty, tmp_path / "new" / "store"):
        OciStore(root, require_tools())
        assert (root / STORE_MARK).is_file() and (root / "oci" / "index.json").is_file()


@pytest.mark.parametrize("between", ["stat", "listdir", "open"])
def test_a_store_another_builder_makes_while_this_one_looks_is_taken_not_refused(tmp_path, monkeypatch, between):
    """Two builders claim one fresh folder: the other marks it and fills it at each point of this one's look."""
    root = tmp_path / "store"
    real = getattr(os, between)
    done = []

    def other_builder_first(*args, **kwargs):
        if not done:
            done.append(True)
            monkeypatch.setattr(os, between, real)
            claim_store(root)
            (root / "tmp").mkdir()
        return real(*args, **kwargs)

    root.mkdir()
    monkeypatch.setattr(os, between, other_builder_first)
    assert claim_store(root) == root
    assert done and (root / STORE_MARK).read_text().startswith("the embedded builder's store")


def test_only_scratch_folders_the_store_named_and_marked_are_cleared(tmp_path):
    embedded_tools()
    store = OciStore(tmp_path / "store", require_tools())
    victim = _victim(tmp_path / "victim")
    before = _listing(victim)
    scratch = store.scratch_root
    (scratch / "build-AAAAAAAA").symlink_to(victim)  # named like ours, but a link
    _victim(scratch / "build-BBBBBBBB")  # named like ours, never marked
    _victim(scratch / "someone-elses")  # not named like ours
    leftover = scratch / "build-CCCCCCCC"  # a killed build's: named and marked
    _victim(leftover)
    (leftover / SCRATCH_MARK).touch()
    OciStore(tmp_path / "store", require_tools())  # a new builder clears leftovers
    assert _listing(victim) == before
    assert (scratch / "build-AAAAAAAA").is_symlink()
    assert (scratch / "build-BBBBBBBB" / "notes.txt").exists()
    assert (scratch / "someone-elses" / "notes.txt").exists()
    assert not leftover.exists()


@pytest.mark.parametrize("form", ["oci:{layout}:base", "{layout}:base"])
def test_saving_an_image_of_a_layout_by_name_writes_nothing_beside_it(tmp_path, form):
    tools = embedded_tools()
    need(TARBALL.is_file(), f"{TARBALL} is missing")
    project = tmp_path / "project"
    layout = project / "layout"
    project.mkdir()
    subprocess.run([tools["skopeo"], "--insecure-policy", "copy", "-q", f"tarball:{TARBALL}", f"oci:{layout}:base"],
                   check=True)
    _victim(project / "tmp" / "work")
    before = _listing(project)
    with helpers.save_stream(form.format(layout=layout)) as stream:
        archive = stream.read()
    assert len(archive) > 1_000_000
    assert _listing(project) == before


def test_a_store_that_cannot_be_one_is_a_single_line(tmp_path):
    embedded_tools()
    a_file = tmp_path / "file"
    a_file.write_text("x")
    for root, why in [(a_file, "it is a file"), (a_file / "under", "it cannot be made"),
                      (Path("/proc/self/layerlab-store"), "it cannot be made")]:
        with pytest.raises(LayerLabError) as caught:
            OciStore(root, require_tools())
        assert why in caught.value.message and "\n" not in str(caught.value), root


@pytest.mark.parametrize("store", ["~nosuchuser-layerlab/x", "{file}", "{file}/under"])
def test_a_bad_store_setting_is_one_error_line_and_exit_2(tmp_path, store, dive_testdata):
    (tmp_path / "file").write_text("x")
    env = {**os.environ, "LAYERLAB_STORE": store.format(file=tmp_path / "file"), "LAYERLAB_ENGINE": "embedded"}
    done = subprocess.run([sys.executable, "-m", "helpers", "build", str(tmp_path), "-f", "/dev/null"],
                          capture_output=True, text=True, env=env, cwd=REPO)
    assert done.returncode == 2 and done.stderr.count("\n") == 1 and done.stderr.startswith("error: "), done.stderr
    if store.startswith("~"):  # read with the settings: every command, report too, names the variable
        report = subprocess.run([sys.executable, "-m", "helpers", "report", str(dive_testdata /
                                "test-docker-image.tar")], capture_output=True, text=True, env=env, cwd=REPO)
        assert report.returncode == 2 and "LAYERLAB_STORE" in report.stderr and report.stderr.count("\n") == 1


def _deep_tree(top: Path, depth: int) -> None:
    fd = os.open(top, os.O_RDONLY | os.O_DIRECTORY)
    try:
        for _ in range(depth):
            os.mkdir("d", dir_fd=fd)
            below = os.open("d", os.O_RDONLY | os.O_DIRECTORY, dir_fd=fd)
            os.close(fd)
            fd = below
        os.close(os.open("leaf", os.O_WRONLY | os.O_CREAT, 0o444, dir_fd=fd))
        os.fchmod(fd, 0o500)  # a rootless unpack leaves folders like this
    finally:
        os.close(fd)


def test_a_tree_1100_folders_deep_is_removed(tmp_path):
    top = tmp_path / "deep"
    top.mkdir()
    _deep_tree(top, 1100)
    try:
        remove_tree(top)
        assert not top.exists()
    finally:
        if top.exists():  # pytest's own clean-up recurses, and would crash on what is left
            subprocess.run(["rm", "-rf", str(top)], check=False)


def test_removal_never_follows_a_link(tmp_path):
    victim = _victim(tmp_path / "victim")
    before = _listing(victim)
    top = tmp_path / "top"
    top.mkdir()
    (top / "link").symlink_to(victim)
    (top / "inner").mkdir()
    (top / "inner" / "link").symlink_to(victim / "notes.txt")
    remove_tree(top)
    assert not top.exists() and _listing(victim) == before
    (tmp_path / "a-link").symlink_to(victim, target_is_directory=True)
    with pytest.raises(OSError):
        remove_tree(tmp_path / "a-link")
    assert _listing(victim) == before


def test_a_build_that_makes_a_deep_tree_leaves_a_store_that_still_builds(tmp_path, monkeypatch):
    embedded_tools()
    monkeypatch.setenv("LAYERLAB_STORE", str(tmp_path / "store"))
    monkeypatch.setenv("LAYERLAB_ROOTFS", str(ALPINE_TARBALLS))
    context = tmp_path / "context"
    context.mkdir()
    deep = "/".join(["d"] * 1100)
    built = helpers.build(f"FROM alpine:3.20.3\nRUN mkdir -p /{deep} && echo x > /{deep}/leaf\n", context,
                          engine="embedded", name="deep")
    assert built.analysis.image.layers[-1].entries
    builder = EmbeddedBuilder(settings=current_settings())
    assert not list(builder.store.scratch_root.iterdir())  # every scratch folder went with its build
    again = helpers.build("FROM alpine:3.20.3\nRUN echo y > /y\n", context, engine="embedded", name="after")
    assert "y" in {entry.path for entry in again.analysis.image.layers[-1].entries}


def test_the_store_keeps_only_its_newest_cached_steps(tmp_path, monkeypatch):
    embedded_tools()
    monkeypatch.setenv("LAYERLAB_STORE", str(tmp_path / "store"))
    monkeypatch.setenv("LAYERLAB_ROOTFS", str(ALPINE_TARBALLS))
    context = tmp_path / "context"
    context.mkdir()
    for number in range(4):
        helpers.build(f"FROM alpine:3.20.3\nENV N={number}\nLABEL n={number}\n", context, engine="embedded",
                      name=f"steps-{number}", progress=lambda name, step: None)
    store = EmbeddedBuilder(settings=current_settings()).store
    steps = [tag for tag in store.index() if tag.startswith("step-")]
    assert len(steps) == 8
    assert store.prune_steps(keep=3) == 5
    kept = [tag for tag in store.index() if tag.startswith("step-")]
    assert kept == steps[-3:]  # the newest stay, in order
    assert "layerlab-steps-3-latest" in store.index()  # built images keep their tags
    again = helpers.build("FROM alpine:3.20.3\nENV N=3\nLABEL n=3\n", context, engine="embedded", name="again",
                          progress=lambda name, step: None)
    assert again.analysis.image.config["config"]["Labels"] == {"n": "3"}


def test_a_registry_that_cannot_be_reached_is_named_as_the_network_not_the_store(tmp_path):
    """``.invalid`` never resolves (RFC 2606): skopeo's failure is the network's, and the hint says so."""
    embedded_tools()
    store = OciStore(tmp_path / "store", require_tools())
    with pytest.raises(LayerLabError) as caught:
        store.import_image("x:1", "docker://registry.nonexistent.invalid/x:1", "pulling x:1")
    assert "no such host" in caught.value.message or "dial tcp" in caught.value.message
    assert caught.value.hint.startswith("the registry could not be reached")
    assert "clean start" not in caught.value.hint


# ---------------------------------------------------------------- layers streamed into umoci
def _store_with_alpine(root: Path, monkeypatch) -> EmbeddedBuilder:
    embedded_tools()
    monkeypatch.setenv("LAYERLAB_ROOTFS", str(ALPINE_TARBALLS))
    builder = EmbeddedBuilder(root, settings=current_settings())
    builder.base("alpine:3.20.3")
    return builder


def _tags(store: OciStore) -> set[str]:
    return set(store.index())


def _layer_tar(files: dict[str, bytes]) -> bytes:
    out = io.BytesIO()
    with tarfile.open(fileobj=out, mode="w", format=tarfile.PAX_FORMAT) as tar:
        for name, data in files.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    return out.getvalue()


def _last_layer(store: OciStore, tag: str) -> bytes:
    """The last layer of image ``tag`` in ``store``, as the tar it was given."""
    digest = store.layers(tag)[-1]["digest"].split(":")[1]
    return gzip.decompress((store.layout / "blobs" / "sha256" / digest).read_bytes())


def test_a_streamed_layer_is_tagged_only_when_whole(tmp_path, monkeypatch):
    builder = _store_with_alpine(tmp_path / "store", monkeypatch)
    store = builder.store
    layer = _layer_tar({"etc/streamed": b"whole\n" * 1000})
    with store.scratch() as scratch:
        with store.layer_writer("base-alpine-3.20.3", "step-streamed", scratch, "RUN streamed") as out:
            out.write(layer)
    odd = tmp_path / "build-_a-_b_"  # a scratch folder's name as mkdtemp may make it: not a tag as it is
    odd.mkdir()
    with store.layer_writer("base-alpine-3.20.3", "step-odd", odd, "RUN odd") as out:
        out.write(layer)
    assert {"step-streamed", "step-odd"} <= _tags(store) and not any(t.startswith("pending-") for t in _tags(store))
    assert _last_layer(store, "step-streamed") == layer

    # Cut short by an error in the writer: umoci is killed before its input ends, and nothing is tagged.
    before = _tags(store)
    with store.scratch() as scratch, pytest.raises(RuntimeError):
        with store.layer_writer("base-alpine-3.20.3", "step-cut", scratch, "RUN cut") as out:
            out.write(layer[: len(layer) // 2])
            out.flush()
            raise RuntimeError("the writer failed half-way")
    assert _tags(store) == before


def test_a_layer_reaches_umoci_through_a_wide_pipe_or_the_default_one(tmp_path, monkeypatch):
    builder = _store_with_alpine(tmp_path / "store", monkeypatch)
    store = builder.store
    layer = _layer_tar({"etc/piped": b"wide\n" * 1000})
    with store.scratch() as scratch:
        with store.layer_writer("base-alpine-3.20.3", "step-wide", scratch, "RUN wide") as out:
            assert fcntl.fcntl(out.fileno(), fcntl.F_GETPIPE_SZ) == oci_store.LAYER_PIPE_BYTES
            out.write(layer)

    # The user's share of pipe memory spent: the pipe cannot grow, and the layer is committed all the same.
    real = fcntl.fcntl

    def spent(fd, command, *args):
        if command == fcntl.F_SETPIPE_SZ:
            raise PermissionError(errno.EPERM, "Operation not permitted")
        return real(fd, command, *args)

    monkeypatch.setattr(oci_store.fcntl, "fcntl", spent)
    with store.scratch() as scratch:
        with store.layer_writer("base-alpine-3.20.3", "step-narrow", scratch, "RUN narrow") as out:
            out.write(layer)
    assert _last_layer(store, "step-wide") == _last_layer(store, "step-narrow") == layer


def test_a_stream_umoci_refuses_is_one_clear_error(tmp_path, monkeypatch):
    builder = _store_with_alpine(tmp_path / "store", monkeypatch)
    store = builder.store
    before = _tags(store)
    with store.scratch() as scratch, pytest.raises(LayerLabError) as caught:
        with store.layer_writer("no-such-image", "step-refused", scratch, "RUN refused") as out:
            for _ in range(200):  # more than a pipe holds: umoci, gone, stops reading
                out.write(b"\0" * 65536)
    assert caught.value.message.startswith("committing `RUN refused` failed (umoci exited")
    assert _tags(store) == before


def test_a_pending_tag_a_killed_build_left_goes_and_a_live_build_s_stays(tmp_path, monkeypatch):
    builder = _store_with_alpine(tmp_path / "store", monkeypatch)
    store = builder.store
    with store.scratch() as live:
        for owner in (live.name, "build-_gone123"):  # a name that could not be a tag as it is
            subprocess.run([require_tools()["umoci"], "tag", "--image", store.ref("base-alpine-3.20.3"),
                            f"pending-{owner.encode().hex()}-1"], check=True, capture_output=True)
        OciStore(store.root, require_tools())  # the next builder opens the store
        assert {t for t in _tags(store) if t.startswith("pending-")} == {f"pending-{live.name.encode().hex()}-1"}
    OciStore(store.root, require_tools())
    assert not any(t.startswith("pending-") for t in _tags(store))
    assert "base-alpine-3.20.3" in _tags(store)


#: A process that makes a base in a store when told to start, then prints the digest its tag names.
MAKE_BASE = """
import os, sys, time
from helpers.building.embedded import EmbeddedBuilder
from helpers.ground.settings import Settings
builder = EmbeddedBuilder(sys.argv[1], settings=Settings.from_environment())
while not os.path.exists(sys.argv[2]):
    time.sleep(0.001)
print(builder.store.manifest_digest(builder.base("alpine:3.20.3")))
"""


def test_builders_making_the_same_base_at_once_make_it_once(tmp_path, monkeypatch):
    embedded_tools()
    monkeypatch.setenv("LAYERLAB_ROOTFS", str(ALPINE_TARBALLS))
    store, start = tmp_path / "store", tmp_path / "start"
    OciStore(store, require_tools())  # made first, so that each process only opens it
    env = {**os.environ, "PYTHONPATH": str(Path(helpers.__file__).resolve().parents[1])}
    makers = [subprocess.Popen([sys.executable, "-c", MAKE_BASE, str(store), str(start)], env=env,
                               stdout=subprocess.PIPE, text=True) for _ in range(3)]
    start.touch()  # all at once: each import takes about a second, so every one finds the base missing
    digests = {maker.communicate(timeout=300)[0].strip() for maker in makers}
    # each import is dated: a base made twice is two images, the second tag replacing the first under its builds
    assert digests == {OciStore(store, require_tools()).manifest_digest("base-alpine-3.20.3")}
