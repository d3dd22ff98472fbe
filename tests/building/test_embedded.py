"""The embedded builder (skopeo + umoci + proot), against the real Docker Engine on the same Dockerfiles.

Equivalence: for every fixture Dockerfile both engines give the same per-layer
file sets (path, kind, size, mode) and the same stored, final and reclaimable
bytes.  Two differences are inherent, and only they are ignored:

* a whiteout's own mode: overlay2 writes ``.wh.`` entries as 0600, umoci as 0000;
  a whiteout has no content, and no reader uses its mode;
* a directory deleted and re-created in one step: overlay2 marks it opaque
  (``.wh..wh..opq``), umoci whites out each child it held.  Both hide the same
  bytes, so the figures and the final filesystem still agree;
* deleting one name of a hard-linked file: overlay2 stores only the whiteout,
  but umoci diffs by metadata, sees the other name's link count change, and
  stores that file again in full.  The embedded image really ships those bytes
  once more, and the figures say so (checked exactly in
  ``test_deleting_one_hard_link_re_stores_the_other``).
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys

import pytest
from layerlab_fixtures import (
    ALPINE_TARBALLS,
    CASES,
    FIXTURES,
    LAB_VARIANTS,
    current_settings,
    embedded_tools,
    tag_for,
    without_buildkit_run_entry,
)

import helpers
from helpers.building.embedded import EmbeddedBuilder
from helpers.building.oci_store import ToolMissing
from helpers.ground.errors import BaseImageMissing, BuildFailed, DockerfileError
from helpers.reading import oci_layout
from helpers.reading.scanned_layers import SCANNED_LAYERS

ALL_CASES = [*CASES, *LAB_VARIANTS.values()]
COLUMNS = ["layer", "path", "kind", "size", "mode"]


@pytest.fixture(scope="module")
def store(tmp_path_factory):
    embedded_tools()
    with pytest.MonkeyPatch.context() as patch:
        root = tmp_path_factory.mktemp("store")
        patch.setenv("LAYERLAB_STORE", str(root))
        patch.setenv("LAYERLAB_ROOTFS", str(ALPINE_TARBALLS))
        yield root


@pytest.fixture(scope="module")
def embedded(store) -> dict[str, helpers.Analysis]:
    return {
        case: helpers.build(FIXTURES / case / "Dockerfile", name=case, engine="embedded",
                            progress=lambda name, step: None).analysis
        for case in ALL_CASES
    }


@pytest.fixture(scope="module")
def docker_built(docker_client, alpine) -> dict[str, helpers.Analysis]:
    return {
        case: helpers.build(FIXTURES / case / "Dockerfile", name=case, tag=tag_for(f"docker-{case}"),
                            client=docker_client, progress=lambda name, step: None).analysis
        for case in ALL_CASES
    }


def _entries(analysis: helpers.Analysis) -> set[tuple]:
    """Every entry of every layer; BuildKit's ``/etc`` in its ``RUN`` layers left out (:data:`BUILDKIT_RUN_ENTRY`)."""
    rows = analysis.files[COLUMNS].astype({"kind": str})
    rows.loc[rows.kind == "whiteout", "mode"] = -1  # inherent: see the module doc
    entries = set(rows.itertuples(index=False, name=None))
    for number, layer in enumerate(analysis.image.layers):
        kept = without_buildkit_run_entry(sorted(e[1:4] + ("",) for e in entries if e[0] == number), layer.created_by)
        entries -= {e for e in entries if e[0] == number and e[1:4] + ("",) not in kept}
    return entries


def _visible(analysis: helpers.Analysis) -> set[tuple]:
    return {(path, kind) for path, (kind, _, _) in analysis.merged.visible.items()}


@pytest.mark.engine
@pytest.mark.parametrize("case", [c for c in ALL_CASES if c != "hardlinks"])
def test_the_embedded_builder_measures_what_docker_measures(embedded, docker_built, case):
    ours, docker = embedded[case], docker_built[case]
    for figure in ("layers", "stored_bytes", "final_bytes", "reclaimable_bytes", "efficiency"):
        assert ours.summary()[figure] == docker.summary()[figure], figure
    assert ours.layers.stored_bytes.tolist() == docker.layers.stored_bytes.tolist()
    assert ours.layers.reclaimable_bytes.tolist() == docker.layers.reclaimable_bytes.tolist()
    assert _visible(ours) == _visible(docker)
    if case == "opaque":
        assert set(ours.files.kind) >= {"whiteout"} and "opaque" not in set(ours.files.kind)
        assert "opaque" in set(docker.files.kind)
    else:
        assert _entries(ours) == _entries(docker)


