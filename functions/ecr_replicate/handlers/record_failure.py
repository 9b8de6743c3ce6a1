"""Record failure: the bounded record of a region whose step failed (after its retries).

Input: the Map iteration's state with the Catch's ``failure`` (``{"Error", "Cause"}``); output:
a FAILED RegionResult of at most 1 KiB (``ecr_replicate.failures``), whatever the cause held.
Counts the region in the ``ReplicationsFailed`` metric (the CodeBuild step counts the failures it
records itself).
"""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools import Logger, Tracer

from ecr_replicate import metrics
from ecr_replicate.config import REGION_RE
from ecr_replicate.errors import InvalidInputError
from ecr_replicate.failures import from_caught_error
from ecr_replicate.handlers._common import CORRELATION_ID, SERVICE, begin, reports_contract_errors

logger = Logger(service=SERVICE)
tracer = Tracer(service=SERVICE)


@reports_contract_errors
@tracer.capture_lambda_handler
@logger.inject_lambda_context(correlation_id_path=CORRELATION_ID, clear_state=True)
def handler(event: Any, context: Any) -> dict[str, Any]:
    if not isinstance(event, dict):
        raise InvalidInputError("invalid region state: expected a JSON object")
    begin(logger, event, context, region=str(event.get("region", ""))[:40])
    result = from_caught_error(event)
    logger.warning("region failed", extra={"error": result.error, "cause": result.cause})
    if REGION_RE.fullmatch(result.region):  # a dimension value, never whatever the state held
        metrics.emit(result.region, metrics.copy_values(result))
    return result.to_json()
