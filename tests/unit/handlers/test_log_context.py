"""The handlers' log context is Powertools' own: ``inject_lambda_context(correlation_id_path=...,
clear_state=True)`` starts every invocation with the Lambda context and the correlation id, and
nothing of the previous invocation is left (issue 13: no thread-local keys)."""

from __future__ import annotations

import io
import json
import logging
from collections.abc import Iterator

import pytest

from ecr_replicate.handlers import plan
from tests.unit.handlers.conftest import FakeContext, FakeDescribe, load_event


@pytest.fixture
def quiet_plan(monkeypatch: pytest.MonkeyPatch, lambda_env: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(plan, "describe_factory", FakeDescribe)
    monkeypatch.setattr(plan.credentials, "provider", None)
    monkeypatch.setattr(plan, "ecr_clients", lambda region: None)
    plan.logger.setLevel("INFO")


@pytest.fixture
def log() -> Iterator[io.StringIO]:
    """What the plan handler's logger writes (its stream, swapped for the test)."""
    buffer = io.StringIO()
    handler = plan.logger.registered_handler
    assert isinstance(handler, logging.StreamHandler)
    previous = handler.setStream(buffer)
    yield buffer
    handler.setStream(previous)


def records(log: io.StringIO) -> list[dict[str, object]]:
    text = log.getvalue()
    log.seek(0)
    log.truncate()
    return [json.loads(line) for line in text.splitlines() if line.startswith("{")]


def test_correlation_id_and_context_per_invocation(quiet_plan, log):
    event = load_event("ecr_push_tag.json")
    plan.handler(
        {"event": event, "executionName": "exec-1", "executionArn": "arn:x"}, FakeContext(aws_request_id="r1")
    )
    first = records(log)
    assert first and {r["correlation_id"] for r in first} == {"exec-1"}
    assert {r["function_request_id"] for r in first} == {"r1"}
    assert {r["function_name"] for r in first} == {"test-function"}
    plan.handler(
        load_event("ecr_push_untagged.json"), FakeContext(aws_request_id="r2")
    )  # a bare event: its id
    second = records(log)
    assert second and {r["correlation_id"] for r in second} == {load_event("ecr_push_untagged.json")["id"]}
    assert {r["function_request_id"] for r in second} == {"r2"}
