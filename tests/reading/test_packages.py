"""What the package manager says each layer installed, read from the layer itself and checked against the manager.

The oracles are the package managers themselves, run in a container of the
very image (offline: ``--network none``): ``dpkg-query`` on Debian, ``apk
info`` on Alpine.  The hostile cases are tars written here, read both ways
(streamed and seeked), since the reader keeps these few files' contents.
"""

from __future__ import annotations

import gzip
import io
import json
import os
import tarfile

import pytest
from archives import files_layer
from layerlab_fixtures import ALPINE_TARBALLS

import helpers
from helpers.reading.layer_stream import scan_blob_range, scan_layer
from helpers.reading.packages import (
    MAX_DATABASE_BYTES,
    MAX_INSTALLED_BYTES,
    MAX_PACKAGES,
    parse_apk_installed,
    parse_dpkg_status,
    read_database,
)
from helpers.reading.scan_budget import MAX_DOCUMENT_BYTES, EntryBudget
from helpers.views.tables import installed_packages, package_changes


def _in_container(client, image: str, command: str) -> str:
    return client.containers.run(image, ["/bin/sh", "-c", command], network_mode="none", remove=True,
                                 stderr=False).decode()


@pytest.mark.engine
def test_the_debian_base_lists_exactly_what_dpkg_query_prints(docker_client, debian):
    printed = _in_container(docker_client, debian, "dpkg-query -W -f '${Package}\\t${Version}\\t${Installed-Size}\\n'")
    expected = sorted((name, version, int(size) * 1024)
                      for name, version, size in (line.split("\t") for line in printed.splitlines()))
    table = installed_packages(helpers.analyze(helpers.read_image(debian)))
    assert sorted(zip(table.package, table.version, table.installed_bytes, strict=True)) == expected
    assert set(table.manager) == {"dpkg"} and len(expected) > 50


@pytest.mark.engine
@pytest.mark.parametrize("image", ["alpine:3.7.3", "alpine:3.20.3"])
def test_an_alpine_base_lists_exactly_what_apk_info_prints(docker_client, image):
    printed = _in_container(docker_client, image, "apk info -v 2>/dev/null")
    table = installed_packages(helpers.analyze(helpers.read_image(image)))
    assert sorted(f"{n}-{v}" for n, v in zip(table.package, table.version, strict=True)) == sorted(printed.split())
    if image == "alpine:3.7.3":  # this apk prints sizes in bytes
        musl = int(_in_container(docker_client, image, "apk info -s musl 2>/dev/null").split()[-1])
        assert table.set_index("package").at["musl", "installed_bytes"] == musl


def test_an_alpine_tarball_read_directly_has_its_database():
    tarball = ALPINE_TARBALLS / "alpine-minirootfs-3.20.3-x86_64.tar.gz"
    if not tarball.is_file():
        pytest.skip(f"{tarball} is missing")
    with tarball.open("rb") as stream:
        scanned = scan_layer(stream)
    db = read_database(scanned.documents)
    assert db is not None and db.manager == "apk" and db.path == "lib/apk/db/installed"
    assert "musl" in {p.name for p in db.packages}


@pytest.mark.engine
def test_package_changes_follow_an_install_and_a_purge(docker_client, debian, registry):
    dockerfile = (
        f"FROM {debian}\n"
        "RUN apt-get update && apt-get install -y --no-install-recommends file && rm -rf /var/lib/apt/lists/*\n"
        "RUN apt-get purge -y --auto-remove file\n"
    )
    analysis = helpers.build(dockerfile, name="packages-install-purge", client=docker_client, network=True).analysis
    changes = package_changes(analysis)
    added = changes[(changes.layer == 1) & (changes.change == "added")]
    removed = changes[(changes.layer == 2) & (changes.change == "removed")]
    assert "file" in set(added.package) and "libmagic1" in set(added.package)
    assert set(removed.package) == set(added.package)  # --auto-remove takes what the install pulled in
    assert set(changes[changes.layer == 0].change) == {"added"}  # the base, from nothing
    after = _in_container(docker_client, analysis.image.source, "dpkg-query -W -f '${Package}\\n'")
    assert sorted(installed_packages(analysis).package) == sorted(after.split())


