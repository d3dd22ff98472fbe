"""An everyday app's image, built from its source folder as a developer has it: 04's default, and its capstone.

The folder holds the app (a start script and a static asset), its tests' data and its ``.git``.
:data:`APP_DOCKERFILE` makes three everyday mistakes with it: ``COPY .`` brings the tests'
data and ``.git`` in, ``RUN chmod -R`` stores every file a second time, and ``RUN rm -rf``
hides the tests' data and ``.git`` without taking a byte out of the layers below.  The
capstone asks the learner to bring the image under :data:`APP_BUDGET` and checks the attempt.

The asset, the data and the pack file are seeded random bytes: they compress as the
compressed files they stand for (a PNG, a recording, git's packed objects) do, so a pull moves
about what a layer stores, and every build of the folder gets the same bytes.
"""

from __future__ import annotations

import random
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

APP_BASE = "alpine:3.20.3"

#: The app's image as it is often first written.
APP_DOCKERFILE = f"""FROM {APP_BASE}
COPY . /srv/
RUN chmod -R 755 /srv
RUN rm -rf /srv/tests /srv/.git
CMD ["/bin/sh", "/srv/app/serve.sh"]
"""

#: The capstone's budget, as the command line takes it: at most this many reclaimable bytes, at least this efficiency.
APP_BUDGET = {"max_reclaimable": "100KB", "min_efficiency": 0.99}

#: The folder's files: path, size in bytes (``None``: the text below), and mode.
APP_FILES: tuple[tuple[str, int | None, int], ...] = (
    ("app/serve.sh", None, 0o664),  # the CMD runs it through /bin/sh: no mode needs changing
    ("app/static/logo.png", 300_000, 0o664),
    ("tests/fixtures/recording.bin", 3_000_000, 0o664),
    (".git/objects/pack/pack-1.pack", 2_000_000, 0o664),
    (".git/HEAD", None, 0o664),
)
#: The folders' mode: group-writable, as a umask of 002 (common on desktops) makes them, like the files.
APP_FOLDER_MODE = 0o775
_TEXTS = {"app/serve.sh": b"#!/bin/sh\necho 'serving /srv/app/static'\n", ".git/HEAD": b"ref: refs/heads/main\n"}
_SEED = 2026


def write_app(folder: Path, dockerignore: str = "") -> None:
    """The app's source folder, written into the empty folder ``folder``, with ``dockerignore`` as its .dockerignore."""
    rng = random.Random(_SEED)
    for path, size, mode in APP_FILES:
        target = folder / path
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(_TEXTS[path] if size is None else rng.randbytes(size))
        target.chmod(mode)
    for made in {parent for path, _, _ in APP_FILES for parent in Path(path).parents if parent != Path(".")}:
        (folder / made).chmod(APP_FOLDER_MODE)
    if dockerignore:
        (folder / ".dockerignore").write_text(dockerignore)


@contextmanager
def app_context(dockerignore: str = "") -> Iterator[Path]:
    """The app's source folder, in a temporary folder of its own, gone when the block ends (see :func:`write_app`)."""
    with tempfile.TemporaryDirectory(prefix="layerlab-app-") as folder:
        write_app(Path(folder), dockerignore)
        yield Path(folder)
