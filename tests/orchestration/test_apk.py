"""Alpine's own apk, asked about the book's steps: in both engines, against Alpine's signed indexes, offline.

The indexes are Alpine's own (../shared/apkindex, signed; apk checks them with
the image's keys); apk runs for real in a throwaway container of the
minirootfs base.  Nothing is typed in: the expectations are what apk 2.10.1
says on 3.7.3 (11 packages, python3 3.6.9-r1; ``python3`` provides
``py3-pip``), checked against ../shared/facts/alpine-python.md.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from layerlab_fixtures import ALPINE_TARBALLS, SHARED, current_settings, embedded_tools, need

from helpers.building.apk_indexes import find_index
from helpers.building.docker_builder import DockerBuilder
from helpers.building.embedded import EmbeddedBuilder
from helpers.edges.seed import BOOK_APK_STEPS
from helpers.ground.errors import LayerLabError
from helpers.orchestration.apk import ApkIndexMissing, apk_request, apk_script
from helpers.reading.apk_output import ApkOutputError, parse_apk_run

INDEXES = SHARED / "apkindex"


@pytest.fixture(scope="module")
def indexes() -> Path:
    need((INDEXES / "v3.7.3-main-x86_64-APKINDEX.tar.gz").is_file(), f"Alpine's signed indexes are missing: {INDEXES}")
    return INDEXES


def _resolve(builder, image: str, folder: Path):
    script, files = apk_request(image, BOOK_APK_STEPS, True, [folder])
    done = builder.run(image, script, files)
    assert done.returncode == 0, done.stderr
    return parse_apk_run(done.stdout, image, BOOK_APK_STEPS)


def test_both_engines_hear_the_same_answer_from_apk_on_the_book_s_base(docker_client, indexes, tmp_path,
                                                                        monkeypatch):
    embedded_tools()
    monkeypatch.setenv("LAYERLAB_STORE", str(tmp_path / "store"))
    monkeypatch.setenv("LAYERLAB_ROOTFS", str(ALPINE_TARBALLS))
    settings = current_settings()
    answers = [_resolve(builder, "alpine:3.7.3", indexes)
               for builder in (DockerBuilder(docker_client, settings=settings), EmbeddedBuilder(settings=settings))]
    assert answers[0] == answers[1]
    book = answers[0]
    assert book.index.startswith("v3.7.3-")  # apk's own line: the signed index it read
    python = book.step("apk add python3")
    assert len(python.installed) == 11 and ("python3", "3.6.9-r1") in {(p.name, p.version) for p in python.installed}
    assert all(p.installed_bytes > 0 and p.download_bytes > 0 for p in python.installed)
    assert book.step("apk add py3-pip").installed == () and book.step("apk add py3-pip").ok
    removal = book.step("apk del py3-pip")
    assert removal.purged == () and any("py3-pip: python3" in line for line in removal.messages)


def test_a_package_apk_cannot_find_is_apk_s_own_refusal_not_an_exception(docker_client, indexes):
    builder = DockerBuilder(docker_client, settings=current_settings())
    answer = _resolve(builder, "alpine:3.20.3", indexes)  # py3-pip is in community, whose index is not here
    refused = answer.step("apk add py3-pip")
    assert not refused.ok and any("py3-pip (no such package)" in line for line in refused.messages)
    assert answer.step("apk add python3").ok


def test_offline_with_no_index_at_hand_is_one_line(tmp_path):
    with pytest.raises(ApkIndexMissing) as caught:
        apk_request("alpine:3.7.3", BOOK_APK_STEPS, True, [tmp_path])
    assert "LAYERLAB_APKINDEX" in caught.value.message and "v3.7.3-main-x86_64-APKINDEX.tar.gz" in caught.value.hint


def test_an_index_is_found_for_its_release_and_else_for_its_branch(indexes):
    assert find_index("alpine:3.7.3", [indexes]).name == "v3.7.3-main-x86_64-APKINDEX.tar.gz"
    assert find_index("alpine:3.19.4", [indexes]).name == "v3.19.0-main-x86_64-APKINDEX.tar.gz"
    assert find_index("alpine:3.18.9", [indexes]) is None
    with pytest.raises(LayerLabError, match="not an Alpine release"):
        find_index("debian:bookworm", [indexes])


@pytest.mark.parametrize("command", ["apk add python3; rm -rf /", "apk add $(id)", "apk fix", "pip install x",
                                     "apk add", "apk del 'a b'"])
def test_only_plain_apk_add_and_del_reach_the_script(command):
    with pytest.raises(LayerLabError, match="is not an `apk add` or `apk del`"):
        apk_script([command], offline_index=True)


@pytest.mark.parametrize("output", ["", "garbage\n", "@@ update\nOK\n@@ step 1\n@@ status 0\n"])
def test_output_the_script_did_not_make_is_one_clear_error(output):
    with pytest.raises(ApkOutputError):
        parse_apk_run(output, "alpine:3.7.3", BOOK_APK_STEPS)