@pytest.mark.engine
def test_deleting_one_hard_link_re_stores_the_other(embedded, docker_built):
    ours, docker = embedded["hardlinks"], docker_built["hardlinks"]
    # Layer 1 is the same in both: h1 (4096 bytes) and h2, a hard link to it.
    assert _entries(ours) - {e for e in _entries(ours) if e[0] == 2} == _entries(docker) - {
        e for e in _entries(docker) if e[0] == 2}
    # Layer 2 (rm /h1): Docker stores the whiteout only; umoci stores h2 again, in full.
    assert {e[1:4] for e in _entries(docker) if e[0] == 2} == {(".wh.h1", "whiteout", 0)}
    assert {e[1:4] for e in _entries(ours) if e[0] == 2} == {(".wh.h1", "whiteout", 0), ("h2", "file", 4096)}
    assert ours.stored_bytes == docker.stored_bytes + 4096
    assert ours.final_bytes == docker.final_bytes
    assert (ours.reclaimable_bytes, docker.reclaimable_bytes) == (4096, 0)
    assert {p for p, _ in _visible(ours)} == {p for p, _ in _visible(docker)}  # h2: a file here, a link there


#: A tree with a hard link, copied whole into a fresh stage (the squash-by-stage shape): /d/b names the same
#: 4096 bytes as /d/a, so the copy stores them once.
COPIED_HARDLINKS = (
    "FROM alpine:3.20.3 AS tree\n"
    "RUN mkdir /d && head -c 4096 /dev/zero > /d/a && ln /d/a /d/b\n"
    "FROM scratch\n"
    "COPY --from=tree /d /d\n"
)


@pytest.mark.engine
def test_copying_a_tree_keeps_its_hard_links(store, docker_client, alpine):
    dockerfile = COPIED_HARDLINKS
    ours = helpers.build(dockerfile, name="copied-hardlinks", engine="embedded", progress=lambda name, step: None)
    docker = helpers.build(dockerfile, name="copied-hardlinks", tag=tag_for("docker-copied-hardlinks"),
                           client=docker_client, progress=lambda name, step: None)
    for analysis in (ours.analysis, docker.analysis):
        assert {(e.path, e.kind, e.size, e.link) for e in analysis.image.layers[0].entries
                if e.path.startswith("d/")} == {("d/a", "file", 4096, ""), ("d/b", "hardlink", 0, "d/a")}
        assert analysis.stored_bytes == 4096


@pytest.mark.engine
def test_the_base_layer_is_the_minirootfs_tarball_byte_for_byte(embedded):
    import hashlib

    base = embedded["lab-multi-run"].image.layers[0]
    tarball = ALPINE_TARBALLS / "alpine-minirootfs-3.20.3-x86_64.tar.gz"
    assert base.digest == "sha256:" + hashlib.sha256(tarball.read_bytes()).hexdigest()


def test_history_matches_docker_s_shape(embedded):
    history = [(s.created_by, s.empty_layer) for s in embedded["lab-multi-run"].image.history]
    assert history[1:] == [
        ('/bin/sh -c #(nop)  CMD ["/bin/sh"]', True),
        ("/bin/sh -c head -c 16777216 /dev/urandom > /opt/build-dep.bin", False),
        ("/bin/sh -c sha256sum /opt/build-dep.bin > /artifact.sha256", False),
        ("/bin/sh -c rm /opt/build-dep.bin", False),
    ]
    assert history[0][0].startswith("/bin/sh -c #(nop) ADD file:")


