"""The reconcile workflow's two functions (statemachine/reconcile.asl.json), thin over
:mod:`ecr_replicate.reconcile`; each is its own Lambda function and role in the template.

* :func:`find_drift` (``Find drift``): input ``{"input": <execution input>, "executionName",
  "executionArn"}``; the deployment's drift check, the drifted images' Map items to S3; output
  :class:`~ecr_replicate.reconcile_model.DriftFound` (counts and S3 keys).
* :func:`report` (``Check again and report``): input the DriftFound state; every drifted image
  HEADed again where it drifted, the drift metrics; output the
  :class:`~ecr_replicate.reconcile_model.ReconcileSummary` that Notify publishes.
"""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools import Logger, Tracer

from ecr_replicate import config
from ecr_replicate import reconcile as steps
from ecr_replicate.ecr import ClientFactory, client_factory
from ecr_replicate.errors import InvalidInputError
from ecr_replicate.handlers._common import (
    CORRELATION_ID,
    SERVICE,
    EcrTokenCache,
    begin,
    reports_contract_errors,
)
from ecr_replicate.inventory import RegistryHeads
from ecr_replicate.model import parse
from ecr_replicate.reconcile_model import DriftFound, ReconcileInput

logger = Logger(service=SERVICE)
tracer = Tracer(service=SERVICE)

ecr_clients: ClientFactory = client_factory("ecr")
s3_clients: ClientFactory = client_factory("s3")
credentials = EcrTokenCache(lambda: ecr_clients)


@reports_contract_errors
@tracer.capture_lambda_handler
@logger.inject_lambda_context(correlation_id_path=CORRELATION_ID, clear_state=True)
def find_drift(event: Any, context: Any) -> dict[str, Any]:
    if not isinstance(event, dict):
        raise InvalidInputError("invalid reconcile state: expected a JSON object")
    begin(logger, event, context)
    settings = config.current()
    request = parse(ReconcileInput, event.get("input") or {}, "reconcile input")
    with RegistryHeads.for_targets(settings, credentials()) as head:
        found = steps.find_drift(
            request,
            settings,
            source_ecr=ecr_clients(settings.source_region),
            ecr_of=ecr_clients,
            head=head,
            s3=s3_clients(settings.source_region),
            execution_name=_text(event.get("executionName")),
            execution_arn=_text(event.get("executionArn")),
        )
    logger.info(
        "drift",
        extra={"checked": found.checked, "drifted": found.drifted, "byRegion": found.drift_by_region},
    )
    return found.to_json()


@reports_contract_errors
@tracer.capture_lambda_handler
@logger.inject_lambda_context(correlation_id_path=CORRELATION_ID, clear_state=True)
def report(event: Any, context: Any) -> dict[str, Any]:
    begin(logger, event, context)
    settings = config.current()
    found = parse(DriftFound, event, "reconcile state")
    with RegistryHeads.for_targets(settings, credentials()) as head:
        summary = steps.report(found, settings, s3=s3_clients(settings.source_region), head=head)
    logger.info("reconciled", extra={"status": summary.status, "remaining": summary.remaining})
    return summary.to_json()


def _text(value: Any) -> str | None:
    return str(value)[:256] if isinstance(value, str) else None
