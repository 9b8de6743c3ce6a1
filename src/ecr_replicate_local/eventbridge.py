"""EventBridge's side of the local twin: an event delivered to the default bus starts the targets
of every rule whose ``EventPattern`` matches it, each as its target's role.

A target's start is retried (its ``RetryPolicy``, scaled down to :data:`DELIVERY_ATTEMPTS`); an
execution of that name already started counts as delivered (at-least-once delivery, idempotent
names); after the last attempt the event goes to the target's ``DeadLetterConfig`` queue with the
attributes EventBridge sets (``ERROR_CODE``, ``ERROR_MESSAGE``, ``RULE_ARN``, ``TARGET_ARN``,
``RETRY_ATTEMPTS``, ``EXHAUSTED_RETRY_CONDITION``), and the error is raised.
"""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from ecr_replicate_local.local_aws import LocalAws

DELIVERY_ATTEMPTS = 3  # the EventBridge rule target's RetryPolicy, scaled down
DELIVERY_BACKOFF = 0.1
EVENTS = "events.amazonaws.com"


def deliver(aws: LocalAws, event: Mapping[str, Any], name: str | None = None) -> list[str]:
    """Start every matching rule target (state machines) for ``event``; the execution ARNs."""
    from botocore.exceptions import ClientError  # noqa: PLC0415

    assert aws.stack is not None
    started = []
    for target in aws.stack.targets_for(event):
        if ":stateMachine:" not in target.arn:
            continue
        credentials = aws.session(aws.stack.role_arn(target.role), EVENTS, "eventbridge")
        sfn = aws.client("stepfunctions", credentials=credentials)
        execution_name = name or uuid.uuid4().hex
        for attempt in range(1, DELIVERY_ATTEMPTS + 1):
            try:
                response = sfn.start_execution(
                    stateMachineArn=target.arn, name=execution_name, input=json.dumps(dict(event))
                )
                started.append(str(response["executionArn"]))
                break
            except ClientError as exc:
                code = str(exc.response.get("Error", {}).get("Code", "Unknown"))
                if code == "ExecutionAlreadyExists":
                    started.append(target.arn.replace(":stateMachine:", ":execution:") + f":{execution_name}")
                    break
                if attempt == DELIVERY_ATTEMPTS:
                    dead_letter(
                        aws, event, target.rule, target.arn, code=code, message=str(exc), attempts=attempt
                    )
                    raise
                time.sleep(DELIVERY_BACKOFF * attempt)
    return started


def dead_letter(
    aws: LocalAws,
    event: Mapping[str, Any],
    rule: str,
    target_arn: str,
    *,
    code: str,
    message: str,
    attempts: int,
) -> None:
    """Send ``event`` to ``rule``'s dead-letter queue as EventBridge does: the event as the body,
    why it was not delivered as message attributes (nothing if the rule has no such queue)."""
    queue = aws.dead_letter_queue(rule)
    if queue is None:
        return
    text = {"DataType": "String"}
    aws.client("sqs").send_message(
        QueueUrl=queue,
        MessageBody=json.dumps(dict(event)),
        MessageAttributes={
            "ERROR_CODE": {**text, "StringValue": code},
            "ERROR_MESSAGE": {**text, "StringValue": message[:1000]},
            "RULE_ARN": {
                **text,
                "StringValue": f"arn:aws:events:{aws.source_region}:{aws.account}:rule/{rule}",
            },
            "TARGET_ARN": {**text, "StringValue": target_arn},
            "RETRY_ATTEMPTS": {"DataType": "Number", "StringValue": str(attempts - 1)},
            "EXHAUSTED_RETRY_CONDITION": {**text, "StringValue": "MaximumRetryAttempts"},
        },
    )
