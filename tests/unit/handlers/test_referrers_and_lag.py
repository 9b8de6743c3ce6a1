"""Referrer events (``ECR Referrer Action``; an untagged push whose manifest has a ``subject``) and the
replication lag each copied region reports (event time -> target tagged)."""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from typing import Any

import pytest

from ecr_replicate.errors import InvalidInputError
from ecr_replicate.handlers import copy_image, plan
from ecr_replicate.model import parse_request
from ecr_replicate.workflow import UNTAGGED_PUSH_REASON, lag_seconds, summarize
from tests.unit.handlers.conftest import (
    ACCOUNT,
    DIGEST,
    FakeCopier,
    FakeDescribe,
    FakeDescription,
    load_event,
)
from tests.unit.handlers.test_copy_image import item

SUBJECT = "sha256:" + "cd" * 32
SOURCE_HOST = f"{ACCOUNT}.dkr.ecr.us-east-1.amazonaws.com"


@dataclass
class ReferrerDescription(FakeDescription):
    subject: str | None = SUBJECT
    media_type: str = "application/vnd.oci.image.manifest.v1+json"


@pytest.fixture
def describe(monkeypatch: pytest.MonkeyPatch) -> FakeDescribe:
    fake = FakeDescribe(description=ReferrerDescription())
    monkeypatch.setattr(plan, "describe_factory", lambda: fake)
    monkeypatch.setattr(plan.credentials, "provider", None)
    return fake


def test_the_documented_referrer_event_shape_parses_and_only_a_push_is_replicated() -> None:
    push = parse_request(load_event("ecr_referrer_push.json"), default_region="us-east-1")
    assert push.trigger == "ecr-referrer-event" and push.tag is None and push.skip_reason is None
    assert push.digest == load_event("ecr_referrer_push.json")["detail"]["image-digest"]
    assert push.event_time == "2026-01-16T01:55:10Z"
    restore = parse_request(load_event("ecr_referrer_restore.json"), default_region="us-east-1")
    assert restore.skip_reason is not None and "UPDATE_STORAGE_CLASS" in restore.skip_reason


@pytest.mark.parametrize(
    "change",
    [
        {"source": "aws.s3"},
        {"account": "12345"},
        {"time": "yesterday"},
        {"detail": {"repository-name": "team/app", "result": "SUCCESS", "action-type": "PUSH"}},
    ],
)
def test_a_malformed_referrer_event_is_refused_typed(change: dict[str, Any]) -> None:
    event = {**load_event("ecr_referrer_push.json"), **change}
    with pytest.raises(InvalidInputError, match="ECR Referrer Action event"):
        parse_request(event, default_region="us-east-1")


def test_a_referrer_event_plans_the_referrer_by_digest_with_its_subject_and_event_time(
    lambda_env, context, describe
) -> None:
    event = load_event("ecr_referrer_push.json")
    out = plan.handler({"event": event, "executionName": "e", "executionArn": "arn:e"}, context)
    assert out["status"] == "PLANNED"
    assert describe.calls[0][0] == f"{SOURCE_HOST}/team/app@{event['detail']['image-digest']}"
    assert out["image"]["subject"] == SUBJECT
    for planned in out["items"]:
        assert planned["tag"] is None and planned["subject"] == SUBJECT
        assert planned["eventTime"] == "2026-01-16T01:55:10Z"


def test_an_untagged_image_push_with_a_subject_is_a_referrer_too(lambda_env, context, describe) -> None:
    out = plan.handler(load_event("ecr_push_untagged.json"), context)
    assert out["status"] == "PLANNED" and {i["subject"] for i in out["items"]} == {SUBJECT}


def test_an_untagged_push_without_a_subject_stays_skipped(lambda_env, context, describe) -> None:
    describe.description = FakeDescription()
    out = plan.handler(load_event("ecr_push_untagged.json"), context)
    assert out["status"] == "SKIPPED" and out["reason"] == UNTAGGED_PUSH_REASON


def referrer_item(**overrides: Any) -> dict[str, Any]:
    """A Map item of a referrer (by digest, with its subject), as the plan step writes it."""
    return item(**{"tag": None, "subject": SUBJECT, "eventTime": None, **overrides})


@pytest.fixture
def copier(monkeypatch: pytest.MonkeyPatch) -> FakeCopier:
    fake = FakeCopier()
    monkeypatch.setattr(copy_image, "copier_factory", lambda: fake)
    monkeypatch.setattr(copy_image.credentials, "provider", "creds")
    return fake


