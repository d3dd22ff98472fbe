"""The optional compiled core: built by ``pip install`` where a C compiler is found, else left out.

Everything it does, the pure-Python reader does too (slower): without a compiler the install
still succeeds (``optional=True``) and the package runs as before.  Each module is built with
the CRC-32 of its source, so a build left beside an edited source is known stale and not used.
"""

import zlib
from pathlib import Path

from setuptools import Extension, setup

HERE = Path(__file__).parent


def compiled(module: str, source: str) -> Extension:
    crc = zlib.crc32((HERE / source).read_bytes())
    return Extension(module, [source], optional=True, define_macros=[("SOURCE_CRC", f"{crc}UL")],
                     extra_compile_args=["-O2"])


setup(ext_modules=[compiled("helpers.reading._tar_scan", "helpers/reading/_tar_scan.c"),
                   compiled("helpers.measuring._overlay_core", "helpers/measuring/_overlay_core.c")])
