"""The settings: every ``LAYERLAB_*`` read in one place into one frozen value, and a bad one refused at once."""

from __future__ import annotations

import os
import re
from pathlib import Path

import pytest

import helpers.ground.settings as settings_module
from helpers.ground.errors import LayerLabError
from helpers.ground.limits import ALL, Limits, LimitSettingError
from helpers.ground.settings import Settings

README = Path(__file__).resolve().parents[2] / "helpers" / "README.md"  # the reference


def test_an_empty_environment_gives_the_documented_defaults():
    assert Settings.from_environment({}) == Settings()
    assert Settings().limits == Limits(*(limit.default for limit in ALL))


def test_each_variable_sets_its_field(tmp_path):
    a, b, idx = (tmp_path / name for name in ("a", "b", "idx"))
    for folder in (a, b, idx):
        folder.mkdir()
    environ = {
        "LAYERLAB_OFFLINE": "yes", "LAYERLAB_ENGINE": " Embedded ", "LAYERLAB_RECORD": "1",
        "LAYERLAB_STORE": "/srv/store", "LAYERLAB_ROOTFS": os.pathsep.join([str(a), "", str(b)]),
        "LAYERLAB_APKINDEX": str(idx),
        "LAYERLAB_DEBIAN_MIRROR": "http://mirror.example/debian", "LAYERLAB_RUN": "PROOT", "LAYERLAB_VERIFY": "1",
        "LAYERLAB_DOCKER_BUILDER": "BuildKit", "LAYERLAB_BUILDS_AT_ONCE": " 3 ",
        "LAYERLAB_MAX_ENTRIES": "12", "LAYERLAB_MAX_EXPANDED_BYTES": "1MiB", "LAYERLAB_MAX_METADATA_BYTES": "2KiB",
        "LAYERLAB_MAX_RECORDING_ENTRIES": "3", "LAYERLAB_MAX_ADD_BYTES": "4KiB", "LAYERLAB_MAX_ADD_ENTRIES": "5",
    }
    assert Settings.from_environment(environ) == Settings(
        offline=True, engine="embedded", record=True, store=Path("/srv/store"), rootfs=(a, b),
        apk_indexes=(idx,),
        debian_mirror="http://mirror.example/debian", run_mode="proot", docker_builder="buildkit", verify=True,
        limits=Limits(12, 1 << 20, 2 << 10, 3, 4 << 10, 5), builds_at_once=3,
    )


def test_every_variable_the_module_names_is_read_and_documented():
    names = {value for key, value in vars(settings_module).items() if key.endswith("_VARIABLE")}
    documented = set(re.findall(r"``(LAYERLAB_\w+)``", settings_module.__doc__ or ""))
    assert names <= documented
    table = set(re.findall(r"^\| `(LAYERLAB_\w+)` \|", README.read_text(), re.M))
    assert table == names | {limit.variable for limit in ALL}  # the README's Settings and Budgets tables


def test_the_settings_are_frozen_and_fixed_once_read(monkeypatch):
    monkeypatch.setenv("LAYERLAB_OFFLINE", "1")
    read = Settings.from_environment()
    monkeypatch.setenv("LAYERLAB_OFFLINE", "0")
    assert read.offline is True  # a run keeps what it read at its start
    with pytest.raises(AttributeError):
        read.offline = False  # type: ignore[misc]
    with pytest.raises(LayerLabError, match="unknown engine 'podman'"):
        read._replace(engine="podman")  # a copy is checked as a new one is


@pytest.mark.parametrize(("variable", "value", "named"), [
    ("LAYERLAB_ENGINE", "podman", "LAYERLAB_ENGINE='podman' is not an engine"),
    ("LAYERLAB_ROOTFS", "/no/such/folder", "LAYERLAB_ROOTFS names '/no/such/folder', which is no folder"),
    ("LAYERLAB_ROOTFS", "/etc/passwd", "LAYERLAB_ROOTFS names '/etc/passwd', which is a file, not a folder"),
    ("LAYERLAB_APKINDEX", "/no/such/folder", "LAYERLAB_APKINDEX names '/no/such/folder', which is no folder"),
    ("LAYERLAB_DEBIAN_MIRROR", "mirror.example", "LAYERLAB_DEBIAN_MIRROR='mirror.example' is not the address"),
    ("LAYERLAB_RUN", "banana", "LAYERLAB_RUN='banana' is not a way to run a RUN step"),
    ("LAYERLAB_DOCKER_BUILDER", "kaniko", "LAYERLAB_DOCKER_BUILDER='kaniko' is not one of the Docker Engine's"),
    ("LAYERLAB_MAX_ENTRIES", "lots", "LAYERLAB_MAX_ENTRIES='lots'"),
    ("LAYERLAB_BUILDS_AT_ONCE", "0", "LAYERLAB_BUILDS_AT_ONCE='0' is not a number of builds to run at once"),
    ("LAYERLAB_BUILDS_AT_ONCE", "9", "LAYERLAB_BUILDS_AT_ONCE='9' is not a number of builds to run at once"),
    ("LAYERLAB_BUILDS_AT_ONCE", "²", "LAYERLAB_BUILDS_AT_ONCE='²' is not a number of builds to run at once"),
    ("LAYERLAB_BUILDS_AT_ONCE", "-1", "LAYERLAB_BUILDS_AT_ONCE='-1' is not a number of builds to run at once"),
    ("LAYERLAB_BUILDS_AT_ONCE", "two", "LAYERLAB_BUILDS_AT_ONCE='two' is not a number of builds to run at once"),
    ("LAYERLAB_BUILDS_AT_ONCE", "9" * 5000, "LAYERLAB_BUILDS_AT_ONCE='" + "9" * 59 + "'… is not a number"),
])
def test_a_bad_value_is_refused_when_the_settings_are_read(variable, value, named):
    with pytest.raises(LayerLabError) as caught:
        Settings.from_environment({variable: value})
    assert named in caught.value.message and caught.value.hint
    if variable.startswith("LAYERLAB_MAX_"):
        assert isinstance(caught.value, LimitSettingError)


def test_a_value_made_by_hand_is_checked_too():
    with pytest.raises(LayerLabError, match="unknown engine"):
        Settings(engine="podman")


@pytest.mark.parametrize("variable", ["LAYERLAB_OFFLINE", "LAYERLAB_RECORD", "LAYERLAB_VERIFY"])
def test_an_on_off_setting_takes_the_usual_words_and_refuses_anything_else(variable):
    field = {"LAYERLAB_OFFLINE": "offline", "LAYERLAB_RECORD": "record", "LAYERLAB_VERIFY": "verify"}[variable]
    for value, meant in [("1", True), ("TRUE", True), ("yes", True), (" on ", True), ("0", False), ("false", False),
                         ("No", False), ("off", False), ("", False)]:
        assert getattr(Settings.from_environment({variable: value}), field) is meant, value
    for value in ["maybe", "banana", "2", "-1", "x" * 10_000]:
        with pytest.raises(LayerLabError) as caught:
            Settings.from_environment({variable: value})
        assert caught.value.message.startswith(f"{variable}=") and "neither on nor off" in caught.value.message
        assert len(caught.value.message) < 200  # a long value is shortened, never echoed whole


def test_a_store_whose_home_cannot_be_found_names_the_variable():
    with pytest.raises(LayerLabError, match="LAYERLAB_STORE='~nosuchuser-layerlab/x' names no folder"):
        Settings.from_environment({"LAYERLAB_STORE": "~nosuchuser-layerlab/x"})
