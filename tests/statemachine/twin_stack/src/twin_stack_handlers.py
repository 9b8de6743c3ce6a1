"""Handlers of the engine test stack: they report what the engine gave them."""

import os
import threading

_calls: dict[str, int] = {}
_lock = threading.Lock()


class RegistryUnavailableError(Exception):
    pass


class ImageNotFoundError(Exception):
    pass


def echo(event, context):
    return {
        "event": event,
        "env": {
            k: os.environ.get(k) for k in ("TOPIC_ARN", "GREETING", "TARGETS", "AUDIT", "REGISTRY_ENDPOINTS")
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
    """Fails ``event["fail"]`` times with RegistryUnavailableError, or with ImageNotFoundError."""
    key = event["name"]
    with _lock:
        _calls[key] = _calls.get(key, 0) + 1
        count = _calls[key]
    if event.get("missing"):
        raise ImageNotFoundError(f"{key}: no such image")
    if count <= event.get("fail", 0):
        raise RegistryUnavailableError(f"{key}: attempt {count} refused")
    return {"name": key, "attempts": count}