def test_a_second_build_comes_from_the_cache(store, embedded):
    def step_images() -> set[str]:
        import json

        index = json.loads((store / "oci" / "index.json").read_text())
        tags = {d["annotations"]["org.opencontainers.image.ref.name"] for d in index["manifests"]}
        return {tag for tag in tags if tag.startswith("step-")}

    before = step_images()
    steps = []
    helpers.build(FIXTURES / "lab-multi-run" / "Dockerfile", name="again", engine="embedded",
                  progress=lambda name, step: steps.append(step))
    # Re-running took every step from the cache: no new step image appeared in the store.
    assert step_images() == before
    assert [s.layer_bytes for s in steps] == [None, 16777216, 85, 0]
    # A changed instruction is a new step, and only that one.
    helpers.build("FROM alpine:3.20.3\nRUN head -c 16777216 /dev/urandom > /opt/build-dep.bin\nRUN echo changed > /x\n",
                  name="changed", engine="embedded", progress=lambda name, step: None)
    assert len(step_images() - before) == 1


def test_a_cached_step_s_layer_is_scanned_once(store, embedded, monkeypatch):
    # A cached step's size is counted from its blob; the image's read then finds that scan kept.
    SCANNED_LAYERS.clear()
    scanned: list[str] = []
    real = oci_layout.scan_blob_range

    def counted(fd, start, length, name, *args):
        scanned.append(name)
        return real(fd, start, length, name, *args)

    monkeypatch.setattr(oci_layout, "scan_blob_range", counted)
    during: list[int] = []
    built = helpers.build(FIXTURES / "lab-multi-run" / "Dockerfile", name="once", engine="embedded",
                          progress=lambda name, step: during.append(len(scanned)))
    assert during[-1] == 3  # the three cached steps' layers, scanned for their sizes as the build went
    assert len(built.analysis.image.layers) == 4 and sorted(set(scanned)) == sorted(scanned) and len(scanned) == 4


def test_config_instructions_reach_the_image_config(store, tmp_path):
    (tmp_path / "hello.txt").write_text("hello\n")
    dockerfile = (
        "FROM alpine:3.20.3 AS base\nARG GREETING=hi\nENV APP=/app MSG=$GREETING\nWORKDIR $APP\n"
        "COPY hello.txt ./\nRUN cp hello.txt copy.txt\nUSER nobody\nLABEL course=layers\nEXPOSE 8000\n"
        'ENTRYPOINT ["python3"]\nCMD ["-m", "http.server"]\n'
        "FROM scratch\nCOPY --from=base /app/copy.txt /copied.txt\n"
    )
    built = helpers.build(dockerfile, tmp_path, name="config", engine="embedded", progress=lambda n, s: None)
    config = built.analysis.image.config
    assert config["rootfs"]["diff_ids"] and len(built.analysis.image.layers) == 1
    assert built.analysis.files.path.tolist() == ["copied.txt"]
    first = helpers.analyze(helpers.read_image(f"{store / 'oci'}:{_stage_tag(store)}"))
    settings = first.image.config["config"]
    assert "APP=/app" in settings["Env"] and "MSG=hi" in settings["Env"]
    assert settings["WorkingDir"] == "/app" and settings["User"] == "nobody"
    assert settings["Labels"] == {"course": "layers"} and "8000/tcp" in settings["ExposedPorts"]
    assert settings["Entrypoint"] == ["python3"] and settings["Cmd"] == ["-m", "http.server"]
    assert set(first.files.path) >= {"app/hello.txt", "app/copy.txt"}


def _stage_tag(store) -> str:
    """The newest step of the first stage above: the one whose config carries the CMD."""
    import json

    index = json.loads((store / "oci" / "index.json").read_text())
    for descriptor in reversed(index["manifests"]):
        tag = descriptor["annotations"]["org.opencontainers.image.ref.name"]
        if not tag.startswith("step-"):
            continue
        analysis = helpers.analyze(helpers.read_image(f"{store / 'oci'}:{tag}"))
        if (analysis.image.config.get("config") or {}).get("Cmd") == ["-m", "http.server"]:
            return tag
    raise AssertionError("no step image carries the CMD")


def test_add_extracts_a_local_tarball(store, tmp_path):
    import io
    import tarfile

    with tarfile.open(tmp_path / "bundle.tar.gz", "w:gz") as archive:
        data = b"x" * 300
        info = tarfile.TarInfo("pkg/data.bin")
        info.size = len(data)
        archive.addfile(info, io.BytesIO(data))
    built = helpers.build("FROM alpine:3.20.3\nADD bundle.tar.gz /opt/\n", tmp_path, name="add",
                          engine="embedded", progress=lambda n, s: None)
    layer = built.analysis.files.query("layer == 1")
    assert layer.loc[layer.kind == "file", ["path", "size"]].values.tolist() == [["opt/pkg/data.bin", 300]]


