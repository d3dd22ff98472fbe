"""Each image unpacked once per builder, and copied for each build: the same images, less work, nothing left.

* Builds that start from one image, with one builder, unpack it once; every
  image they give is the image a fresh builder (unpacking it itself) gives.
* The kept trees are bounded (the least recently used goes) and go with the
  builder: closed, or collected, the store's scratch holds nothing of them.
* A copy that fails (a real ``cp`` refusing, injected) falls back to unpacking,
  and the image is the same.
"""

from __future__ import annotations

import gc
import os
from pathlib import Path

import pytest
from layerlab_fixtures import ALPINE_TARBALLS, current_settings, embedded_tools

from helpers.building import unpacked_trees
from helpers.building.embedded import EmbeddedBuilder
from helpers.ground.dockerfile import parse_dockerfile
from helpers.measuring.analysis import analyze

pytestmark = pytest.mark.filterwarnings("ignore::ResourceWarning")

ON = ["alpine:3.20.3", "alpine:3.19.4", "alpine:3.18.9", "alpine:3.12.12"]


@pytest.fixture(autouse=True)
def _alpine(monkeypatch):
    embedded_tools()
    monkeypatch.setenv("LAYERLAB_ROOTFS", str(ALPINE_TARBALLS))


def _builder(store: Path) -> EmbeddedBuilder:
    return EmbeddedBuilder(store, settings=current_settings())


def _files(builder: EmbeddedBuilder, text: str, name: str) -> set:
    made = builder.build(parse_dockerfile(text), None, name, f"layerlab/{name}:latest")
    files = analyze(builder.read(made.reference, False)).files
    return set(files[["layer", "path", "kind", "size", "mode"]].astype({"kind": str}).itertuples(index=False))


def _kept(store: Path) -> list[Path]:
    return sorted((store / "tmp").glob("build-*/tree-*"))


def _unpacks(monkeypatch, builder: EmbeddedBuilder) -> list[str]:
    seen: list[str] = []
    umoci = builder.store.umoci

    def counting(*args: str, what: str) -> None:
        if args[:2] == ("raw", "unpack"):
            seen.append(args[-2].rsplit(":", 1)[1])
        umoci(*args, what=what)

    monkeypatch.setattr(builder.store, "umoci", counting)
    return seen


def _dockerfile(base: str, number: int) -> str:
    return f"FROM {base}\nRUN echo {number} > /number && rm -f /etc/motd && chmod 700 /root\n"


def test_builds_on_one_image_unpack_it_once_and_give_what_a_fresh_builder_gives(tmp_path, monkeypatch):
    builder = _builder(tmp_path / "store")
    unpacks = _unpacks(monkeypatch, builder)
    kept = [_files(builder, _dockerfile("alpine:3.20.3", n), f"kept-{n}") for n in range(3)]
    assert len(unpacks) == 1, unpacks
    for n in range(3):
        fresh = _builder(tmp_path / f"fresh-{n}")
        assert _files(fresh, _dockerfile("alpine:3.20.3", n), f"fresh-{n}") == kept[n]
        fresh.trees.close()
    builder.trees.close()
    assert _kept(tmp_path / "store") == []


def test_kept_trees_are_bounded_and_go_with_the_builder(tmp_path):
    builder = _builder(tmp_path / "store")
    builder.trees = unpacked_trees.UnpackedTrees(builder.store, keep=2)
    for number, base in enumerate(ON):
        _files(builder, _dockerfile(base, number), f"on-{number}")
        assert len(_kept(tmp_path / "store")) == min(number + 1, 2)
    del builder
    gc.collect()
    assert _kept(tmp_path / "store") == []
    assert list((tmp_path / "store" / "tmp").iterdir()) == []


def test_a_copy_that_fails_falls_back_to_unpacking(tmp_path, monkeypatch):
    refusing = tmp_path / "bin"
    refusing.mkdir()
    (refusing / "cp").write_text("#!/bin/sh\necho 'cp: cannot open: Permission denied' >&2\nexit 1\n")
    (refusing / "cp").chmod(0o755)
    expected = _files(_builder(tmp_path / "fresh"), _dockerfile("alpine:3.20.3", 7), "fresh")
    builder = _builder(tmp_path / "store")
    monkeypatch.setenv("PATH", f"{refusing}:{os.environ['PATH']}")
    unpacks = _unpacks(monkeypatch, builder)
    assert _files(builder, _dockerfile("alpine:3.20.3", 7), "refused") == expected
    assert len(unpacks) == 2  # the kept tree, then the bundle itself
