"""attempt_builds: a failing build is a row that says where and why, not a traceback."""

from __future__ import annotations

import pytest
from layerlab_fixtures import current_settings, run_failure

from helpers.measuring.analysis import Analysis
from helpers.orchestration.builds import attempt_builds
from helpers.views.tables import ATTEMPT_COLUMNS, attempts_table


@pytest.mark.engine
def test_each_variant_is_built_or_says_which_step_failed_and_why(docker_client, alpine):
    outcomes = attempt_builds(
        {
            "built": "FROM alpine:3.20.3\nRUN head -c 1000 /dev/zero > /f\n",
            "fails": "FROM alpine:3.20.3\nRUN echo first-step-ok\nRUN echo boom-output && false\n",
            # Offline builds have no network at all, so apk cannot fetch its index: a real failure.
            "no-network": "FROM alpine:3.20.3\nRUN apk add python3\n",
        },
        client=docker_client,
        progress=lambda name, step: None, settings=current_settings(),
    )
    table = attempts_table(outcomes)
    assert list(table.columns) == ATTEMPT_COLUMNS
    rows = table.set_index("variant")
    assert rows.outcome.tolist() == ["built", "failed", "failed"]
    assert [name for name, o in outcomes.items() if isinstance(o, Analysis)] == ["built"]
    assert rows.at["built", "stored_bytes"] == 7792915 + 1000
    assert rows.at["built", "reclaimable_bytes"] == 0
    assert rows.at["fails", "failed_step"] == 3
    assert rows.at["fails", "instruction"] == "RUN echo boom-output && false"
    assert run_failure("echo boom-output && false", 1).fullmatch(rows.at["fails", "reason"])
    assert rows.at["fails", "last_log_line"] == "boom-output"
    assert rows.at["no-network", "failed_step"] == 2
    assert rows.at["no-network", "last_log_line"] == "    required by: world[python3]"
    assert "\x1b" not in "".join(str(v) for v in table.to_numpy().ravel())


def test_require_built_raises_the_failure_of_a_variant_that_did_not_build():
    from helpers.ground.errors import BuildFailed
    from helpers.orchestration.builds import require_built

    failure = BuildFailed("m: step 2/2 `RUN false` failed", "fix it", ["last"], step=2)
    with pytest.raises(BuildFailed, match="step 2/2"):
        require_built({"ok": "stands for an analysis", "m": failure})
    assert require_built({"ok": "stands for an analysis", "m": failure}, ["ok"]) == {"ok": "stands for an analysis"}


@pytest.mark.engine
def test_lines_the_engine_splits_over_chunks_are_read_whole(docker_client, alpine, monkeypatch):
    """The engine's stream may cut a line anywhere: cut every chunk of a real build into 3 characters."""
    real_build = docker_client.api.build

    def in_pieces(*args, **kwargs):
        for chunk in real_build(*args, **kwargs):
            text = chunk.get("stream")
            if not text:
                yield chunk
                continue
            for start in range(0, len(text), 3):
                yield {**chunk, "stream": text[start:start + 3]}

    monkeypatch.setattr(docker_client.api, "build", in_pieces)
    steps = []
    outcomes = attempt_builds(
        {"fails": "FROM alpine:3.20.3\nRUN echo 'a line long enough to be cut' && false\n"},
        client=docker_client,
        progress=lambda name, step: steps.append(step.instruction),
        settings=current_settings()._replace(docker_builder="classic"),  # the classic builder's stream, cut up
    )
    rows = attempts_table(outcomes).set_index("variant")
    assert rows.at["fails", "last_log_line"] == "a line long enough to be cut"
    assert rows.at["fails", "failed_step"] == 2
    assert steps == ["FROM alpine:3.20.3"]
