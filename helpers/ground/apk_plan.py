"""What Alpine's own ``apk`` said a Dockerfile's ``apk`` steps do: what each adds and removes, with apk's figures.

Made by :mod:`helpers.orchestration.apk` (which runs apk) from what apk
printed (read by :mod:`helpers.reading.apk_output`); drawn by
:mod:`helpers.views.tables`.  Each package's sizes are the index's own fields:
``S:`` (the package file's bytes, what a build downloads) and ``I:`` (its
installed size, the bytes a layer gains), the figures ``apk`` itself uses.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class ApkPackage:
    """One package as the index lists it: ``download_bytes`` is ``S:``, ``installed_bytes`` is ``I:``."""

    name: str
    version: str
    download_bytes: int
    installed_bytes: int


@dataclass(frozen=True)
class ApkStep:
    """One ``apk`` command of a Dockerfile, resolved: what it installs and purges, and apk's other words.

    ``ok`` is apk's exit status being 0; ``messages`` are the lines apk printed
    that are neither an install nor a purge (``World updated, but …``, errors).
    """

    command: str
    ok: bool
    installed: tuple[ApkPackage, ...]
    purged: tuple[str, ...]
    messages: tuple[str, ...]

    @property
    def download_bytes(self) -> int:
        """Σ ``S:`` over the packages the step installs."""
        return sum(p.download_bytes for p in self.installed)

    @property
    def installed_bytes(self) -> int:
        """Σ ``I:`` over the packages the step installs."""
        return sum(p.installed_bytes for p in self.installed)


@dataclass(frozen=True)
class ApkResolution:
    """Every ``apk`` step of a Dockerfile on one base ``image``, in order; ``index`` says which index apk read."""

    image: str
    index: str
    steps: tuple[ApkStep, ...]

    def step(self, command: str) -> ApkStep:
        """The step whose command is ``command``."""
        return next(step for step in self.steps if step.command == command)
