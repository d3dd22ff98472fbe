"""The budgets' variables: sizes read as the command line reads them, bad values refused, helpers/README.md true."""

from __future__ import annotations

import re
from pathlib import Path

import humanfriendly
import pytest

from helpers.ground.errors import LayerLabError
from helpers.ground.limits import ALL, MAX_ADD_BYTES, MAX_ENTRIES, MAX_EXPANDED_BYTES, LimitSettingError

README = Path(__file__).resolve().parents[2] / "helpers" / "README.md"  # the reference


@pytest.mark.parametrize(("limit", "text", "value"), [
    (MAX_EXPANDED_BYTES, "1G", 10**9),  # as --max-reclaimable reads it: G is 10^9, GiB is 2^30
    (MAX_EXPANDED_BYTES, "1GiB", 1 << 30),
    (MAX_EXPANDED_BYTES, "5MB", 5_000_000),
    (MAX_EXPANDED_BYTES, "16MiB", 16 << 20),
    (MAX_ADD_BYTES, "500000", 500_000),
    (MAX_ENTRIES, "250,000", 250_000),
    (MAX_ENTRIES, " 12 ", 12),
])
def test_values_are_read_as_the_command_line_reads_them(monkeypatch, limit, text, value):
    monkeypatch.setenv(limit.variable, text)
    assert limit.read() == value


@pytest.mark.parametrize(("limit", "text"), [
    (MAX_ENTRIES, "-5"), (MAX_ENTRIES, "0"), (MAX_ENTRIES, "1G"), (MAX_ENTRIES, "lots"),
    (MAX_EXPANDED_BYTES, "-5MB"), (MAX_EXPANDED_BYTES, "big"), (MAX_EXPANDED_BYTES, "0"),
    # humanfriendly alone reads a word by its first letter and cuts a fraction of a byte off: not sizes
    (MAX_EXPANDED_BYTES, "1 banana"), (MAX_EXPANDED_BYTES, "2 kilos"), (MAX_EXPANDED_BYTES, "1.5"),
    (MAX_EXPANDED_BYTES, "1e9"), (MAX_EXPANDED_BYTES, "0x10"),
])
def test_a_value_that_cannot_be_read_is_refused_naming_the_variable(monkeypatch, limit, text):
    monkeypatch.setenv(limit.variable, text)
    with pytest.raises(LimitSettingError) as caught:
        limit.read()
    assert isinstance(caught.value, LayerLabError)
    assert limit.variable in caught.value.message and limit.variable in caught.value.hint


def test_unset_or_empty_means_the_default(monkeypatch):
    for limit in ALL:
        monkeypatch.setenv(limit.variable, "")
        assert limit.read() == limit.default
        monkeypatch.delenv(limit.variable)
        assert limit.read() == limit.default


def test_the_readme_table_gives_every_budget_and_its_default():
    rows = {match[0]: match[1] for match in re.findall(r"^\| `(LAYERLAB_MAX_\w+)` \|.*\| ([^|]+) \|$",
                                                        README.read_text(), re.M)}
    expected = {limit.variable: humanfriendly.format_size(limit.default, binary=True) if limit.is_size
                else f"{limit.default:,}" for limit in ALL}
    assert {name: value.strip() for name, value in rows.items()} == expected


def test_the_readme_gives_the_fixed_bounds_the_reader_enforces():
    from helpers.reading import assemble, blob_store, oci_index

    text = " ".join(README.read_text().split())
    assert f"metadata documents of at most {blob_store.METADATA_LIMIT >> 20} MiB" in text
    assert f"at most {assemble.MAX_LAYERS:,} layers in one manifest" in text
    assert f"indexes nested at most {oci_index.MAX_INDEX_DEPTH} deep" in text
    assert f"at most {oci_index.MAX_INDEX_DESCRIPTORS:,} descriptors" in text


def test_a_limit_and_a_budget_read_one_size_the_same_way(monkeypatch):
    from helpers.views.budget import parse_budget_size

    for text in ("5MB", "5MiB", "1G", "1GiB", "1000", "1.5GiB", "3 megabytes", "2 kibibytes"):
        monkeypatch.setenv(MAX_EXPANDED_BYTES.variable, text)
        assert MAX_EXPANDED_BYTES.read() == parse_budget_size(text), text
