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

import io

from ..ground.model import Package, PackageDatabase
from .apk_output import paragraphs

#: The files kept while scanning a layer, and the package manager each belongs to.
DATABASES = {
    "var/lib/dpkg/status": "dpkg",
    "lib/apk/db/installed": "apk",
    "usr/lib/apk/db/installed": "apk",
}
#: The largest database file kept (a Debian system with 3,000 packages has a status file of about 4 MB).
MAX_DATABASE_BYTES = 16 << 20
#: The most packages one database may list before it is left unparsed.
MAX_PACKAGES = 100_000


def parse_dpkg_status(data: bytes) -> list[Package]:
    """The installed packages of a dpkg ``status`` file (paragraphs whose ``Status`` ends in ``installed``).

    ``installed_bytes = Installed-Size × 1024`` (dpkg's field is in KiB; a
    package without one counts 0).  Parsed with python-debian's deb822 reader.
    """
    from debian import deb822

    packages = []
    for paragraph in deb822.Deb822.iter_paragraphs(io.BytesIO(data), use_apt_pkg=False, encoding="utf-8"):
        if paragraph.get("Status", "").split()[-1:] != ["installed"]:
            continue  # removed but not purged ("deinstall ok config-files"), or half-installed
        size = paragraph.get("Installed-Size", "0").strip()
        packages.append(Package(paragraph.get("Package", "?"), paragraph.get("Version", ""),
                                int(size) * 1024 if size.isdigit() else 0))
        if len(packages) > MAX_PACKAGES:
            raise ValueError(f"it lists more than {MAX_PACKAGES:,} packages")
    return packages


def parse_apk_installed(data: bytes) -> list[Package]:
    """The packages of apk's ``installed`` database: one paragraph each, ``P:`` name, ``V:`` version, ``I:`` bytes.

    (No maintained Python library reads this format; it is one ``X:value``
    line per field and a blank line between packages: :func:`.apk_output.paragraphs`.)
    """
    packages = []
    for fields in paragraphs(data.decode("utf-8", "replace")):
        if "P" not in fields:
            continue
        size = fields.get("I", "0")
        packages.append(Package(fields["P"], fields.get("V", ""), int(size) if size.isdigit() else 0))
        if len(packages) > MAX_PACKAGES:
            raise ValueError(f"it lists more than {MAX_PACKAGES:,} packages")
    return packages


_PARSERS = {"dpkg": parse_dpkg_status, "apk": parse_apk_installed}


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
            return PackageDatabase(manager, path, _PARSERS[manager](data))
        except Exception as exc:  # a third-party parser on untrusted bytes: any failure means unreadable
            return PackageDatabase(manager, path, None, f"unreadable: {exc}")
    return None