# ---------------------------------------------------------------- hostile input


def _both_ways(blob: bytes, tmp_path, budget: EntryBudget | None = None):
    """The documents kept when ``blob`` is streamed, and when it is seeked in a file: they must agree."""
    streamed = scan_layer(io.BytesIO(blob), "streamed", budget)
    path = tmp_path / "layer.tar"
    path.write_bytes(blob)
    fd = os.open(path, os.O_RDONLY)
    try:
        seeked = scan_blob_range(fd, 0, len(blob), "seeked")
    finally:
        os.close(fd)
    assert streamed.documents == seeked.documents
    assert streamed.entries == seeked.entries
    return streamed


STATUS = (b"Package: a\nStatus: install ok installed\nVersion: 1.0\nInstalled-Size: 12\n\n"
          b"Package: b\nStatus: deinstall ok config-files\nVersion: 2.0\nInstalled-Size: 99\n\n"
          b"Package: c\nStatus: install ok installed\nVersion: 3\nInstalled-Size: lots\n")


def test_only_installed_packages_count_and_a_bad_size_counts_zero(tmp_path):
    scanned = _both_ways(files_layer([("var/lib/dpkg/status", STATUS), ("etc/hostname", b"x\n")]), tmp_path)
    assert list(scanned.documents) == ["var/lib/dpkg/status"]
    db = read_database(scanned.documents)
    assert [(p.name, p.version, p.installed_bytes) for p in db.packages] == [("a", "1.0", 12 * 1024), ("c", "3", 0)]


def test_a_database_over_the_limit_is_not_read_and_says_so(tmp_path):
    blob = files_layer([("lib/apk/db/installed", b"P:x\n" + b"#" * MAX_DATABASE_BYTES)])
    scanned = _both_ways(blob, tmp_path)
    assert scanned.documents == {"lib/apk/db/installed": None}
    db = read_database(scanned.documents)
    assert db.packages is None and db.note.startswith("not read: over 16 MiB")


