"""Fixtures for the real workflow on the local twin: the real ASL from template.yaml, the real
handlers as their roles, real registries (Debian docker-registry) standing in for regions, each
behind its ECR front (every registry call of the workflow goes through one).

Each test module gets its own twin (module scope: one local AWS per process at a time) and
keeps to one xdist group. Tests push to the bare registries, as people do; pushes reach the
local ECR through the registries' notifications (:meth:`Workflow.run` waits for that), and the
tests start executions themselves (EventBridge delivery is off).
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from ecr_replicate_cli.region_rows import RegionRow, region_rows
from ecr_replicate_local.environment import LocalEnvironment
from ecr_replicate_local.local_aws import LocalAws
from ecr_replicate_local.regions import LocalRegions

EVENTS = Path(__file__).parent.parent / "events"
SOURCE = "us-east-1"
TARGETS = ["eu-west-1", "ap-southeast-1"]


def ecr_push_event(
    repository: str, tag: str | None, digest: str, media_type: str | None = None
) -> dict[str, Any]:
    """The EventBridge envelope of an ECR push (tests/events/ecr_push_tag.json, fields replaced)."""
    event: dict[str, Any] = json.loads((EVENTS / "ecr_push_tag.json").read_text())
    event["id"] = str(uuid.uuid4())
    event["region"] = SOURCE
    detail = event["detail"]
    detail["repository-name"] = repository
    detail["image-digest"] = digest
    if tag is None:
        detail.pop("image-tag", None)
    else:
        detail["image-tag"] = tag
    if media_type:
        detail["manifest-media-type"] = media_type
    return event


class Workflow:
    """The engine plus the regions of one test module, with the helpers the scenarios share."""

    source = SOURCE
    targets = TARGETS
    push_event = staticmethod(ecr_push_event)

    def __init__(self, env: LocalEnvironment) -> None:
        assert env.regions is not None
        self.env = env
        self.aws: LocalAws = env.aws
        self.regions: LocalRegions = env.regions

    def host(self, region: str) -> str:
        """The bare registry of ``region``: where tests push and the oracle reads."""
        return self.regions.registry(region).host

    def run(self, event: dict[str, Any], timeout: float = 90) -> dict[str, Any]:
        """Start the workflow with ``event`` (once a push it names is in the local ECR) and wait."""
        if event.get("source") == "aws.ecr":
            detail = event["detail"]
            self.env.wait_recorded(detail["repository-name"], detail["image-digest"])
        arn = self.aws.start_execution(event, name=uuid.uuid4().hex)
        return self.aws.wait(arn, timeout=timeout)

    def rows(self, description: dict[str, Any]) -> dict[str, RegionRow]:
        return {row.region: row for row in region_rows(self.aws.history(description["executionArn"]))}

    def notification_for(self, description: dict[str, Any]) -> dict[str, Any]:
        found = [n for n in self.aws.notifications() if n.get("executionArn") == description["executionArn"]]
        assert len(found) == 1, f"expected one notification for the run, got {len(found)}"
        return found[0]

    def failed_tasks(self, description: dict[str, Any], state: str) -> list[str]:
        """Errors of the TaskFailed events of ``state`` (each one a Retry or the final Catch)."""
        history = self.aws.history(description["executionArn"])
        by_id = {e["id"]: e for e in history}
        errors = []
        for event in history:
            if event["type"] != "TaskFailed":
                continue
            prev = by_id.get(event["previousEventId"])
            while prev is not None and prev["type"] != "TaskStateEntered":
                prev = by_id.get(prev["previousEventId"])
            if prev is not None and prev["stateEnteredEventDetails"]["name"] == state:
                errors.append(event["taskFailedEventDetails"]["error"])
        return errors


@pytest.fixture(scope="module")
def engine_parameters() -> dict[str, str]:
    """Template parameter overrides of the module's engine (override in a module)."""
    return {}


@pytest.fixture(scope="module")
def workflow(engine_parameters: dict[str, str]) -> Iterator[Workflow]:
    with LocalEnvironment(SOURCE, TARGETS, parameters=engine_parameters, deliver_events=False) as env:
        yield Workflow(env)
