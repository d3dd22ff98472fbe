"""Where the tests' real inputs live, and the constants measured from them (shared by conftest and the tests)."""

from __future__ import annotations

from pathlib import Path

TESTS = Path(__file__).resolve().parent
FIXTURES = TESTS / "fixtures"
SHARED = Path(__file__).resolve().parents[2] / "shared"
DIVE_TESTDATA = SHARED / "dive-testdata"
ALPINE_TARBALLS = SHARED / "alpine"

BASE_IMAGE = "alpine:3.20.3"
#: Regular-file bytes of alpine:3.20.3's single layer (FROM scratch + ADD the minirootfs),
#: checked against the base image and the minirootfs tarball in test_engine_builds.py.
BASE = 7792915

#: Fixture Dockerfiles built one by one with helpers.build, tagged layerlab-test/<case>:latest.
CASES = ("shadowed", "opaque", "hardlinks", "symlinks", "tree-whiteout")
#: The lab pattern, built side by side with helpers.build_variants (which tags layerlab/<name>:latest).
LAB_VARIANTS = {"layerlab-test-multi-run": "lab-multi-run", "layerlab-test-single-run": "lab-single-run"}


def tag_for(case: str) -> str:
    """The tag a fixture case is built under (apart from the notebooks' layerlab/* tags)."""
    return f"layerlab-test/{case}:latest"


#: test-docker-image.tar's image figures: dive 0.13.1's published size, wasted bytes and
#: efficiency (../shared/README.md), and our final/reclaimable bytes worked out in test_dive_testdata.py.
DIVE_DOCKER_IMAGE = {
    "layers": 14,
    "stored_bytes": 1220598,
    "final_bytes": 1188573,
    "reclaimable_bytes": 32025,
    "efficiency": 1188573 / 1220598,
    "dive_efficiency": 0.9844212134184309,
    "dive_wasted_bytes": 32025,
}