def test_a_failing_run_says_which_step_with_its_exit_code_and_log(store):
    with pytest.raises(BuildFailed) as caught:
        helpers.build("FROM alpine:3.20.3\nRUN echo first\nRUN echo embedded-boom && exit 3\n", name="fails",
                      engine="embedded", progress=lambda n, s: None)
    failure = caught.value
    assert failure.step == 3
    assert "step 3/3 `RUN echo embedded-boom && exit 3`" in failure.message
    assert failure.reason.endswith("returned a non-zero code: 3")
    assert failure.log_tail[-1] == "embedded-boom"


def test_an_unsupported_instruction_is_named_with_its_line(store):
    with pytest.raises(DockerfileError, match=r"HEALTHCHECK \(line 3\) is not supported"):
        helpers.build("FROM alpine:3.20.3\nRUN true\nHEALTHCHECK CMD true\n", name="x", engine="embedded")


def test_a_missing_base_offline_names_it_and_how_to_provide_it(store, monkeypatch):
    monkeypatch.setenv("LAYERLAB_ROOTFS", "")
    with pytest.raises(BaseImageMissing, match="alpine:9.9.9 .*LAYERLAB_ROOTFS"):
        helpers.build("FROM alpine:9.9.9\n", name="x", engine="embedded")


def test_a_missing_tool_names_the_package(monkeypatch, tmp_path):
    monkeypatch.setenv("PATH", str(tmp_path))
    with pytest.raises(ToolMissing, match=r"apt-get install skopeo"):
        EmbeddedBuilder(tmp_path / "store", settings=current_settings())


def test_auto_selection_falls_back_to_embedded_without_docker(store, monkeypatch):
    from helpers.orchestration.builds import select_engine

    monkeypatch.setenv("DOCKER_HOST", "unix:///nonexistent/docker.sock")
    monkeypatch.delenv("LAYERLAB_ENGINE", raising=False)
    assert select_engine(settings=current_settings()) == "embedded"
    monkeypatch.setenv("LAYERLAB_ENGINE", "recorded")
    with pytest.raises(helpers.LayerLabError, match="nothing builds here"):
        select_engine(settings=current_settings())


def test_the_cli_builds_with_the_embedded_engine_and_says_so(store, tmp_path):
    shutil.copy(FIXTURES / "shadowed" / "Dockerfile", tmp_path / "Dockerfile")
    done = subprocess.run([sys.executable, "-m", "helpers", "build", str(tmp_path), "--engine", "embedded", "--json"],
                          capture_output=True, text=True, env={**os.environ, "DOCKER_HOST": "unix:///nonexistent"})
    assert done.returncode == 0, done.stderr
    assert "built by the embedded builder (umoci + proot)" in done.stderr
    assert '"reclaimable_bytes": 1000' in done.stdout


def test_an_image_the_embedded_builder_made_is_reported_by_its_name_with_no_docker(store, embedded):
    """`report layerlab-test/NAME` finds the image in the builder's store when no Docker Engine answers."""
    helpers.build(FIXTURES / "shadowed" / "Dockerfile", name="by-name", tag="layerlab-test/by-name", engine="embedded",
                  progress=lambda name, step: None)
    no_docker = {**os.environ, "DOCKER_HOST": "unix:///nonexistent/docker.sock"}
    no_docker.pop("LAYERLAB_ENGINE", None)
    for name in ("layerlab-test/by-name", "layerlab-test/by-name:latest"):
        done = subprocess.run([sys.executable, "-m", "helpers", "report", name, "--json"],
                              capture_output=True, text=True, env=no_docker)
        assert done.returncode == 0, done.stderr
        assert '"reclaimable_bytes": 1000' in done.stdout
    missing = subprocess.run([sys.executable, "-m", "helpers", "report", "layerlab-test/never-built"],
                             capture_output=True, text=True, env=no_docker)
    assert missing.returncode == 2
    assert missing.stderr.count("\n") == 1 and "Traceback" not in missing.stderr
    assert "the embedded builder's store has no image 'layerlab-test/never-built:latest' either" in missing.stderr
    assert helpers.read_image("layerlab-test/by-name").source.endswith(":layerlab-test-by-name")
    base = subprocess.run([sys.executable, "-c", "import helpers; print(helpers.read_image('alpine:3.20.3').source)"],
                          capture_output=True, text=True, env=no_docker)
    assert base.stdout.strip().endswith(":base-alpine-3.20.3"), base.stderr  # a base the builder imported, too


