"""A ``RUN`` instruction's flags: ``--mount`` (BuildKit's build-only mounts) and ``--network``, read strictly.

``RUN --mount=type=cache,target=/root/.cache/pip pip install …`` gives the step
something it can use without it reaching a layer: the book's second technique,
as BuildKit spells it.  The mount kinds, as Docker documents them:

* ``type=cache``: a folder kept by the builder between builds (``id``, default
  the target), read-write; for package managers' caches;
* ``type=bind`` (the default type): a file or folder of the build context, or
  ``from=`` a stage or image, at ``source`` (default its root); read-only
  unless ``rw``, and even then what the step writes there is thrown away;
* ``type=tmpfs``: an empty folder in memory, thrown away.

Nothing mounted reaches a layer.  ``type=secret`` and ``type=ssh`` are not
supported here, and say so.  A flag or an option this module does not know
is an error naming it, never silently ignored.
"""

from __future__ import annotations

import csv
import posixpath
from dataclasses import dataclass

from .errors import DockerfileError

MOUNT_TYPES = ("bind", "cache", "tmpfs")
#: The most mounts one ``RUN`` may have: each bind is a copy of its source, so a 10 KB Dockerfile
#: of binds of the whole context would otherwise cost that many copies of it.
MAX_MOUNTS = 16
NETWORKS = ("default", "none", "host")
_BOOLEAN = {"": True, "true": True, "1": True, "false": False, "0": False}
_TARGET = ("target", "dst", "destination")
_SOURCE = ("source", "src")
#: The options each type takes (besides ``type`` and the target's names).
_OPTIONS = {
    "bind": {"source", "src", "from", "rw", "readwrite", "ro", "readonly"},
    "cache": {"id", "source", "src", "from", "sharing", "mode", "uid", "gid", "ro", "readonly"},
    "tmpfs": {"size"},
}


@dataclass(frozen=True)
class RunMount:
    """One ``--mount`` of a ``RUN``: its ``kind``, its ``target`` in the image, and where its files come from.

    ``source`` is a path in the context or in stage ``from_`` (bind), or in the
    cache; ``cache_id`` names a cache (default: the target); ``read_only``
    says whether the step may write (a bind is read-only unless ``rw``; a
    cache is read-write unless ``ro``).
    """

    kind: str
    target: str
    source: str = ""
    from_: str = ""
    cache_id: str = ""
    read_only: bool = False

    def target_in(self, workdir: str) -> str:
        """The target as an absolute path in the image (a relative one is below ``workdir``)."""
        path = self.target if self.target.startswith("/") else f"{workdir.rstrip('/')}/{self.target}"
        return posixpath.normpath("/" + path.lstrip("/"))


@dataclass(frozen=True)
class RunFlags:
    """A ``RUN``'s flags, and the command after them."""

    mounts: tuple[RunMount, ...]
    network: str | None
    command: str


def _bool(option: str, value: str, text: str) -> bool:
    if value.lower() not in _BOOLEAN:
        raise DockerfileError(f"`{text}`: `{option}={value}` is neither true nor false", f"write {option} alone")
    return _BOOLEAN[value.lower()]


def parse_mount(text: str) -> RunMount:
    """One ``--mount=`` value (``type=cache,target=/root/.cache``), checked as BuildKit checks it."""
    try:
        [fields] = list(csv.reader([text]))
    except (csv.Error, ValueError) as exc:
        raise DockerfileError(f"`--mount={text}` cannot be read", "write --mount=type=…,target=…") from exc
    options: dict[str, str] = {}
    for field in fields:
        key, has_value, value = field.partition("=")
        key = key.strip().lower()
        if key in options:
            raise DockerfileError(f"`--mount={text}` gives `{key}` twice", "give each option once")
        options[key] = value if has_value else ""
    kind = options.pop("type", "bind").lower()
    if kind in ("secret", "ssh"):
        raise DockerfileError(f"`--mount={text}`: type={kind} is not supported by the embedded builder",
                              "build with the Docker Engine (--engine docker), or pass what it needs as a file "
                              "in the context")
    if kind not in MOUNT_TYPES:
        raise DockerfileError(f"`--mount={text}`: type={kind} is not a mount type",
                              f"use one of {', '.join(MOUNT_TYPES)}")
    targets = [options.pop(name) for name in _TARGET if name in options]
    if len(targets) != 1 or not targets[0]:
        raise DockerfileError(f"`--mount={text}` needs one target", "add target=/path/in/the/image")
    unknown = sorted(set(options) - _OPTIONS[kind])
    if unknown:
        raise DockerfileError(f"`--mount={text}`: type={kind} takes no `{unknown[0]}`",
                              f"use only {', '.join(sorted(_OPTIONS[kind]))}")
    sources = [options[name] for name in _SOURCE if name in options]
    if len(sources) > 1:
        raise DockerfileError(f"`--mount={text}` gives its source twice", "give source= once")
    if kind == "bind":
        read_only = not any(_bool(name, options[name], text) for name in ("rw", "readwrite") if name in options)
    else:
        read_only = any(_bool(name, options[name], text) for name in ("ro", "readonly") if name in options)
    target = targets[0]
    if posixpath.normpath("/" + target.lstrip("/")) == "/":
        raise DockerfileError(f"`--mount={text}` would cover the image's whole filesystem", "mount below /")
    return RunMount(kind, target, sources[0] if sources else "", options.get("from", ""),
                    options.get("id", "") or (target if kind == "cache" else ""), read_only)


def parse_run(value: str) -> RunFlags:
    """Split a ``RUN``'s value into its leading flags and its command (shell or JSON form)."""
    rest = value.lstrip()
    mounts: list[RunMount] = []
    network = None
    while rest.startswith("--"):
        word, _, after = rest.partition(" ")
        name, has_value, flag_value = word[2:].partition("=")
        if name == "mount" and has_value:
            mounts.append(parse_mount(flag_value))
            if len(mounts) > MAX_MOUNTS:
                raise DockerfileError(f"`RUN` has more than {MAX_MOUNTS} --mount flags",
                                      "mount a folder that holds what the step needs")
        elif name == "network" and flag_value in NETWORKS:
            network = flag_value
        else:
            raise DockerfileError(f"`RUN {word}` is not a flag the embedded builder knows",
                                  "use --mount=… or --network=none|default|host, or build with the Docker Engine "
                                  "(--engine docker)")
        rest = after.lstrip()
    targets = [mount.target for mount in mounts]
    if len(set(targets)) != len(targets):
        raise DockerfileError(f"`RUN {value.strip()[:80]}` mounts two things at one target", "give each its own")
    return RunFlags(tuple(mounts), network, rest)


def uses_buildkit_flags(value: str) -> bool:
    """Whether a ``RUN``'s value starts with a flag only BuildKit reads (``--mount``, ``--network``, ``--security``)."""
    return value.lstrip().startswith(("--mount", "--network", "--security"))
