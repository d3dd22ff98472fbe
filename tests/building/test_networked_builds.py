"""Builds that need Debian's package registry: they get the network they ask for, and nothing else changes.

Offline mode (as in CI) means no internet; Debian's registry still answers
here.  A build that runs ``apt-get`` asks for the network (``network=True``,
``--network``) and gets it, with either engine; one that does not ask gets
none, and apt's failure is one clear line.  An engine that has no network to
give is one clear line too: the test starves a private engine (in a network
namespace of its own) of its bridge.  Traffic goes to the package registry only.
"""

from __future__ import annotations

import subprocess
import sys
import uuid

import pytest
from layerlab_fixtures import current_settings
from private_engine import private_engine_with_alpine

import helpers
from helpers.building.engine import NetworkUnavailable
from helpers.building.registry import RegistryUnreachable
from helpers.orchestration.builds import attempt_builds

APT = ("FROM debian:bookworm-slim\n"
       "RUN apt-get update && apt-get install -y --no-install-recommends file && rm -rf /var/lib/apt/lists/*\n")


@pytest.mark.engine
def test_offline_a_build_that_asks_for_the_network_gets_the_registry(docker_client, debian, registry):
    analysis = helpers.build(APT, name="networked-apt", client=docker_client, network=True).analysis
    assert "file" in {p.name for p in analysis.image.layers[-1].packages.packages}
    assert analysis.image.bases[0]["image"] == debian and analysis.image.bases[0]["made"] == "made locally"


@pytest.mark.engine
def test_offline_a_build_that_does_not_ask_gets_no_network_and_says_why_apt_failed(docker_client, debian):
    with pytest.raises(RegistryUnreachable) as caught:
        attempt_builds({"no-network": APT.replace("file", "file-unnetworked")}, client=docker_client,
                       progress=lambda name, step: None,
                       settings=current_settings())  # not a fact about the Dockerfile: it raises
    assert "because the build has no network (offline mode)" in caught.value.message
    assert "network=True" in caught.value.hint
    assert "\n" not in str(caught.value)


@pytest.mark.engine
def test_the_cli_builds_with_the_network_only_when_asked(docker_client, debian, registry, tmp_path):
    # A step of its own each run (the engine's cache would otherwise build it without running it).
    (tmp_path / "Dockerfile").write_text(APT.replace("&& rm -rf", f"&& echo {uuid.uuid4()} && rm -rf"))
    command = [sys.executable, "-m", "helpers", "build", str(tmp_path), "-t", "layerlab-test/cli-network"]
    refused = subprocess.run(command, capture_output=True, text=True)
    assert refused.returncode == 2
    assert refused.stderr.splitlines()[-1].startswith("error: `RUN apt-get update")
    assert "Traceback" not in refused.stderr
    built = subprocess.run([*command, "--network"], capture_output=True, text=True)
    assert built.returncode == 0, built.stderr
    assert "layer" in built.stdout


@pytest.mark.engine
def test_an_engine_with_no_network_to_give_is_one_clear_error():
    with private_engine_with_alpine(bridge=True) as (engine, client):
        helpers.build("FROM alpine:3.20.3\nRUN true\n", name="bridged", client=client, network=True,
                      progress=lambda name, step: None)  # its own docker0 gives the build a network
        engine.remove_bridge()
        after = "FROM alpine:3.20.3\nRUN echo after the bridge went\n"
        with pytest.raises(NetworkUnavailable) as caught:
            helpers.build(after, name="no-bridge", client=client, network=True, progress=lambda name, step: None)
        assert "cannot give step 2/2 `RUN echo after the bridge went` a network" in caught.value.message
        assert "could not find bridge docker0" in caught.value.message
        assert "restart dockerd" in caught.value.hint
        # Without the network, the same engine builds: only the network was missing.
        helpers.build(after, name="no-bridge", client=client, network=False, progress=lambda name, step: None)
