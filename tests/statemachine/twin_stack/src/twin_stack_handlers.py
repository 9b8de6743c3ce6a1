"""Handlers of the local AWS's test stack: they report what the local Lambda runtime gave them."""

import os
import tempfile
import time
from pathlib import Path

import boto3


class RegistryUnavailableError(Exception):
    pass


class ImageNotFoundError(Exception):
    pass


def echo(event, context):
    sns = boto3.client("sns")
    try:
        sns.publish(TopicArn=os.environ["TOPIC_ARN"], Message="not allowed")
        publish = "published"
    except sns.exceptions.ClientError as exc:
        publish = exc.response["Error"]["Code"]
    return {
        "event": event,
        "pid": os.getpid(),
        "identity": boto3.client("sts").get_caller_identity()["Arn"],
        "topics": len(sns.list_topics()["Topics"]),
        "publish": publish,
        "env": {
            k: os.environ.get(k)
            for k in (
                "TOPIC_ARN",
                "GREETING",
                "TARGETS",
                "AUDIT",
                "REGISTRY_ENDPOINTS",
                "AWS_LAMBDA_FUNCTION_NAME",
            )
        },
        "context": {
            "function_name": context.function_name,
            "arn": context.invoked_function_arn,
            "memory": context.memory_limit_in_mb,
            "remaining_ms": context.get_remaining_time_in_millis(),
            "request_id": context.aws_request_id,
        },
    }


def flaky(event, context):
    """Fails ``event["fail"]`` times with RegistryUnavailableError, or with ImageNotFoundError.

    The attempts are counted in a file: each attempt may run in another execution environment,
    which shares nothing in memory with the others (as on Lambda)."""
    key = event["name"]
    counter = Path(tempfile.gettempdir()) / f"twin-stack-{key}"
    with counter.open("a") as attempts:
        attempts.write(".")
    count = len(counter.read_text())
    if event.get("missing"):
        raise ImageNotFoundError(f"{key}: no such image")
    if count <= event.get("fail", 0):
        raise RegistryUnavailableError(f"{key}: attempt {count} refused")
    return {"name": key, "attempts": count}


def sleepy(event, context):
    time.sleep(event.get("seconds", 5))
    return {"woke": True}