@pytest.mark.engine
def test_the_embedded_builder_squashes_as_docker_squash_does(store, embedded, docker_client, monkeypatch):
    from helpers.orchestration.squash import squash

    multi = embedded["lab-multi-run"]
    monkeypatch.setenv("LAYERLAB_ENGINE", "embedded")
    everything = squash(multi.image.source, "layerlab-test/squashed-all", settings=current_settings())
    onto = squash(multi.image.source, "layerlab-test/squashed-on-base", from_layer="alpine:3.20.3",
                  settings=current_settings())
    base = helpers.analyze(helpers.read_image(f"{store / 'oci'}:base-alpine-3.20.3"))
    assert len(everything.image.layers) == 1 and everything.image.layers[0].digest != base.image.layers[0].digest
    assert everything.stored_bytes == everything.final_bytes == multi.final_bytes
    assert [layer.digest for layer in onto.image.layers][:1] == [base.image.layers[0].digest]
    assert onto.layers.stored_bytes.tolist() == [base.stored_bytes, multi.final_bytes - base.final_bytes]
    for squashed in (everything, onto):
        assert squashed.reclaimable_bytes == 0
        assert _visible(squashed) == _visible(multi)  # the same files, only the layering differs
    # and what docker-squash makes of Docker's build of the same Dockerfile
    monkeypatch.delenv("LAYERLAB_ENGINE")
    docker_multi = helpers.build(FIXTURES / "lab-multi-run" / "Dockerfile", name="multi",
                                 tag="layerlab-test/docker-multi-for-squash", client=docker_client,
                                 progress=lambda name, step: None).analysis
    by_docker = squash(docker_multi.image.source, "layerlab-test/docker-squashed-on-base",
                       from_layer="alpine:3.20.3", engine="docker", settings=current_settings())
    assert by_docker.layers.stored_bytes.tolist() == onto.layers.stored_bytes.tolist()
    assert _visible(by_docker) == _visible(onto)


def test_squashing_an_image_the_store_does_not_hold_is_one_clear_error(store, monkeypatch):
    from helpers.orchestration.squash import squash

    with pytest.raises(helpers.LayerLabError, match="the embedded builder's store has no image 'never-built'"):
        squash("never-built", "layerlab-test/never", engine="embedded", settings=current_settings())


@pytest.mark.parametrize("case", ALL_CASES)
def test_a_user_namespace_and_proot_commit_the_same_layers(tmp_path, monkeypatch, case):
    """RUN without ptrace must change nothing but the time: every file, directory, link and whiteout, mode and size."""
    from helpers.building import userns

    if not userns.available():
        need_userns = "this kernel or user cannot make user namespaces"
        if os.environ.get("LAYERLAB_REQUIRE_ENGINE") == "1":
            pytest.fail(need_userns, pytrace=False)
        pytest.skip(need_userns)
    embedded_tools()
    monkeypatch.setenv("LAYERLAB_ROOTFS", str(ALPINE_TARBALLS))
    dockerfile = FIXTURES / case / "Dockerfile"
    made = {}
    for way in ("auto", "proot"):
        monkeypatch.setenv("LAYERLAB_STORE", str(tmp_path / way))
        monkeypatch.setenv("LAYERLAB_RUN", way)
        made[way] = helpers.build(dockerfile, name=case, engine="embedded", progress=lambda name, step: None).analysis
    entries = {way: _entries(analysis) for way, analysis in made.items()}
    assert entries["auto"] == entries["proot"]
    assert _visible(made["auto"]) == _visible(made["proot"])
    assert made["auto"].layers.stored_bytes.tolist() == made["proot"].layers.stored_bytes.tolist()
    assert made["auto"].summary() == made["proot"].summary()


