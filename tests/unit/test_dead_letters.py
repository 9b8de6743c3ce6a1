"""``ecr-replicate dead-letters``: list without consuming, replay once per event, keep what cannot
be replayed (moto's SQS and Step Functions control planes)."""

from __future__ import annotations

import argparse
import io
import json
from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from moto import mock_aws

from ecr_replicate.config import Settings
from ecr_replicate_cli import dead_letters, deployment
from tests.unit.handlers.conftest import load_event

REGION = "us-east-1"
ATTRIBUTES = {
    "ERROR_CODE": {"DataType": "String", "StringValue": "SDK_CLIENT_ERROR"},
    "ERROR_MESSAGE": {"DataType": "String", "StringValue": "Rate exceeded"},
    "RULE_ARN": {"DataType": "String", "StringValue": f"arn:aws:events:{REGION}:123456789012:rule/push"},
}


class Aws:
    def __init__(self) -> None:
        self.sqs = boto3.client("sqs", region_name=REGION)
        self.sfn = boto3.client("stepfunctions", region_name=REGION)
        self.queue = self.sqs.create_queue(QueueName="push-dlq")["QueueUrl"]
        self.machine = self.sfn.create_state_machine(
            name="replicate",
            definition=json.dumps({"StartAt": "Done", "States": {"Done": {"Type": "Succeed"}}}),
            roleArn="arn:aws:iam::123456789012:role/sfn",
        )["stateMachineArn"]
        self.where = deployment.Deployment(
            settings=Settings(source_region=REGION, target_regions=("eu-west-1",), account_id="123456789012"),
            replicate_arn=self.machine,
            dead_letter_queues=(self.queue,),
        )

    def dead_letter(self, body: Any) -> None:
        text = body if isinstance(body, str) else json.dumps(body)
        self.sqs.send_message(QueueUrl=self.queue, MessageBody=text, MessageAttributes=ATTRIBUTES)

    def visible(self) -> int:
        attributes = self.sqs.get_queue_attributes(
            QueueUrl=self.queue, AttributeNames=["ApproximateNumberOfMessages"]
        )["Attributes"]
        return int(attributes["ApproximateNumberOfMessages"])

    def executions(self) -> list[dict[str, Any]]:
        return [dict(e) for e in self.sfn.list_executions(stateMachineArn=self.machine)["executions"]]

    def run(self, *flags: str) -> tuple[dead_letters.Report, str]:
        parser = argparse.ArgumentParser()
        dead_letters.configure(parser)
        out = io.StringIO()
        report = dead_letters.run_letters(parser.parse_args(list(flags)), self.where, out)
        return report, out.getvalue()


