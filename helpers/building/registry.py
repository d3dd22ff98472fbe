"""Debian's package registry, as builds reach it: does it answer, and did a build fail because it did not?

Builds that run ``apt-get`` need the registry, and nothing else of the
network.  *Offline mode* (``LAYERLAB_OFFLINE=1``) means no internet, and a
machine may still reach a Debian mirror (a CI runner with a package proxy,
a lab with a local mirror); such builds ask for the network explicitly
(``network=True``, ``--network``) and get it, while nothing is ever pulled.

:func:`registry_reason` probes the mirror this machine's apt configuration
names (or ``LAYERLAB_DEBIAN_MIRROR``) with one HTTP request; with the internet
(offline mode off) the registry is taken to answer.  :func:`apt_failure`
turns a build whose ``apt-get`` could not fetch into one clear error.
"""

from __future__ import annotations

import functools
import re

from ..ground.errors import LayerLabError
from .bases import debian_mirror

#: What apt prints when it cannot reach a mirror (``apt-get update`` only warns, then ``install`` fails).
_APT_UNREACHABLE = re.compile(
    r"Temporary failure resolving|Could not resolve|Could not connect to|Unable to connect to"
    r"|Network is unreachable|Connection timed out|Connection refused|No route to host|Failed to fetch"
)
PROBE_TIMEOUT = 5.0


class RegistryUnreachable(LayerLabError):
    """``apt-get`` in a build could not reach Debian's package registry."""


def fetch_failed(line: str) -> bool:
    """True for a line where apt says it could not reach its mirror."""
    return _APT_UNREACHABLE.search(line) is not None


def apt_failure(log: list[str], network: bool, instruction: str) -> RegistryUnreachable | None:
    """The error for a failed step whose log (all of it, not only its tail) shows apt could not reach its mirror."""
    lines = [line for line in log if fetch_failed(line)]
    if not lines:
        return None
    said = lines[-1].strip()
    if not network:
        return RegistryUnreachable(
            f"`{instruction}`: apt-get cannot reach Debian's package registry because the build has no network "
            f"(offline mode): {said}",
            "give the build the network it needs for apt (network=True, or --network on the command line)",
        )
    return RegistryUnreachable(
        f"`{instruction}`: apt-get cannot reach Debian's package registry: {said}",
        "check that this machine reaches its Debian mirror; without it, replay the notebook's recording "
        "(LAYERLAB_ENGINE=recorded)",
    )


@functools.lru_cache(maxsize=4)
def _probe(url: str) -> str | None:
    import requests

    try:
        requests.head(url, timeout=PROBE_TIMEOUT, allow_redirects=False)
    except requests.exceptions.RequestException as exc:
        return f"{url} does not answer ({type(exc).__name__})"
    return None


def registry_reason(offline: bool, mirror: str = "") -> str | None:
    """Why builds cannot reach Debian's package registry here, or ``None`` when they can.

    ``mirror`` (``LAYERLAB_DEBIAN_MIRROR``), else the mirror of this machine's apt configuration,
    must answer one HTTP request within :data:`PROBE_TIMEOUT` seconds; any HTTP
    answer counts, and the answer is kept for the process.  A machine whose apt
    names no Debian mirror reaches the registry only ``online``: on the internet.
    """
    try:
        mirror, _security = debian_mirror(override=mirror)
    except LayerLabError:
        if offline:
            return ("offline mode is on and this machine's apt configuration names no Debian mirror "
                    "(set LAYERLAB_DEBIAN_MIRROR)")
        return None
    return _probe(mirror)
