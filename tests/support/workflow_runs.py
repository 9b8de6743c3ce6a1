"""The real workflow on the local twin (moto's interpreter running statemachine/replicate.asl.json
with the real handlers as their roles; Debian registries as regions), for the reliability tests and
the report."""

from __future__ import annotations

import copy
import json
import uuid
from pathlib import Path
from typing import Any

from ecr_replicate_local.local_aws import LocalAws

EVENTS = Path(__file__).resolve().parents[1] / "events"
SOURCE = "us-east-1"
TARGETS = ["eu-west-1", "ap-southeast-1"]


def push_event(repository: str, tag: str, digest: str) -> dict[str, Any]:
    """The EventBridge envelope of an ECR push (tests/events/ecr_push_tag.json, fields replaced)."""
    event: dict[str, Any] = json.loads((EVENTS / "ecr_push_tag.json").read_text())
    event["id"] = str(uuid.uuid4())
    event["region"] = SOURCE
    event["detail"].update({"repository-name": repository, "image-tag": tag, "image-digest": digest})
    return event


def run(aws: LocalAws, event: dict[str, Any], timeout: float = 120) -> dict[str, Any]:
    """One delivery of ``event`` by EventBridge (the rule's target role starts a new execution;
    EventBridge names none), waited for."""
    (arn,) = aws.deliver_event(copy.deepcopy(event), name=uuid.uuid4().hex)
    return aws.wait(arn, timeout=timeout)


def notification(aws: LocalAws, execution: dict[str, Any]) -> dict[str, Any]:
    found = [n for n in aws.notifications() if n.get("executionArn") == execution["executionArn"]]
    assert len(found) == 1, f"expected one notification for the run, got {len(found)}"
    return found[0]
