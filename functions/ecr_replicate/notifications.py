"""Notify: the run's summary as an EventBridge event (always) and an SNS message (mail).

The replication workflow publishes ``Replication Completed`` (one per image), the reconcile
workflow ``Reconcile Completed`` (one per run); both through :func:`publish`.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from ecr_replicate.config import Settings
from ecr_replicate.errors import AwsPermanentError, AwsThrottledError, AwsTransientError
from ecr_replicate.model import Summary

EVENT_SOURCE = "ecr-replicate"
EVENT_DETAIL_TYPE = "Replication Completed"


def _subject(summary: Summary) -> str:
    name = f"{summary.repository}:{summary.tag}" if summary.tag else summary.repository
    return mail_subject(f"ECR replication {summary.status}: {name}")


def mail_subject(text: str) -> str:
    """An SNS Subject: ASCII, at most 100 characters."""
    return text.encode("ascii", "replace").decode()[:100]


def notify(summary: Summary, settings: Settings, *, sns_client: Any, events_client: Any) -> dict[str, Any]:
    """Publish the summary: EventBridge ``Replication Completed`` always; SNS unless SKIPPED or
    started by a batch run (``origin``: a reconcile mails one summary of all its images).

    SKIPPED runs (filtered out, untagged pushes) are not mailed: a multi-arch push would otherwise
    send one message per platform manifest. Their EventBridge event still says why they were skipped.
    """
    return publish(
        summary.to_json(),
        summary.text,
        settings,
        detail_type=EVENT_DETAIL_TYPE,
        subject=_subject(summary) if summary.status != "SKIPPED" and summary.origin is None else None,
        sns_client=sns_client,
        events_client=events_client,
    )


def publish(
    detail: Mapping[str, Any],
    text: str,
    settings: Settings,
    *,
    detail_type: str,
    subject: str | None,
    sns_client: Any,
    events_client: Any,
) -> dict[str, Any]:
    """One notification: the EventBridge event ``detail_type`` (always), and the SNS message with
    ``subject`` (the JSON for programs, ``text`` for mail) unless ``subject`` is None."""
    from ecr_replicate.ecr import aws_call  # noqa: PLC0415 - botocore only when publishing

    body = json.dumps(detail, separators=(",", ":"))
    published: dict[str, Any] = {"eventId": None, "snsMessageId": None}
    with aws_call("events:PutEvents"):
        answer = events_client.put_events(
            Entries=[
                {
                    "Source": EVENT_SOURCE,
                    "DetailType": detail_type,
                    "Detail": body,
                    "EventBusName": settings.event_bus_name,
                }
            ]
        )
    entry = answer["Entries"][0] if answer.get("Entries") else {}
    if answer.get("FailedEntryCount", 0):
        code = str(entry.get("ErrorCode", "Unknown"))
        message = f"events:PutEvents: {code}: {str(entry.get('ErrorMessage', ''))[:200]}"
        if "Throttl" in code:
            raise AwsThrottledError(message)
        if code in ("InternalFailure", "InternalException", "ServiceUnavailable"):
            raise AwsTransientError(message)
        raise AwsPermanentError(message)
    published["eventId"] = entry.get("EventId")
    if settings.topic_arn and subject is not None:
        with aws_call("sns:Publish"):
            answer = sns_client.publish(
                TopicArn=settings.topic_arn,
                Subject=subject,
                MessageStructure="json",
                Message=json.dumps({"default": body, "email": text}),
            )
        published["snsMessageId"] = answer.get("MessageId")
    return published
