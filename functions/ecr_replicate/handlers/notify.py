"""Notify: publish the Summary to EventBridge (``Replication Completed``) and to the SNS topic."""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools import Logger, Tracer

from ecr_replicate import config, workflow
from ecr_replicate.ecr import ClientFactory, client_factory
from ecr_replicate.handlers._common import CORRELATION_ID, SERVICE, begin, reports_contract_errors
from ecr_replicate.model import Summary, parse

logger = Logger(service=SERVICE)
tracer = Tracer(service=SERVICE)

sns_clients: ClientFactory = client_factory("sns")
events_clients: ClientFactory = client_factory("events")


@reports_contract_errors
@tracer.capture_lambda_handler
@logger.inject_lambda_context(correlation_id_path=CORRELATION_ID, clear_state=True)
def handler(event: Any, context: Any) -> dict[str, Any]:
    begin(logger, event, context)
    settings = config.current()
    summary = parse(Summary, event, "summary")
    published = workflow.notify(
        summary,
        settings,
        sns_client=sns_clients(settings.source_region),
        events_client=events_clients(settings.source_region),
    )
    logger.info("published", extra=published)
    return published
