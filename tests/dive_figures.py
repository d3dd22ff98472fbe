"""dive's own test archives (../shared/dive-testdata), and the figures each must measure to, to the byte.

Expected figures come from outside the helpers:

* ``test-docker-image.tar``: dive 0.13.1's published figures (size, inefficient
  bytes, efficiency, per-layer sizes; see ../shared/README.md), plus what
  ``tar tvf`` of each ``layer.tar`` shows;
* ``test-kaniko-image.tar``: computed by hand from ``tar tzvf`` of each layer
  blob (listings summarised in the comments below);
* the four OCI archives: one layer holding one file, README.md, 11189 bytes.
"""

from __future__ import annotations

from layerlab_fixtures import DIVE_DOCKER_IMAGE

# ---------------------------------------------------------------- test-docker-image.tar
# tar tvf of the 14 layer.tar (base first):
#   0  415 entries: 6 files = 1154361 B, 17 dirs, 392 hard links      (busybox base)
#   1  somefile.txt 6405                                              ADD
#   2  root/ root/example/ root/example/really/ …/nested/             mkdir -p
#   3  root/ root/example/ root/example/somefile1.txt 6405            cp
#   4  root/ root/example/ root/example/somefile1.txt 6405 (r--r--r--) chmod 444: stored again
#   5  root/ root/example/ root/example/somefile2.txt 6405            cp
#   6  root/ root/example/ root/example/somefile3.txt 6405            cp
#   7  root/ root/example/ root/example/.wh.somefile3.txt root/saved.txt 6405   mv
#   8  root/ root/.saved.txt 6405                                     cp
#   9  root/ root/.wh.example                                         rm -rf /root/example/
#  10  root/ root/.data/ tag.sh 917, test.sh 1270                     ADD dir
#  11  tmp/ tmp/saved.again1.txt 6405                                 cp
#  12  root/ root/.data/ root/.data/saved.again2.txt 6405             cp
#  13  root/ root/saved.txt 6405 (rwxr-xr-x)                          chmod +x: stored again
# Hidden: somefile1 (3, shadowed by 4), somefile1 (4, deleted by 9), somefile2 (5, deleted by 9),
# somefile3 (6, deleted by 7), saved.txt (7, shadowed by 13): 5 x 6405 = 32025 reclaimable.
# dive: keys seen twice are somefile1 (6405+6405), somefile3 (6405+0 for its whiteout) and
# saved.txt (6405+6405) = 32025 wasted; efficiency = Σmin/Σcum = 1214193/1233408.
DOCKER_SIZES = [1154361, 6405, 0, 6405, 6405, 6405, 6405, 6405, 6405, 0, 2187, 6405, 6405, 6405]
DOCKER_HIDDEN = [
    (3, 4, "shadowed", "root/example/somefile1.txt", 6405),
    (4, 9, "deleted", "root/example/somefile1.txt", 6405),
    (5, 9, "deleted", "root/example/somefile2.txt", 6405),
    (6, 7, "deleted", "root/example/somefile3.txt", 6405),
    (7, 13, "shadowed", "root/saved.txt", 6405),
]

# ---------------------------------------------------------------- test-kaniko-image.tar
# The same Dockerfile built by kaniko: gzip layers named <hex>.tar.gz, each with a "/" entry
# (dropped: it is the root) and whiteouts listed first. README.md is 9249 bytes here.
#   0  421 entries: 6 files (bin/[ 1145088, bin/getconf 85736, etc/group 306, etc/localtime 127,
#      etc/passwd 340, etc/shadow 136 = 1231733 B), 17 dirs, 398 hard links
#   1..13 as above with 9249 instead of 6405, and .data/test-coverage.sh 1270 instead of test.sh.
# stored = 1231733 + 10 x 9249 + 917 + 1270 = 1326410; reclaimable = 5 x 9249 = 46245;
# final = 1326410 - 46245 = 1280165.
# dive: Σcum = 1231733 + 12 x 9249 + 2187 = 1344908 (somefile1, saved.txt twice; somefile3 9249+0;
# root/example's whiteout counts its subtree 9249+9249 once), Σmin = 1231733 + 9 x 9249 + 2187 = 1317161;
# wasted = somefile1 18498 + somefile3 9249 + saved.txt 18498 = 46245.
KANIKO_SIZES = [1231733, 9249, 0, 9249, 9249, 9249, 9249, 9249, 9249, 0, 2187, 9249, 9249, 9249]
KANIKO_HIDDEN = [(layer, by, how, path, 9249) for layer, by, how, path, _ in DOCKER_HIDDEN]

OCI_README = 11189

EXPECTED = {
    "test-docker-image.tar": {
        "format": "docker-archive",
        **DIVE_DOCKER_IMAGE,
        "layer_stored": DOCKER_SIZES,
        "layer_reclaimable": [0, 0, 0, 6405, 6405, 6405, 6405, 6405, 0, 0, 0, 0, 0, 0],
        "layer_entries": [415, 1, 4, 3, 3, 3, 3, 4, 2, 2, 4, 2, 3, 2],
        "hidden": DOCKER_HIDDEN,
    },
    "test-kaniko-image.tar": {
        "format": "docker-archive",
        "layers": 14,
        "stored_bytes": 1326410,
        "final_bytes": 1280165,
        "reclaimable_bytes": 46245,
        "efficiency": 1280165 / 1326410,
        "dive_efficiency": 1317161 / 1344908,
        "dive_wasted_bytes": 46245,
        "layer_stored": KANIKO_SIZES,
        "layer_reclaimable": [0, 0, 0, 9249, 9249, 9249, 9249, 9249, 0, 0, 0, 0, 0, 0],
        "layer_entries": [421, 1, 4, 3, 3, 3, 3, 4, 2, 2, 4, 2, 3, 2],
        "hidden": KANIKO_HIDDEN,
    },
    **{
        f"test-oci-{flavour}-image.tar": {
            "format": "oci-archive",
            "layers": 1,
            "stored_bytes": OCI_README,
            "final_bytes": OCI_README,
            "reclaimable_bytes": 0,
            "efficiency": 1.0,
            "dive_efficiency": 1.0,
            "dive_wasted_bytes": 0,
            "layer_stored": [OCI_README],
            "layer_reclaimable": [0],
            "layer_entries": [1],
            "hidden": [],
        }
        for flavour in ("gzip", "zstd", "uncompressed", "estargz")
    },
}

OCI_ARCHIVES = [name for name in EXPECTED if name.startswith("test-oci-")]
