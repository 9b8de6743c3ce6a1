"""Notify: publish a run's summary to EventBridge and to the SNS topic.

A replication run's :class:`~ecr_replicate.model.Summary` (``Replication Completed``), or a
reconcile run's :class:`~ecr_replicate.reconcile_model.ReconcileSummary` (``"kind":
"reconcile"``, ``Reconcile Completed``): one function, one topic, one set of permissions.
"""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools import Logger, Tracer

from ecr_replicate import config, notifications, reconcile
from ecr_replicate.ecr import ClientFactory, client_factory
from ecr_replicate.handlers._common import CORRELATION_ID, SERVICE, begin, reports_contract_errors
from ecr_replicate.model import Summary, parse
from ecr_replicate.reconcile_model import ReconcileSummary

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
    clients = {
        "sns_client": sns_clients(settings.source_region),
        "events_client": events_clients(settings.source_region),
    }
    if isinstance(event, dict) and event.get("kind") == "reconcile":
        summary = parse(ReconcileSummary, event, "reconcile summary")
        published = reconcile.notify(summary, settings, **clients)
    else:
        published = notifications.notify(parse(Summary, event, "summary"), settings, **clients)
    logger.info("published", extra=published)
    return published