def test_an_image_keeps_at_most_its_budget_of_databases(tmp_path):
    budget = EntryBudget()
    status = b"Package: a\nStatus: install ok installed\nVersion: 1\n\n" + b"#" * (10 << 20)
    kept = [scan_layer(io.BytesIO(files_layer([("var/lib/dpkg/status", status)])), f"layer {i}", budget).documents
            for i in range(MAX_DOCUMENT_BYTES // len(status) + 2)]
    assert all(k["var/lib/dpkg/status"] is not None for k in kept[:MAX_DOCUMENT_BYTES // len(status)])
    assert kept[-1] == {"var/lib/dpkg/status": None}  # past the budget: noted, not kept


@pytest.mark.parametrize("data", [
    b"\xff\xfe\x00garbage\n\n\x00\x00",
    b"Package: x\n Status: broken continuation\n" * 100,
    bytes(range(256)) * 40,
    b":\n" * 5000,
])
def test_garbage_in_a_database_never_breaks_the_read(data, tmp_path):
    for path in ("var/lib/dpkg/status", "lib/apk/db/installed"):
        scanned = _both_ways(files_layer([(path, data)]), tmp_path)
        db = read_database(scanned.documents)
        assert db is not None and db.path == path
        assert db.packages is not None or db.note.startswith("unreadable")


def test_a_database_listing_too_many_packages_is_left_unparsed():
    with pytest.raises(ValueError, match="more than"):
        parse_apk_installed(b"".join(b"P:p%d\nV:1\n\n" % i for i in range(MAX_PACKAGES + 2)))
    db = read_database({"var/lib/dpkg/status": b"".join(
        b"Package: p%d\nStatus: install ok installed\n\n" % i for i in range(MAX_PACKAGES + 2))})
    assert db.packages is None and "more than" in db.note


def test_a_database_cut_short_is_one_clear_error(tmp_path):
    blob = files_layer([("var/lib/dpkg/status", STATUS * 50)])
    with pytest.raises(helpers.LayerLabError, match="ends inside the data of `var/lib/dpkg/status`"):
        scan_layer(io.BytesIO(blob[:1500]), "cut")


def test_parsers_read_the_real_formats():
    assert parse_dpkg_status(STATUS)[0].installed_bytes == 12 * 1024
    apk = parse_apk_installed(b"C:Q1abc=\nP:musl\nV:1.2.5-r0\nA:x86_64\nI:655360\n\nP:busybox\nV:1.36\nI:x\n")
    assert [(p.name, p.version, p.installed_bytes) for p in apk] == [
        ("musl", "1.2.5-r0", 655360), ("busybox", "1.36", 0)]


# ---------------------------------------------------------------- what a pull moves


@pytest.mark.engine
def test_a_measured_layer_is_what_gzip_makes_of_it(docker_client, alpine):
    from helpers.building.engine import PULL_GZIP_LEVEL
    from helpers.reading.daemon import read_engine_image, save_stream

    image = read_engine_image(alpine, docker_client, gzip_level=PULL_GZIP_LEVEL)
    with tarfile.open(fileobj=io.BytesIO(save_stream(alpine, docker_client).read())) as archive:
        [entry] = json.load(archive.extractfile("manifest.json"))  # <id>/layer.tar, or blobs/sha256/<hex> (25+)
        layer = archive.extractfile(entry["Layers"][0]).read()
    assert image.layers[0].gzip_bytes == len(gzip.compress(layer, PULL_GZIP_LEVEL, mtime=0))
    assert helpers.analyze(image).compressed_bytes == image.layers[0].gzip_bytes
    assert helpers.analyze(helpers.read_image(alpine)).compressed_bytes is None  # not measured unless asked


def _status_layer(status: bytes) -> bytes:
    return files_layer({"var/lib/dpkg/status": status})


def test_sixteen_mib_of_tiny_stanzas_in_a_layer_listed_four_times_is_refused_once_in_bounded_memory():
    import tracemalloc

    from archives import docker_archive

    from helpers.reading.files import read_archive_stream

    tiny = b"Package: a\nStatus: install ok installed\n\n" * ((16 << 20) // 41)
    layer = _status_layer(tiny[: 16 << 20])
    archive = docker_archive([layer], manifest=[{"Config": "c.json", "Layers": ["l0/layer.tar"] * 4}])
    tracemalloc.start()
    image = read_archive_stream(io.BytesIO(archive), "tiny")
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    notes = {layer.packages.note for layer in image.layers}
    assert notes == {f"unreadable: it lists more than {MAX_PACKAGES:,} packages"}
    assert peak < 200 << 20  # the archive itself is 16 MiB; python-debian's reader took 1.2 GB for one copy


def test_continuation_lines_cost_no_memory_and_long_fields_are_read_right():
    import tracemalloc

    status = (b"Package: kept\nStatus: install ok installed\nVersion: 1\nInstalled-Size: 7\nDescription: x\n"
              + b" continued\n" * (1 << 20) + b"\n")
    tracemalloc.start()
    packages = parse_dpkg_status(status)
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    assert [(p.name, p.version, p.installed_bytes) for p in packages] == [("kept", "1", 7 * 1024)]
    assert peak < 32 << 20


def test_a_size_of_ten_to_the_thirty_is_damage_counted_at_the_ceiling_not_an_overflow():
    status = b"Package: huge\nStatus: install ok installed\nInstalled-Size: " + b"9" * 31 + b"\n\n"
    apk = b"P:huge\nV:1\nI:" + b"9" * 31 + b"\n\n"
    assert parse_dpkg_status(status)[0].installed_bytes == MAX_INSTALLED_BYTES
    assert parse_apk_installed(apk)[0].installed_bytes == MAX_INSTALLED_BYTES
    analysis = helpers.analyze(helpers.read_image(_write_archive(_status_layer(status))))
    assert installed_packages(analysis).installed_bytes.max() == MAX_INSTALLED_BYTES


def _write_archive(layer: bytes) -> str:
    import tempfile

    from archives import docker_archive

    handle = tempfile.NamedTemporaryFile(suffix=".tar", delete=False)
    handle.write(docker_archive([layer]))
    handle.close()
    return handle.name
