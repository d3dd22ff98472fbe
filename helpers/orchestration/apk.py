"""Ask Alpine's own ``apk`` what a Dockerfile's ``apk`` steps do, in the image itself, with no package file.

``apk add --simulate`` resolves a step against the repository's signed index and
prints exactly what it would install, without fetching a package.  So a
throwaway container of the base image (:meth:`helpers.building.builder.Builder.run`,
with either engine) runs the steps in order:

* ``apk update``, against a copy of the release's signed ``APKINDEX`` found in
  ``LAYERLAB_APKINDEX`` (put at ``/repo`` in the container, with no network; apk
  checks its signature with the image's own keys), else online against Alpine's mirrors;
* for ``apk add``: the plan (``--simulate``), then the index's own paragraphs
  of the planned packages written into apk's installed database and the
  command run for real, which now has nothing to fetch: the next step sees
  the packages as installed, with apk's own metadata and no files;
* for ``apk del``: the command itself, on that database, which prints what apk
  purges, or why it purges nothing.

Nothing here is apk's output made up: the figures are the index's ``S:`` and
``I:`` fields, and the messages are apk's.  Of the index, only each planned
package's name, version and two sizes are printed (and so recorded).  Which index was read is apk's own
first line of ``apk update``.
"""

from __future__ import annotations

import json
import re
import shlex
from collections.abc import Iterable, Sequence
from pathlib import Path

from ..building.apk_indexes import INDEX_NAME, find_index, release
from ..ground.apk_plan import ApkResolution
from ..ground.errors import LayerLabError
from ..ground.settings import APKINDEX_VARIABLE
from ..reading.apk_output import ApkOutputError, parse_apk_run
from .lab import Lab

#: Where the container finds an index copied in offline.
REPOSITORY = "/repo"
#: The most bytes an index may hold (Alpine's are under 2 MiB).
MAX_INDEX_BYTES = 64 << 20
_APK_COMMAND = re.compile(r"^apk (add|del)((?: [A-Za-z0-9_.+-]+)+)$")


class ApkIndexMissing(LayerLabError):
    """Offline, and no copy of the release's signed index is at hand for ``apk`` to read."""


def apk_script(commands: Sequence[str], offline_index: bool) -> str:
    """The shell script that asks apk about ``commands`` (each ``apk add …`` or ``apk del …``), in order.

    It always exits 0: each step's own status is printed after it.
    """
    lines = ["exec 2>&1"]
    if offline_index:
        lines.append(f"echo {REPOSITORY} > /etc/apk/repositories")
    lines += ["echo '@@ update'", "apk update", "echo \"@@ status $?\"",
              f"for f in {REPOSITORY}/*/APKINDEX.tar.gz /var/cache/apk/APKINDEX.*.tar.gz; do "
              "[ -f \"$f\" ] && tar -xzOf \"$f\" APKINDEX; done > /tmp/layerlab-index"]
    for number, command in enumerate(commands, start=1):
        match = _APK_COMMAND.match(command)
        if match is None:
            raise LayerLabError(f"{command!r} is not an `apk add` or `apk del` of plain package names",
                                "write apk add NAME… or apk del NAME…")
        verb, names = match.group(1), shlex.join(match.group(2).split())
        lines.append(f"echo '@@ step {number}'")
        if verb == "del":
            lines += [f"apk del {names}", "echo \"@@ status $?\""]
            continue
        lines += [
            f"apk add --simulate {names} > /tmp/layerlab-plan",
            "status=$?", "cat /tmp/layerlab-plan", "echo \"@@ status $status\"",
            "if [ $status = 0 ]; then",
            "  want=\" $(sed -n 's/^([0-9]*\\/[0-9]*) Installing \\([^ ]*\\) .*/\\1/p' /tmp/layerlab-plan"
            " | tr '\\n' ' ')\"",
            "  awk -v want=\"$want\" 'BEGIN { RS = \"\"; FS = \"\\n\" } "
            "{ for (i = 1; i <= NF; i++) if ($i ~ /^P:/) name = substr($i, 3); "
            "if (index(want, \" \" name \" \")) print $0 \"\\n\" }' /tmp/layerlab-index > /tmp/layerlab-chosen",
            "  echo '@@ index'", "  awk '/^[PVSI]:/ || /^$/' /tmp/layerlab-chosen",  # names, versions, sizes
            "  cat /tmp/layerlab-chosen >> /lib/apk/db/installed",
            f"  apk add {names} > /dev/null",
            "fi",
        ]
    lines.append("echo '@@ end'")
    return "\n".join(lines) + "\n"


def apk_request(image: str, commands: Sequence[str], offline: bool,
                folders: Iterable[Path]) -> tuple[str, dict[str, bytes]]:
    """The script and files that ask apk about ``commands`` on ``image``.

    With a copy of the release's signed index in ``folders`` (``LAYERLAB_APKINDEX``), apk reads
    that, online or not, so the answer is the same wherever it runs; else, online, Alpine's mirrors.
    """
    index = find_index(image, list(folders))
    if index is None:
        if not offline:
            return apk_script(commands, offline_index=False), {}
        wanted = INDEX_NAME.format(version=release(image)[0], repository="main", arch="x86_64")
        raise ApkIndexMissing(
            f"offline, apk needs a copy of {image}'s signed index, and none is in {APKINDEX_VARIABLE}",
            f"set {APKINDEX_VARIABLE} to a folder holding {wanted} (Alpine's own, from its mirror), "
            "or run where the internet is",
        )
    data = index.read_bytes() if index.stat().st_size <= MAX_INDEX_BYTES else None
    if data is None:
        raise LayerLabError(f"{index} holds over {MAX_INDEX_BYTES >> 20} MiB: not an APKINDEX", "check the file")
    return apk_script(commands, offline_index=True), {f"{REPOSITORY}/x86_64/APKINDEX.tar.gz": data}


def resolve(lab: Lab, image: str, commands: Sequence[str]) -> ApkResolution:
    """What apk says ``commands`` do on ``image``: asked in a throwaway container here, or replayed from ``lab``.

    Offline, apk reads the release's signed index from ``LAYERLAB_APKINDEX``; online, Alpine's mirrors.
    """
    commands = list(commands)

    def ask_apk() -> dict:
        assert lab.builder is not None
        settings = lab.settings
        script, files = apk_request(image, commands, settings.offline, settings.apk_indexes)
        done = lab.builder.run(image, script, files, network=not files)  # the mirror, only without a copy
        return {"stdout": done.stdout, "stderr": done.stderr, "returncode": done.returncode}

    value = lab.measure(f"apk on {image}", json.dumps({"image": image, "commands": commands}), ask_apk)
    if not isinstance(value, dict) or not isinstance(value.get("stdout"), str):
        raise ApkOutputError(f"the recording of apk on {image} is malformed", "record it again")
    return parse_apk_run(value["stdout"], image, commands)