@pytest.fixture
def aws(monkeypatch: pytest.MonkeyPatch) -> Iterator[Aws]:
    for name, value in {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing"}.items():
        monkeypatch.setenv(name, value)
    monkeypatch.delenv("AWS_ENDPOINT_URL", raising=False)
    with mock_aws():
        yield Aws()


def push_event(event_id: str) -> dict[str, Any]:
    event: dict[str, Any] = load_event("ecr_push_tag.json")
    event["id"] = event_id
    event["region"] = REGION
    return event


def test_a_dry_run_lists_each_event_and_what_a_replay_would_do_and_changes_nothing(aws: Aws) -> None:
    aws.dead_letter(push_event("11111111-2222-3333-4444-555555555555"))
    aws.dead_letter(push_event("66666666-2222-3333-4444-555555555555"))
    report, text = aws.run()
    assert (report.listed, report.replayed, report.left) == (2, 0, 0)
    assert "would start ecr-push-11111111-2222-3333-4444-555555555555" in text
    assert "[SDK_CLIENT_ERROR: Rate exceeded]" in text
    assert aws.visible() == 2 and aws.executions() == []


def test_replay_starts_one_execution_per_event_then_deletes_its_message(aws: Aws) -> None:
    event = push_event("11111111-2222-3333-4444-555555555555")
    aws.dead_letter(event)
    report, text = aws.run("--replay")
    assert (report.listed, report.replayed, report.left) == (1, 1, 0)
    (execution,) = aws.executions()
    assert execution["name"] == "ecr-push-11111111-2222-3333-4444-555555555555"
    started = aws.sfn.describe_execution(executionArn=execution["executionArn"])
    assert json.loads(started["input"]) == event
    assert aws.visible() == 0 and "message deleted" in text
    assert aws.run("--replay")[0].listed == 0


def test_an_event_delivered_twice_starts_once_and_both_messages_go(aws: Aws) -> None:
    event = push_event("11111111-2222-3333-4444-555555555555")
    aws.dead_letter(event)
    aws.dead_letter(event)
    report, text = aws.run("--replay")
    assert report.replayed == 2 and len(aws.executions()) == 1
    assert "(duplicate)" in text and aws.visible() == 0


def test_a_dry_run_says_which_event_already_ran(aws: Aws) -> None:
    event = push_event("11111111-2222-3333-4444-555555555555")
    aws.sfn.start_execution(stateMachineArn=aws.machine, name=dead_letters.execution_name(event), input="{}")
    aws.dead_letter(event)
    _, text = aws.run()
    assert "already ran as ecr-push-11111111-2222-3333-4444-555555555555: would delete" in text


@pytest.mark.parametrize(
    "body, problem",
    [
        ("not json", "not JSON"),
        ({"hello": "world"}, "not an EventBridge event"),
        ({**push_event("x"), "detail": {"repository-name": "../etc"}}, "invalid ECR Image Action event"),
    ],
)
def test_a_message_that_is_no_trigger_stays_in_the_queue(aws: Aws, body: Any, problem: str) -> None:
    aws.dead_letter(body)
    report, text = aws.run("--replay")
    assert (report.replayed, report.left) == (0, 1)
    assert problem in text and "left in the queue" in text
    assert aws.visible() == 1 and aws.executions() == []


def test_a_failed_start_keeps_the_message_visible_for_the_next_replay(aws: Aws) -> None:
    aws.dead_letter(push_event("11111111-2222-3333-4444-555555555555"))
    aws.where = deployment.Deployment(
        settings=aws.where.settings,
        replicate_arn=aws.machine.replace(":replicate", ":gone"),
        dead_letter_queues=aws.where.dead_letter_queues,
    )
    report, text = aws.run("--replay")
    assert (report.replayed, report.left) == (0, 1)
    assert "NOT replayed (StateMachineDoesNotExist" in text
    assert aws.visible() == 1


@pytest.mark.parametrize(
    "event_id, safe",
    [("13cde686-328b-6117-af20-0e5566167482", True), ("x" * 100, False), ("a b/c", False), ("", False)],
)
def test_execution_names_are_valid_and_stable(event_id: str, safe: bool) -> None:
    name = dead_letters.execution_name({"id": event_id})
    assert name == dead_letters.execution_name({"id": event_id})
    assert len(name) <= 80 and name.startswith("ecr-push-")
    assert all(c.isalnum() or c in "-_" for c in name)
    assert (name == f"ecr-push-{event_id}") is safe


def test_the_stack_outputs_name_the_queues() -> None:
    class Cfn:
        def describe_stacks(self, StackName: str) -> dict[str, Any]:
            outputs = {
                "StateMachineArn": f"arn:aws:states:{REGION}:123456789012:stateMachine:replicate",
                "EcrPushDeadLetterQueueUrl": "https://sqs/1/push",
                "CloudTrailPutImageDeadLetterQueueUrl": "https://sqs/1/trail",
            }
            parameters = [{"ParameterKey": "TargetRegions", "ParameterValue": "eu-west-1"}]
            return {
                "Stacks": [
                    {
                        "Outputs": [{"OutputKey": k, "OutputValue": v} for k, v in outputs.items()],
                        "Parameters": parameters,
                    }
                ]
            }

    where = deployment.from_stack(Cfn(), "ecr-replicate")
    assert where.dead_letter_queues == ("https://sqs/1/trail", "https://sqs/1/push")
