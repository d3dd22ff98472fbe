"""The budgets that keep hostile input from costing unbounded time, memory or disk.

Each is a budget **per image** (or per recording, or per build), never per
record: a thousand records each under a per-record limit still meet the
image's budget.  Each has a default and an environment variable; sizes are read
as the CLI reads them (:func:`helpers.ground.sizes.parse_size`: ``16MiB``, ``1GB``, ``500000``),
counts accept plain or grouped integers (``250000``, ``250_000``, ``250,000``).
A value that cannot be read is refused loudly (:class:`LimitSettingError`),
never silently replaced by the default.

=============================  ==========================================  ===========
variable                       what it bounds                              default
=============================  ==========================================  ===========
``LAYERLAB_MAX_ENTRIES``       tar entries per image, repeats included     250,000
``LAYERLAB_MAX_EXPANDED_BYTES`` decompressed bytes per image               64 GiB
``LAYERLAB_MAX_METADATA_BYTES`` pax/GNU metadata bytes per entry           1 MiB
``LAYERLAB_MAX_RECORDING_ENTRIES`` tar entries held by one recording        2,000,000
``LAYERLAB_MAX_ADD_BYTES``     bytes an embedded build's ADDs may write    4 GiB
``LAYERLAB_MAX_ADD_ENTRIES``   members an embedded build's ADDs may write  250,000
=============================  ==========================================  ===========
"""

from __future__ import annotations

import os
from collections import namedtuple
from collections.abc import Mapping

from .errors import LayerLabError
from .sizes import parse_size


class LimitSettingError(LayerLabError):
    """A ``LAYERLAB_MAX_*`` variable holds something that is not a size or a count."""


class Limit(namedtuple("Limit", "variable default is_size what")):
    """One budget: its variable, its default, and whether it counts bytes (a size) or items (a count).

    A :func:`~collections.namedtuple`, as the model's records are (:mod:`helpers.ground.model` says why).
    """

    __slots__ = ()
    variable: str
    default: int
    is_size: bool
    what: str

    def read(self, environ: Mapping[str, str] | None = None) -> int:
        """The budget ``environ`` (default: this process's environment) sets: its value when set, else the default."""
        raw = (os.environ if environ is None else environ).get(self.variable, "").strip()
        if not raw:
            return self.default
        return parse_limit(raw, self)


def parse_limit(text: str, limit: Limit) -> int:
    """``text`` read as ``limit``'s kind of value; :class:`LimitSettingError` naming the variable otherwise."""
    import humanfriendly  # on first use: only a variable that is set is parsed

    try:
        number = parse_size(text) if limit.is_size else int(text.replace(",", ""))
    except ValueError:
        number = -1
    if number <= 0:
        example = "a size such as 16MiB or 2G" if limit.is_size else "a positive whole number such as 250000"
        raise LimitSettingError(
            f"{limit.variable}={text!r} is not {example} ({limit.what})",
            f"set {limit.variable} to {example}, or unset it for the default "
            f"({humanfriendly.format_size(limit.default, binary=True) if limit.is_size else f'{limit.default:,}'})",
        )
    return int(number)


MAX_ENTRIES = Limit("LAYERLAB_MAX_ENTRIES", 250_000, False, "the most tar entries one image may hold")
MAX_EXPANDED_BYTES = Limit("LAYERLAB_MAX_EXPANDED_BYTES", 64 << 30, True,
                           "the most decompressed bytes one image may expand to")
MAX_METADATA_BYTES = Limit("LAYERLAB_MAX_METADATA_BYTES", 1 << 20, True,
                           "the most pax and GNU long-name bytes one tar entry may carry")
MAX_RECORDING_ENTRIES = Limit("LAYERLAB_MAX_RECORDING_ENTRIES", 2_000_000, False,
                              "the most tar entries one recording may hold")
MAX_ADD_BYTES = Limit("LAYERLAB_MAX_ADD_BYTES", 4 << 30, True,
                      "the most bytes the ADD steps of one embedded build may write")
MAX_ADD_ENTRIES = Limit("LAYERLAB_MAX_ADD_ENTRIES", 250_000, False,
                        "the most archive members the ADD steps of one embedded build may write")

ALL = (MAX_ENTRIES, MAX_EXPANDED_BYTES, MAX_METADATA_BYTES, MAX_RECORDING_ENTRIES, MAX_ADD_BYTES, MAX_ADD_ENTRIES)


class Limits(namedtuple("Limits", "entries expanded_bytes metadata_bytes recording_entries add_bytes add_entries",
                        defaults=(MAX_ENTRIES.default, MAX_EXPANDED_BYTES.default, MAX_METADATA_BYTES.default,
                                  MAX_RECORDING_ENTRIES.default, MAX_ADD_BYTES.default, MAX_ADD_ENTRIES.default))):
    """The budgets in force, one value each (default: the documented defaults, not the environment).

    Read from the environment once, at the edges, by :meth:`from_environment`
    (through :meth:`helpers.ground.settings.Settings.from_environment`), then passed down.
    """

    __slots__ = ()
    entries: int
    expanded_bytes: int
    metadata_bytes: int
    recording_entries: int
    add_bytes: int
    add_entries: int

    @classmethod
    def from_environment(cls, environ: Mapping[str, str] | None = None) -> Limits:
        """Every ``LAYERLAB_MAX_*`` read at once; the first unreadable one is a :class:`LimitSettingError`."""
        return cls(
            entries=MAX_ENTRIES.read(environ), expanded_bytes=MAX_EXPANDED_BYTES.read(environ),
            metadata_bytes=MAX_METADATA_BYTES.read(environ), recording_entries=MAX_RECORDING_ENTRIES.read(environ),
            add_bytes=MAX_ADD_BYTES.read(environ), add_entries=MAX_ADD_ENTRIES.read(environ),
        )


#: The ceilings a read keeps to unless it is handed others: the documented defaults.
DEFAULT_LIMITS = Limits()
