"""Byte counts for people: ``16777216`` → ``16.0 MiB``."""

from __future__ import annotations

_UNITS = ["B", "KiB", "MiB", "GiB", "TiB"]


def format_bytes(count: int | float) -> str:
    """Binary units with one decimal (``1536`` → ``1.5 KiB``); plain bytes below 1 KiB."""
    value = float(count)
    for unit in _UNITS:
        if abs(value) < 1024 or unit == _UNITS[-1]:
            return f"{int(value)} B" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1024
    raise AssertionError("unreachable")
