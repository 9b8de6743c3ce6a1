"""Plan: normalise the trigger (ECR event, CloudTrail PutImage, manual input), filter, describe the
source image, and emit one Map item per target region (or SKIPPED with a reason).

Input from the state machine: ``{"event": <execution input>, "executionName", "executionArn"}``;
a bare event is accepted too (direct invocation).
"""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools import Logger, Tracer

from ecr_replicate import config, workflow
from ecr_replicate.ecr import ClientFactory, client_factory
from ecr_replicate.handlers._common import (
    CORRELATION_ID,
    SERVICE,
    EcrTokenCache,
    begin,
    reports_contract_errors,
)
from ecr_replicate.model import parse_request

logger = Logger(service=SERVICE)
tracer = Tracer(service=SERVICE)

# Injection points (tests and the local engine may replace them).
ecr_clients: ClientFactory = client_factory("ecr")
describe_factory = workflow.real_describe
credentials = EcrTokenCache(lambda: ecr_clients)


@reports_contract_errors
@tracer.capture_lambda_handler
@logger.inject_lambda_context(correlation_id_path=CORRELATION_ID, clear_state=True)
def handler(event: Any, context: Any) -> dict[str, Any]:
    begin(logger, event, context)
    settings = config.current()
    wrapped = isinstance(event, dict) and "event" in event and "executionName" in event
    raw = event["event"] if wrapped else event
    request = parse_request(raw, default_region=settings.source_region, default_account=settings.account_id)
    logger.info(
        "request",
        extra={
            "repository": request.repository,
            "tag": request.tag,
            "digest": request.digest,
            "trigger": request.trigger,
            "eventId": request.event_id,
        },
    )
    result = workflow.plan(
        request,
        settings,
        describe=describe_factory(),
        credentials=credentials(),
        execution_name=event.get("executionName") if wrapped else None,
        execution_arn=event.get("executionArn") if wrapped else None,
    )
    logger.info(
        "plan",
        extra={
            "status": result.status,
            "reason": result.reason,
            "regions": [item.region for item in result.items],
        },
    )
    return result.to_json()