def emitted(capsys: pytest.CaptureFixture[str]) -> list[dict[str, Any]]:
    return [json.loads(line) for line in capsys.readouterr().out.splitlines() if '"_aws"' in line]


def test_a_referrer_is_skipped_with_a_reason_where_its_subject_is_missing(
    lambda_env, context, copier, monkeypatch, capsys
) -> None:
    asked: list[str] = []

    def head(reference: Any, **kwargs: Any) -> str | None:
        asked.append(str(reference))
        return None

    monkeypatch.setattr("ecr_replicate.workflow.real_head", lambda: head)
    out = copy_image.handler(referrer_item(), context)
    assert asked == [f"{ACCOUNT}.dkr.ecr.eu-west-1.amazonaws.com/team/app@{SUBJECT}"]
    assert out["status"] == "SKIPPED" and SUBJECT[:19] in out["reason"] and "eu-west-1" in out["reason"]
    assert copier.calls == []  # nothing copied
    (blob,) = emitted(capsys)
    assert blob["ReferrersDeferred"] in (1, [1.0]) and blob["TargetRegion"] == "eu-west-1"


def test_a_referrer_is_copied_by_digest_where_its_subject_is(
    lambda_env, context, copier, monkeypatch
) -> None:
    monkeypatch.setattr("ecr_replicate.workflow.real_head", lambda: lambda reference, **kw: SUBJECT)
    out = copy_image.handler(referrer_item(), context)
    assert out["status"] == "SUCCEEDED"
    (call,) = copier.calls
    assert str(call["source"]) == f"{SOURCE_HOST}/team/app@{DIGEST}" and call["guard_source_tag"] is False


def test_the_copy_reports_the_lag_from_the_push_event_and_emits_it(
    lambda_env, context, copier, capsys
) -> None:
    pushed = time.time() - 42
    event_time = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(pushed))
    out = copy_image.handler(referrer_item(subject=None, tag="v1", eventTime=event_time), context)
    assert 41 <= out["lagSeconds"] <= 60
    (blob,) = emitted(capsys)
    lag = blob["ReplicationLagSeconds"]
    assert 41 <= (lag[0] if isinstance(lag, list) else lag) <= 60
    assert blob["_aws"]["CloudWatchMetrics"][0]["Dimensions"] == [["TargetRegion", "service"]]


def test_no_event_time_no_lag_and_a_superseded_copy_has_none(lambda_env, context, copier, capsys) -> None:
    assert copy_image.handler(referrer_item(subject=None, tag="v1"), context)["lagSeconds"] is None
    copier.result.status = "SUPERSEDED"
    out = copy_image.handler(referrer_item(subject=None, tag="v1", eventTime="2026-01-16T01:55:10Z"), context)
    assert out["status"] == "SUPERSEDED" and out["lagSeconds"] is None
    assert all("ReplicationLagSeconds" not in blob for blob in emitted(capsys))


def test_lag_counts_from_the_event_time() -> None:
    assert lag_seconds("2026-01-16T01:55:10Z", now=1768528510 + 3.5) == 3.5
    assert lag_seconds(None) is None and lag_seconds("not a time") is None
    assert lag_seconds("2026-01-16T01:55:10Z", now=0) == 0.0  # a clock behind the event: never negative


def test_a_run_whose_regions_were_skipped_succeeds_and_says_so() -> None:
    state = {
        "status": "PLANNED",
        "maxConcurrency": 10,
        "request": {
            "repository": "team/app",
            "digest": DIGEST,
            "sourceRegion": "us-east-1",
            "trigger": "manual",
        },
        "image": {"digest": DIGEST, "mediaType": "m", "sizeBytes": 10, "subject": SUBJECT},
        "items": [referrer_item(region=r, targetRegistry="t") for r in ("eu-west-1", "ap-southeast-1")],
        "regions": [
            {"region": "eu-west-1", "status": "SKIPPED", "digest": DIGEST, "reason": "subject not there"},
            {"region": "ap-southeast-1", "status": "SUCCEEDED", "digest": DIGEST, "lagSeconds": 2.0},
        ],
    }
    summary = summarize(state)
    assert summary.status == "SUCCEEDED" and summary.failed_regions == []
    assert "to 1 region (1 skipped)" in summary.text
    assert "- eu-west-1: SKIPPED: subject not there" in summary.text
    assert "2.0 s after the push" in summary.text
