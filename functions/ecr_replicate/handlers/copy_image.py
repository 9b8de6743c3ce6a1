"""Copy image (Lambda): the copier for one region, newer-push-wins guard when the item has a tag.

Returns a RegionResult (SUCCEEDED, SUPERSEDED, or SKIPPED for a referrer whose subject is not in
the region yet); errors propagate with their class name, which is what the state machine's
Retry/Catch match. Emits the region's metrics (:func:`ecr_replicate.metrics.copy_values`: lag,
bytes, blobs skipped...), the same the CodeBuild copy step emits.
"""

from __future__ import annotations

import functools
from typing import Any

from aws_lambda_powertools import Logger, Tracer
from aws_lambda_powertools.metrics import MetricUnit

from ecr_replicate import config, heartbeat, metrics, workflow
from ecr_replicate.ecr import ClientFactory, client_factory
from ecr_replicate.errors import ReplicationError
from ecr_replicate.handlers._common import (
    CORRELATION_ID,
    SERVICE,
    EcrTokenCache,
    begin,
    reports_contract_errors,
)
from ecr_replicate.model import parse_copy_input

logger = Logger(service=SERVICE)
tracer = Tracer(service=SERVICE)

#: seconds kept back from the function's remaining time, to report a copy that ran out of it
DEADLINE_MARGIN = 20.0

ecr_clients: ClientFactory = client_factory("ecr")
copier_factory = workflow.real_copier
#: region -> S3 client for the copy's heartbeats, made once per region (like the ECR clients)
progress_s3: ClientFactory = functools.lru_cache(maxsize=8)(heartbeat.s3_client)
credentials = EcrTokenCache(lambda: ecr_clients)


def copy_budget(context: Any) -> float | None:
    """The copy's time budget: what is left of this invocation minus DEADLINE_MARGIN seconds."""
    remaining = getattr(context, "get_remaining_time_in_millis", None)
    if remaining is None:
        return None
    return max(float(remaining()) / 1000.0 - DEADLINE_MARGIN, 1.0)


@reports_contract_errors
@tracer.capture_lambda_handler
@logger.inject_lambda_context(correlation_id_path=CORRELATION_ID, clear_state=True)
def handler(event: Any, context: Any) -> dict[str, Any]:
    settings = config.current()
    copy_input = parse_copy_input(event)
    item = copy_input.item
    begin(logger, event, context, region=item.region, repository=item.repository, digest=item.digest)
    try:
        result = workflow.copy_region(
            copy_input,
            settings,
            copier=copier_factory(),
            credentials=credentials(),
            timeout=copy_budget(context),
            heartbeat=heartbeat.writer(settings, progress_s3),
        )
    except ReplicationError as exc:
        metrics.emit(item.region, [(metrics.COPY_FAILED, MetricUnit.Count, 1)])
        logger.warning("copy failed", extra={"error": type(exc).__name__, "cause": str(exc)[:500]})
        raise
    metrics.emit(item.region, metrics.copy_values(result))
    logger.info("copied" if result.status != "SKIPPED" else "skipped", extra=result.to_json())
    return result.to_json()
