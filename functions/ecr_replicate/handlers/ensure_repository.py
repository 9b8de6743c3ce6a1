"""Ensure repository: create the repository in the item's region if missing, mirroring the source's
settings when MIRROR_REPOSITORY_SETTINGS is on (never weakening a stricter target)."""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools import Logger, Tracer

from ecr_replicate import config, workflow
from ecr_replicate.ecr import ClientFactory, client_factory, ensure_repository, read_repository_settings
from ecr_replicate.handlers._common import CORRELATION_ID, SERVICE, begin, reports_contract_errors
from ecr_replicate.model import parse_copy_input

logger = Logger(service=SERVICE)
tracer = Tracer(service=SERVICE)

ecr_clients: ClientFactory = client_factory("ecr")
kms_clients: ClientFactory = client_factory("kms")


@reports_contract_errors
@tracer.capture_lambda_handler
@logger.inject_lambda_context(correlation_id_path=CORRELATION_ID, clear_state=True)
def handler(event: Any, context: Any) -> dict[str, Any]:
    settings = config.current()
    item = workflow.verified_item(parse_copy_input(event).item, settings)
    begin(logger, event, context, region=item.region, repository=item.repository)
    source = None
    if settings.mirror_repository_settings:
        source = read_repository_settings(
            ecr_clients(item.source_region), item.repository, kms_clients(item.source_region)
        )
    result = ensure_repository(
        ecr_clients(item.region), item.repository, item.region, source, kms_client=kms_clients(item.region)
    )
    logger.info(
        "ensured",
        extra={"repositoryCreated": result.created, "changes": result.changes, "warnings": result.warnings},
    )
    return result.to_json()
