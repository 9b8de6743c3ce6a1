from __future__ import annotations

import json
from typing import Any

import boto3
import pytest
from moto import mock_aws

from ecr_replicate.failures import from_caught_error
from ecr_replicate.handlers import notify, summarize
from ecr_replicate.notifications import EVENT_DETAIL_TYPE, EVENT_SOURCE
from ecr_replicate.workflow import UNTAGGED_PUSH_REASON
from tests.unit.handlers.conftest import DIGEST


def planned_state(regions: list[dict[str, Any]]) -> dict[str, Any]:
    items = [
        {
            "region": r,
            "repository": "team/app",
            "tag": "v1",
            "digest": DIGEST,
            "mediaType": "m",
            "sizeBytes": 10,
            "sourceRegion": "us-east-1",
            "sourceRegistry": "s",
            "targetRegistry": "t",
            "runtime": "lambda",
        }
        for r in ("eu-west-1", "ap-southeast-1")
    ]
    return {
        "status": "PLANNED",
        "executionName": "exec-1",
        "executionArn": "arn:exec",
        "maxConcurrency": 10,
        "request": {
            "repository": "team/app",
            "tag": "v1",
            "digest": DIGEST,
            "sourceRegion": "us-east-1",
            "trigger": "ecr-event",
        },
        "image": {"digest": DIGEST, "mediaType": "m", "sizeBytes": 10},
        "items": items,
        "regions": regions,
    }


OK = {
    "region": "eu-west-1",
    "status": "SUCCEEDED",
    "digest": DIGEST,
    "bytesCopied": 5 * 512 * 1024,  # 2.5 MiB
    "blobsCopied": 3,
    "blobsSkipped": 1,
    "seconds": 1.5,
}
# What the state machine's "Record failure" step keeps of a Lambda error caught after its retries.
FAILED = from_caught_error(
    {
        "region": "ap-southeast-1",
        "digest": DIGEST,
        "failure": {
            "Error": "RegistryUnavailableError",
            "Cause": json.dumps(
                {
                    "errorMessage": "connection refused by 127.0.0.1:5003",
                    "errorType": "RegistryUnavailableError",
                    "stackTrace": ["..."],
                }
            ),
        },
    }
).to_json()


def test_all_regions_succeeded(lambda_env, context):
    out = summarize.handler(
        planned_state([OK, {**OK, "region": "ap-southeast-1", "status": "SUPERSEDED"}]), context
    )
    assert out["status"] == "SUCCEEDED" and out["failedRegions"] == []
    lines = out["text"].splitlines()
    assert lines[0].startswith("SUCCEEDED: team/app:v1")
    assert lines[1].startswith("- eu-west-1: SUCCEEDED, 2.5 MiB copied")
    assert lines[2].startswith("- ap-southeast-1: SUPERSEDED")


def test_a_failed_region_is_named_with_a_readable_cause(lambda_env, context):
    out = summarize.handler(planned_state([OK, FAILED]), context)
    assert out["status"] == "FAILED" and out["failedRegions"] == ["ap-southeast-1"]
    assert "failed: ap-southeast-1" in out["text"].splitlines()[0]
    assert (
        "- ap-southeast-1: FAILED: RegistryUnavailableError: connection refused by 127.0.0.1:5003"
        in out["text"]
    )
    assert out["regions"][1]["cause"] == "connection refused by 127.0.0.1:5003"


def test_missing_region_result_counts_as_failed(lambda_env, context):
    out = summarize.handler(planned_state([OK]), context)
    assert out["failedRegions"] == ["ap-southeast-1"]


def test_skipped_plan(lambda_env, context):
    state = {
        "status": "SKIPPED",
        "reason": UNTAGGED_PUSH_REASON,
        "maxConcurrency": 10,
        "request": {
            "repository": "team/app",
            "digest": DIGEST,
            "sourceRegion": "us-east-1",
            "trigger": "ecr-event",
        },
    }
    out = summarize.handler(state, context)
    assert out["status"] == "SKIPPED" and out["regions"] == [] and UNTAGGED_PUSH_REASON in out["text"]


@pytest.fixture
def aws(lambda_env, monkeypatch):
    with mock_aws():
        sns = boto3.client("sns", region_name="us-east-1")
        sqs = boto3.client("sqs", region_name="us-east-1")
        topic = sns.create_topic(Name="replication")["TopicArn"]
        queue = sqs.create_queue(QueueName="summaries")["QueueUrl"]
        queue_arn = sqs.get_queue_attributes(QueueUrl=queue, AttributeNames=["QueueArn"])["Attributes"][
            "QueueArn"
        ]
        sns.subscribe(TopicArn=topic, Protocol="sqs", Endpoint=queue_arn)
        events = boto3.client("events", region_name="us-east-1")
        events_queue = sqs.create_queue(QueueName="events")["QueueUrl"]
        events_arn = sqs.get_queue_attributes(QueueUrl=events_queue, AttributeNames=["QueueArn"])[
            "Attributes"
        ]["QueueArn"]
        events.put_rule(Name="completed", EventPattern=json.dumps({"source": [EVENT_SOURCE]}))
        events.put_targets(Rule="completed", Targets=[{"Id": "q", "Arn": events_arn}])
        lambda_env.setenv("TOPIC_ARN", topic)
        monkeypatch.setattr(notify, "sns_clients", lambda region: boto3.client("sns", region_name=region))
        monkeypatch.setattr(
            notify, "events_clients", lambda region: boto3.client("events", region_name=region)
        )
        yield sqs, queue, events_queue


def receive(sqs: Any, queue: str) -> list[Any]:
    return [
        json.loads(m["Body"])
        for m in sqs.receive_message(QueueUrl=queue, MaxNumberOfMessages=10).get("Messages", [])
    ]


def test_notify_publishes_the_same_json_to_sns_and_eventbridge(aws, context):
    sqs, queue, events_queue = aws
    summary = summarize.handler(planned_state([OK, FAILED]), context)
    out = notify.handler(summary, context)
    assert out["snsMessageId"] and out["eventId"]
    [sns_message] = receive(sqs, queue)
    assert json.loads(sns_message["Message"]) == summary
    assert sns_message["Subject"] == "ECR replication FAILED: team/app:v1"
    [event] = receive(sqs, events_queue)
    assert event["detail-type"] == EVENT_DETAIL_TYPE and event["source"] == EVENT_SOURCE
    assert event["detail"] == summary


def test_skipped_runs_are_not_mailed(aws, context):
    sqs, queue, events_queue = aws
    state = {
        "status": "SKIPPED",
        "reason": "filtered",
        "maxConcurrency": 10,
        "request": {"repository": "team/app", "tag": "v1", "sourceRegion": "us-east-1", "trigger": "manual"},
    }
    out = notify.handler(summarize.handler(state, context), context)
    assert out["snsMessageId"] is None
    assert receive(sqs, queue) == []
    assert [e["detail"]["status"] for e in receive(sqs, events_queue)] == ["SKIPPED"]
