"""Summarize: one Summary for the run (status, a RegionResult per region, a line per region)."""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools import Logger, Tracer

from ecr_replicate import workflow
from ecr_replicate.errors import InvalidInputError
from ecr_replicate.handlers._common import CORRELATION_ID, SERVICE, begin, reports_contract_errors

logger = Logger(service=SERVICE)
tracer = Tracer(service=SERVICE)


@reports_contract_errors
@tracer.capture_lambda_handler
@logger.inject_lambda_context(correlation_id_path=CORRELATION_ID, clear_state=True)
def handler(event: Any, context: Any) -> dict[str, Any]:
    begin(logger, event, context)
    if not isinstance(event, dict):
        raise InvalidInputError("invalid workflow state: expected a JSON object")
    summary = workflow.summarize(event)
    logger.info("summary", extra={"status": summary.status, "failedRegions": summary.failed_regions})
    return summary.to_json()
