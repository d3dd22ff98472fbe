"""A prediction of the book's layers before any is built: from apk's own figures and the real wheels' contents.

For each ``RUN`` of the book's Dockerfile, a layer stores what its step writes
and a later one can only hide it:

* ``FROM alpine:X`` stores the base image's regular-file bytes (measured: the image is read);
* an ``apk add`` step stores Σ ``I:`` of the packages apk says it installs (the index's
  installed sizes; apk's own database files are left out, a few KiB);
* ``pip3 install django`` stores, for each wheel, its files unpacked
  (``unpacked_bytes``), the bytecode pip compiles from its ``.py`` files
  (``bytecode_bytes``, an *estimate*: this machine's Python compiled them), and
  the wheel itself in pip's download cache (``wheel_bytes``, since the book does
  not pass ``--no-cache-dir``);
* an ``apk del`` step stores nothing; it hides Σ ``I:`` of what apk says it purges.

Chained into one ``RUN``, what the chain removes never reaches a layer:
``single = Σ installed − Σ purged + the wheels' share``, where the multi-RUN
image stores the purged packages in their own layer as well.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from ..ground.apk_plan import ApkResolution


@dataclass(frozen=True)
class PredictedLayer:
    """One layer of a predicted image: its instruction, the bytes it stores and hides, and what they come from."""

    instruction: str
    stored_bytes: int
    hidden_bytes: int
    source: str


def wheels_share(wheels: Sequence[dict]) -> tuple[int, str]:
    """What ``pip install`` of ``wheels`` stores: files + bytecode (estimated) + pip's cache; and how, in words."""
    files = sum(w["unpacked_bytes"] for w in wheels)
    bytecode = sum(w["bytecode_bytes"] for w in wheels)
    cache = sum(w["wheel_bytes"] for w in wheels)
    return files + bytecode + cache, (f"{len(wheels)} wheels: their files, their bytecode (estimated here) "
                                      "and pip's cache of the wheels")


def predict_book(base_bytes: int, resolution: ApkResolution, wheels: Sequence[dict],
                 commands: tuple[str, str, str] = ("apk add python3", "apk add py3-pip", "apk del py3-pip"),
                 pip_command: str = "pip3 install django") -> dict[str, list[PredictedLayer]]:
    """The book's two shapes, layer by layer, as the module predicts them; keyed ``multi-RUN`` and ``single-RUN``."""
    python, tool, removal = (resolution.step(command) for command in commands)
    installed = {p.name: p.installed_bytes for step in (python, tool) for p in step.installed}
    purged = sum(installed.get(name, 0) for name in removal.purged)
    share, how = wheels_share(wheels)
    base = PredictedLayer(f"FROM {resolution.image}", base_bytes, 0, "the base image, read")
    first = PredictedLayer(f"RUN {commands[0]}", python.installed_bytes, 0,
                           f"Σ I: of the {len(python.installed)} packages apk installs")
    multi = [
        base, first,
        PredictedLayer(f"RUN {commands[1]}", tool.installed_bytes, 0,
                       f"Σ I: of the {len(tool.installed)} packages apk installs"),
        PredictedLayer(f"RUN {pip_command}", share, 0, how),
        PredictedLayer(f"RUN {commands[2]}", 0, purged, f"apk purges {len(removal.purged)} packages"),
    ]
    single = [
        base, first,
        PredictedLayer(f"RUN {commands[1]} && {pip_command} && {commands[2]}",
                       tool.installed_bytes - purged + share, 0, "what the chain installs and keeps, and the wheels"),
    ]
    return {"multi-RUN": multi, "single-RUN": single}
