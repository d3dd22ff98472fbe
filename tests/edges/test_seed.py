"""The seed's Dockerfiles: the book's exactly as printed, and its shapes for other releases."""

from __future__ import annotations

import pytest
from layerlab_fixtures import LAB_VARIANTS

from helpers.edges.seed import BOOK_DOCKERFILE, seed_variants
from helpers.orchestration.lint import hadolint


def test_the_default_single_run_variant_is_the_book_s_dockerfile_as_printed():
    assert seed_variants()["single-RUN"] == BOOK_DOCKERFILE


def test_the_multi_run_variant_splits_the_second_run_into_three():
    multi = seed_variants("3.22", "5.2.19", "--break-system-packages")["multi-RUN"]
    assert multi.splitlines() == [
        "FROM alpine:3.22",
        "RUN apk add python3",
        "RUN apk add py3-pip",
        "RUN pip3 install --break-system-packages django==5.2.19",
        "RUN apk del py3-pip",
    ]


def test_hadolint_flags_the_multi_run_shape_only():
    variants = seed_variants("3.22", "5.2.19", "--break-system-packages")
    assert hadolint(variants["multi-RUN"]).query("code == 'DL3059'").line.tolist() == [3, 4, 5]
    assert "DL3059" not in set(hadolint(variants["single-RUN"]).code)


def test_show_dockerfiles_puts_each_under_its_name_escaped():
    from helpers.edges.notebook import show_dockerfiles

    html = show_dockerfiles(seed_variants()).data
    assert html.count("<pre") == 2 and html.count("</pre>") == 2
    assert "<b>multi-RUN</b>" in html and "<b>single-RUN</b>" in html
    assert "apk add py3-pip &amp;&amp; \\" in html


def test_the_lab_variants_are_the_lab_fixtures_and_notebook_00_s():
    import json
    from pathlib import Path

    from helpers.edges.seed import lab_variants

    def words(dockerfile: str) -> list[str]:  # the same instructions, however the lines are continued
        lines = [line for line in dockerfile.splitlines() if not line.startswith("#")]
        return " ".join(lines).replace("\\", " ").split()

    root = Path(__file__).resolve().parents[2]
    variants = lab_variants()
    for name, folder in (("multi-RUN", "lab-multi-run"), ("single-RUN", "lab-single-run")):
        fixture = (root / "tests" / "fixtures" / folder / "Dockerfile").read_text()
        assert words(fixture) == words(variants[name])
    lab = json.loads((root / "notebooks" / "00-the-layer-lab.ipynb").read_text())
    printed = "".join(lab["cells"][4]["outputs"][0]["text"])
    for name, text in variants.items():
        assert f"# {name}\n{text}" in printed


def test_no_lab_dockerfile_writes_zeros():
    """Zeros compress about 1000:1: a stand-in made of them would ship its waste for free on a pull."""
    from pathlib import Path

    from helpers.edges.seed import lab_variants

    fixtures = Path(__file__).resolve().parents[1] / "fixtures"
    texts = [*lab_variants().values(), *((fixtures / f / "Dockerfile").read_text() for f in LAB_VARIANTS.values())]
    assert all("/dev/zero" not in text and "/dev/urandom" in text for text in texts)


@pytest.mark.engine
def test_the_lab_s_waste_moves_on_a_pull_as_it_is_stored(lab, docker_client):
    from helpers.building.engine import PULL_GZIP_LEVEL
    from helpers.reading.daemon import read_engine_image

    image = read_engine_image(lab["lab-multi-run"].tag, docker_client, gzip_level=PULL_GZIP_LEVEL)
    stand_in = image.layers[1]
    stored = sum(entry.size for entry in stand_in.entries)
    assert stored == 16 << 20
    assert stand_in.pull_bytes >= stored  # random bytes: gzip adds its framing and saves nothing
