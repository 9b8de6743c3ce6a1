from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from ecr_replicate import codebuild_step, workflow
from ecr_replicate.errors import RegistryUnavailableError, TagImmutableError
from ecr_replicate.failures import MAX_RECORD_BYTES
from ecr_replicate_local.sample_images import push_image
from tests.unit.handlers.conftest import FakeCopier
from tests.unit.handlers.test_copy_image import item


@pytest.fixture
def copier(monkeypatch):
    fake = FakeCopier()
    monkeypatch.setattr(workflow, "real_copier", lambda: fake)
    return fake


def test_prints_the_region_result(lambda_env, copier, capsys):
    lambda_env.setenv("REPLICATION_ITEM", json.dumps(item()))
    assert codebuild_step.main([]) == 0
    out = json.loads(capsys.readouterr().out.strip())
    assert out["region"] == "eu-west-1" and out["status"] == "SUCCEEDED"
    assert copier.calls[0]["guard_source_tag"] is True


def test_permanent_error_is_a_failed_result_and_retryable_fails_the_build(lambda_env, copier, capsys):
    lambda_env.setenv("REPLICATION_ITEM", json.dumps(item()))
    copier.error = TagImmutableError("tag v1 is immutable")
    assert codebuild_step.main([]) == 0
    out = json.loads(capsys.readouterr().out.strip())
    assert (out["status"], out["error"]) == ("FAILED", "TagImmutableError")
    copier.error = RegistryUnavailableError("down")
    assert codebuild_step.main([]) == 1
    assert capsys.readouterr().out == ""


@pytest.mark.parametrize(
    "value, region",
    [
        (None, "unknown"),
        ("not json", "unknown"),
        ('["eu-west-1"]', "unknown"),
        ('{"region": "eu-west-1"}', "eu-west-1"),
    ],
)
def test_a_bad_item_is_a_failed_result_not_a_failed_build(lambda_env, copier, capsys, value, region):
    """Only a failed build is rebuilt (Retry on States.TaskFailed): input no rebuild can fix
    ends the build with a FAILED record instead, which the state machine keeps as is."""
    if value is None:
        lambda_env.delenv("REPLICATION_ITEM", raising=False)
    else:
        lambda_env.setenv("REPLICATION_ITEM", value)
    assert codebuild_step.main([]) == 0
    out = json.loads(capsys.readouterr().out.strip())
    assert (out["region"], out["status"], out["error"]) == (region, "FAILED", "InvalidInputError")
    assert copier.calls == []


def test_an_unexpected_error_is_recorded_not_rebuilt(lambda_env, copier, capsys):
    lambda_env.setenv("REPLICATION_ITEM", json.dumps(item()))
    copier.error = KeyError("bytesCopied")
    assert codebuild_step.main([]) == 0
    out = json.loads(capsys.readouterr().out.strip())
    assert (out["status"], out["error"], out["cause"]) == ("FAILED", "KeyError", "'bytesCopied'")


def test_a_failed_record_is_bounded(lambda_env, copier, capsys):
    lambda_env.setenv("REPLICATION_ITEM", json.dumps(item()))
    copier.error = TagImmutableError("immutable \u00e9\n" * 5000)
    assert codebuild_step.main([]) == 0
    line = capsys.readouterr().out.strip()
    assert len(line.encode()) <= MAX_RECORD_BYTES
    assert json.loads(line)["cause"].startswith("immutable")


def test_codebuild_copy_against_real_registries(lambda_env, twin, capsys):
    pushed = push_image(twin.push_host(), "team/built", "v3", seed=9)
    twin.recorded("team/built", pushed.digest)
    twin.create_repository("eu-west-1", "team/built")
    data = item(
        repository="team/built",
        tag="v3",
        digest=pushed.digest,
        sourceRegistry=twin.front("us-east-1"),
        targetRegistry=twin.front("eu-west-1"),
        runtime="codebuild",
    )
    lambda_env.setenv("REPLICATION_ITEM", json.dumps(data))
    twin.as_function(lambda_env, "CopyBuildRole", "codebuild.amazonaws.com")  # as the build's role
    assert codebuild_step.main([]) == 0
    out = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert out["status"] == "SUCCEEDED" and out["digest"] == pushed.digest


def test_an_overridden_item_for_another_host_copies_nothing(lambda_env, copier, capsys):
    """Whoever starts the build with their own REPLICATION_ITEM gets a typed refusal, no copy."""
    lambda_env.setenv("REPLICATION_ITEM", json.dumps(item(targetRegistry="registry.attacker.example")))
    assert codebuild_step.main([]) == 0
    out = json.loads(capsys.readouterr().out.strip())
    assert (out["region"], out["status"], out["error"]) == ("eu-west-1", "FAILED", "InvalidInputError")
    assert "targetRegistry" in out["cause"]
    assert copier.calls == []


def test_the_copy_budget_ends_before_the_task_that_runs_the_build():
    """The budget is the Task's TimeoutSeconds (below the project's TimeoutInMinutes, checked in
    test_template) less a margin, counted from the step's start: DeadlineExceededError, never
    States.Timeout."""
    asl = json.loads((Path(__file__).parents[3] / "statemachine" / "replicate.asl.json").read_text())
    found = [
        state["TimeoutSeconds"]
        for state in _all_states(asl)
        if state.get("Resource") == "arn:aws:states:::codebuild:startBuild.sync"
    ]
    assert found == [codebuild_step.TASK_TIMEOUT_SECONDS]
    started = 1000.0
    fresh = codebuild_step.time_budget(started, now=started)
    assert fresh == codebuild_step.TASK_TIMEOUT_SECONDS - codebuild_step.DEADLINE_MARGIN
    assert codebuild_step.time_budget(started, now=started + 100) == fresh - 100
    assert codebuild_step.time_budget(started, now=started + 10_000) == 1.0


def _all_states(node: Any) -> Iterator[dict[str, Any]]:
    if isinstance(node, dict):
        if "Type" in node and "Resource" in node:
            yield node
        for value in node.values():
            yield from _all_states(value)
    elif isinstance(node, list):
        for value in node:
            yield from _all_states(value)
