"""Report (reconcile): HEAD every drifted image again where it drifted; healed or still failing,
per region; the drift metrics; the one summary the Notify step publishes."""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools import Logger, Tracer

from ecr_replicate import config, reconcile
from ecr_replicate.ecr import ClientFactory, client_factory
from ecr_replicate.handlers._common import (
    CORRELATION_ID,
    SERVICE,
    EcrTokenCache,
    begin,
    reports_contract_errors,
)
from ecr_replicate.inventory import RegistryHeads
from ecr_replicate.model import parse
from ecr_replicate.reconcile_model import DriftFound

logger = Logger(service=SERVICE)
tracer = Tracer(service=SERVICE)

ecr_clients: ClientFactory = client_factory("ecr")
s3_clients: ClientFactory = client_factory("s3")
credentials = EcrTokenCache(lambda: ecr_clients)


@reports_contract_errors
@tracer.capture_lambda_handler
@logger.inject_lambda_context(correlation_id_path=CORRELATION_ID, clear_state=True)
def handler(event: Any, context: Any) -> dict[str, Any]:
    begin(logger, event, context)
    settings = config.current()
    found = parse(DriftFound, event, "reconcile state")
    with RegistryHeads.for_targets(settings, credentials()) as head:
        summary = reconcile.report(found, settings, s3=s3_clients(settings.source_region), head=head)
    logger.info("reconciled", extra={"status": summary.status, "remaining": summary.remaining})
    return summary.to_json()
