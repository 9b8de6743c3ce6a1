"""What every handler shares: Powertools service name, correlation id, request parsing helpers."""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools import Logger

SERVICE = "ecr-replicate"
METRICS_NAMESPACE = "EcrReplicate"


def begin(logger: Logger, event: Any, context: Any) -> None:
    """Correlate this invocation's logs: the execution name (else the event id), plus request id."""
    correlation = None
    if isinstance(event, dict):
        correlation = event.get("executionName") or event.get("id")
    logger.set_correlation_id(str(correlation) if correlation else None)
    request_id = getattr(context, "aws_request_id", None)
    if request_id:
        logger.append_keys(function_request_id=request_id)