@pytest.mark.engine
def test_a_directory_a_fast_step_changes_is_in_its_layer_as_docker_keeps_it(store, docker_client, alpine):
    """umoci sees a changed time only to the second: a step run in its parent's second must still commit its folder.

    Quick steps, each removing a file: Docker commits the folder with the whiteout, and so must we, however
    fast the steps ran (they take a fraction of a second each in a user namespace).
    """
    text = "FROM alpine:3.20.3\nRUN mkdir /opt/d && touch /opt/d/a /opt/d/b\nRUN rm /opt/d/a\nRUN rm /opt/d/b\n"
    quiet = {"progress": lambda name, step: None}
    ours = helpers.build(text, name="fast-steps", engine="embedded", **quiet).analysis
    docker = helpers.build(text, name="fast-steps", tag=tag_for("docker-fast-steps"), client=docker_client,
                           **quiet).analysis
    for layer in (2, 3):
        committed = {e[1:3] for e in _entries(ours) if e[0] == layer}
        assert ("opt/d", "dir") in committed  # the folder the step changed, however fast it ran
        # Docker also commits every folder above it (here /opt): an entry without bytes, nothing else differs
        assert committed <= {e[1:3] for e in _entries(docker) if e[0] == layer}


def test_the_namespace_mounts_only_onto_real_folders_of_the_image(tmp_path):
    from helpers.building.userns import _real_directory

    (tmp_path / "dev").mkdir()
    (tmp_path / "sys").symlink_to("/etc")  # an image's link must never carry a mount out of it
    (tmp_path / "proc").write_text("not a folder")
    assert [_real_directory(str(tmp_path / name)) for name in ("dev", "sys", "proc", "missing")] == [
        True, False, False, False]


def test_a_way_to_run_steps_that_does_not_exist_is_one_clear_error(store, monkeypatch):
    monkeypatch.setenv("LAYERLAB_RUN", "banana")
    with pytest.raises(helpers.LayerLabError, match=r"LAYERLAB_RUN='banana' is not a way to run a RUN step"):
        helpers.build("FROM alpine:3.20.3\nRUN true\n", name="banana", engine="embedded",
                      progress=lambda name, step: None)


def test_run_steps_run_as_the_dockerfile_s_user_and_exec_form_works(store):
    built = helpers.build(
        "FROM alpine:3.20.3\nRUN id -u > /tmp/root-uid\nUSER nobody\nRUN id -u > /tmp/nobody-uid\n"
        'RUN ["/bin/sh", "-c", "echo exec-form > /tmp/exec"]\n',
        name="users", engine="embedded", progress=lambda n, s: None,
    ).analysis
    sizes = dict(built.files.loc[built.files.kind == "file", ["path", "size"]].values.tolist())
    assert sizes["tmp/root-uid"] == len("0\n")
    assert sizes["tmp/nobody-uid"] == len("65534\n")
    assert sizes["tmp/exec"] == len("exec-form\n")


def test_a_base_image_can_come_from_a_docker_save_archive(store, docker_client, docker_built, tmp_path):
    archive = tmp_path / "base.tar"
    with archive.open("wb") as out:
        for chunk in docker_client.images.get(tag_for("docker-shadowed")).save(named=True):
            out.write(chunk)
    EmbeddedBuilder(settings=current_settings()).import_archive("shadowed-base:1", archive)
    built = helpers.build("FROM shadowed-base:1\nRUN rm /f\n", name="on-archive", engine="embedded",
                          progress=lambda n, s: None).analysis
    assert [round(n) for n in built.layers.stored_bytes] == [7792915, 1000, 300, 0]
    assert built.reclaimable_bytes == 1300


def test_shell_changes_how_later_shell_form_runs_are_run(store):
    # With SHELL ["/bin/sh", "-ec"], a failing command mid-line stops the step (-e), so `false; echo` fails.
    with pytest.raises(BuildFailed) as caught:
        helpers.build('FROM alpine:3.20.3\nSHELL ["/bin/sh", "-ec"]\nRUN false; echo reached > /x\n',
                      name="shell", engine="embedded", progress=lambda n, s: None)
    assert caught.value.step == 3
    assert caught.value.reason == "The command '/bin/sh -ec false; echo reached > /x' returned a non-zero code: 1"
    # Without it, /bin/sh -c carries on after `false`.
    built = helpers.build("FROM alpine:3.20.3\nRUN false; echo reached > /x\n", name="no-shell", engine="embedded",
                          progress=lambda n, s: None).analysis
    assert built.files.loc[built.files.path == "x", "size"].tolist() == [len("reached\n")]
