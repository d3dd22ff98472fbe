"""What the package manager says a layer installed: dpkg's and apk's own databases, read from the layer.

A layer that installs or removes packages rewrites its manager's database
whole (``var/lib/dpkg/status`` on Debian, ``lib/apk/db/installed`` on Alpine),
so that file, as the layer stores it, lists every package installed as of
that step, with the manager's own size for each: dpkg's ``Installed-Size``
(what ``dpkg-query -W -f '${Installed-Size}'`` prints, in KiB) and apk's
``I:`` field (bytes).  Those are the figures a learner can *predict* a
layer's size from, before measuring it.

The reader keeps these few files while it scans a layer (see
:mod:`helpers.reading.tar_headers`); nothing else of a file's contents is ever read.
Each is kept only up to :data:`MAX_DATABASE_BYTES`, and a database with more
than :data:`MAX_PACKAGES` packages is not parsed: either way the layer's
:class:`~helpers.ground.model.PackageDatabase` says so in its ``note`` and has no
packages, and the rest of the analysis is unaffected.
"""

from __future__ import annotations

import functools
import io
from collections.abc import Iterator

from ..ground.model import Package, PackageDatabase
from .apk_paragraphs import paragraphs

#: The files kept while scanning a layer, and the package manager each belongs to.
DATABASES = {
    "var/lib/dpkg/status": "dpkg",
    "lib/apk/db/installed": "apk",
    "usr/lib/apk/db/installed": "apk",
}
#: The largest database file kept (a Debian system with 3,000 packages has a status file of about 4 MB).
MAX_DATABASE_BYTES = 16 << 20
#: The most packages (paragraphs) one database may list before it is left unparsed.
MAX_PACKAGES = 100_000
#: The largest size a package may claim (1 TiB): a figure of 10^30 is damage, and is counted as this.
MAX_INSTALLED_BYTES = 1 << 40
MAX_INSTALLED_KIB = MAX_INSTALLED_BYTES >> 10
_DPKG_FIELDS = frozenset((b"Package", b"Status", b"Version", b"Installed-Size"))


def _lines(data: bytes) -> Iterator[bytes]:
    """The lines of ``data``, one at a time (a 16 MiB file of two-byte lines is never a list of 8 million)."""
    return iter(io.BytesIO(data))


def parse_dpkg_status(data: bytes) -> list[Package]:
    """The installed packages of a dpkg ``status`` file (paragraphs whose ``Status`` ends in ``installed``).

    ``installed_bytes = Installed-Size × 1024`` (dpkg's field is in KiB; a
    package without one counts 0).

    Read here, line by line, keeping four fields of each paragraph.  python-debian's
    deb822 reader, which this replaced for a measured reason, keeps every field and
    every paragraph: on 16 MiB of tiny stanzas it took 51 s and 1.2 GB (this: 0.4 s,
    stopping at the ceiling), on 16 MiB of continuation lines 11.8 s and 130 MB
    (this: 2.0 s, nothing kept).  Past :data:`MAX_PACKAGES` paragraphs (installed
    or not) the file is refused, so parsing is bounded in time as well as bytes.
    """
    packages: list[Package] = []
    fields: dict[bytes, bytes] = {}
    paragraphs = 0

    def close() -> None:
        nonlocal paragraphs
        paragraphs += 1
        if paragraphs > MAX_PACKAGES:
            raise ValueError(f"it lists more than {MAX_PACKAGES:,} packages")
        if fields.get(b"Status", b"").split()[-1:] != [b"installed"]:
            return  # removed but not purged ("deinstall ok config-files"), or half-installed
        size = fields.get(b"Installed-Size", b"0").strip()
        packages.append(Package(fields.get(b"Package", b"?").decode("utf-8", "replace"),
                                fields.get(b"Version", b"").decode("utf-8", "replace"),
                                min(int(size), MAX_INSTALLED_KIB) * 1024 if size.isdigit() else 0))

    for raw in _lines(data):
        line = raw.rstrip(b"\r\n")
        if not line.strip():
            if fields:
                close()
                fields = {}
            continue
        if line[:1] in (b" ", b"\t"):
            continue  # a continuation line of a multi-line field: none of the four kept
        key, colon, value = line.partition(b":")
        if colon and key in _DPKG_FIELDS and key not in fields:
            fields[key] = value.strip()
        elif not fields:
            fields[b""] = b""  # a paragraph with none of the four fields still counts
    if fields:
        close()
    return packages


def parse_apk_installed(data: bytes) -> list[Package]:
    """The packages of apk's ``installed`` database: one paragraph each, ``P:`` name, ``V:`` version, ``I:`` bytes.

    (No maintained Python library reads this format; it is one ``X:value``
    line per field and a blank line between packages: :func:`.apk_paragraphs.paragraphs`,
    which reads it line by line.)  Past :data:`MAX_PACKAGES` paragraphs the file is refused.
    """

    packages = []
    for count, fields in enumerate(paragraphs(data.decode("utf-8", "replace")), start=1):
        if count > MAX_PACKAGES:
            raise ValueError(f"it lists more than {MAX_PACKAGES:,} packages")
        if "P" not in fields:
            continue
        size = fields.get("I", "0")
        packages.append(Package(fields["P"], fields.get("V", ""),
                                min(int(size), MAX_INSTALLED_BYTES) if size.isdigit() else 0))
    return packages


_PARSERS = {"dpkg": parse_dpkg_status, "apk": parse_apk_installed}


@functools.lru_cache(maxsize=16)
def _parsed(manager: str, data: bytes) -> tuple[Package, ...]:
    """Each distinct database parsed once: a layer listed many times, or a database layers share, is one parse."""
    return tuple(_PARSERS[manager](data))


def read_database(documents: dict[str, bytes | None]) -> PackageDatabase | None:
    """The package database a layer stores, from the files kept while scanning it (``None`` if it has none).

    ``documents`` maps a kept path to its bytes, or to ``None`` when the file
    was over :data:`MAX_DATABASE_BYTES` (or the image's budget for kept files).
    """
    for path, manager in DATABASES.items():
        if path not in documents:
            continue
        data = documents[path]
        if data is None:
            return PackageDatabase(manager, path, None, f"not read: over {MAX_DATABASE_BYTES >> 20} MiB")
        try:
            return PackageDatabase(manager, path, list(_parsed(manager, data)))
        except Exception as exc:  # untrusted bytes: any failure means unreadable
            return PackageDatabase(manager, path, None, f"unreadable: {exc}")
    return None
