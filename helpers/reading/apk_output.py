"""Read what ``apk`` printed for a run of :func:`helpers.orchestration.apk.apk_script`.

The script marks each part of its output with a line ``@@ KIND [N]`` (``update``,
``step N``, ``status CODE``, ``index``), so each step's lines are told apart;
apk's own lines are read as apk 2 and 3 write them: ``(1/11) Installing NAME
(VERSION)`` and ``(1/3) Purging NAME (VERSION)``.  The index section holds the
index's own paragraphs (``P:``, ``V:``, ``S:``, ``I:`` …) for every package a
step installs, as apk's ``APKINDEX`` writes them.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

from ..ground.apk_plan import ApkPackage, ApkResolution, ApkStep
from ..ground.errors import LayerLabError
from .apk_paragraphs import paragraphs

_MARK = re.compile(r"^@@ (update|step|status|index|end)(?: (\S+))?$")
_ACTION = re.compile(r"^\(\d+/\d+\) (Installing|Purging) (\S+) \((\S+)\)")


class ApkOutputError(LayerLabError):
    """apk's output is not what the script makes it print."""


def _number(text: str) -> int:
    return int(text) if text.isdigit() else 0


def parse_apk_run(stdout: str, image: str, commands: Sequence[str]) -> ApkResolution:
    """The :class:`ApkResolution` of ``commands`` on ``image``, from the script's ``stdout``."""
    sections: list[tuple[str, str | None, list[str]]] = []
    for line in stdout.splitlines():
        mark = _MARK.match(line)
        if mark:
            sections.append((mark.group(1), mark.group(2), []))
        elif sections:
            sections[-1][2].append(line)
    index_lines = [line for kind, _, lines in sections if kind == "index" for line in lines]
    known = {p["P"]: p for p in paragraphs("\n".join(index_lines)) if "P" in p}
    update = next((lines for kind, _, lines in sections if kind == "update"), None)
    if update is None:
        raise ApkOutputError("apk's output has no update section: the script did not run",
                             "look at what the container printed")
    steps: list[ApkStep] = []
    for position, (kind, value, lines) in enumerate(sections):
        if kind != "step":
            continue
        number = int(value or 0)
        status = next((v for k, v, _ in sections[position + 1:] if k == "status"), "1")
        installed, purged, messages = [], [], []
        for line in lines:
            action = _ACTION.match(line)
            if action and action.group(1) == "Installing":
                fields = known.get(action.group(2), {})
                installed.append(ApkPackage(action.group(2), action.group(3), _number(fields.get("S", "")),
                                            _number(fields.get("I", ""))))
            elif action:
                purged.append(action.group(2))
            elif line.strip() and not line.startswith("OK:"):
                messages.append(line.rstrip())
        steps.append(ApkStep(commands[number - 1], status == "0", tuple(installed), tuple(purged), tuple(messages)))
    if len(steps) != len(commands):
        raise ApkOutputError(f"apk's output holds {len(steps)} steps, not {len(commands)}",
                             "look at what the container printed")
    described = [line.strip() for line in update if line.strip() and not line.startswith("OK:")]
    return ApkResolution(image, "; ".join(described), tuple(steps))
