"""What every handler shares: Powertools service name, correlation id, per-region metrics.

Each handler is decorated with ``logger.inject_lambda_context(correlation_id_path=CORRELATION_ID,
clear_state=True)``: the Lambda context and the correlation id (the execution name, else the
event id) start every invocation's log keys, and :func:`begin` adds the handler's own (region,
repository...). One execution environment runs one invocation at a time, on Lambda as in the
local twin; each invocation's metrics still live in their own ``EphemeralMetrics``.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from aws_lambda_powertools import Logger
from aws_lambda_powertools.metrics import EphemeralMetrics, MetricUnit

from ecr_replicate import config
from ecr_replicate.credentials import EcrCredentials
from ecr_replicate.ecr import ClientFactory

SERVICE = "ecr-replicate"
METRICS_NAMESPACE = "EcrReplicate"


CORRELATION_ID = "executionName || id"
"""JMESPath of the correlation id: the execution name (Plan's payload, Map items, summaries),
else the event's id (an EventBridge event invoking Plan directly)."""


def begin(logger: Logger, event: Any, context: Any, **keys: object) -> None:
    """Add the handler's own keys (region, repository...) to this invocation's log context,
    which ``inject_lambda_context`` started (``event`` and ``context`` are the handler's)."""
    del event, context  # the decorator already read them
    if keys:
        logger.append_keys(**keys)


def emit_region_metrics(region: str, values: list[tuple[str, MetricUnit, float]]) -> None:
    """One EMF blob for this invocation, dimensioned by target region."""
    metrics = EphemeralMetrics(namespace=METRICS_NAMESPACE, service=SERVICE)
    metrics.add_dimension(name="TargetRegion", value=region)
    for name, unit, value in values:
        metrics.add_metric(name=name, unit=unit, value=value)
    metrics.flush_metrics()


class EcrTokenCache:
    """The ECR credential provider of this Lambda container, built at first use.

    One per handler module, so its tokens are cached across invocations (12 h). ``clients``
    returns the handler's client factory when called, so a replaced factory is honoured; the
    registry hosts of ``REGISTRY_ENDPOINTS`` take the token of their region.
    """

    def __init__(self, clients: Callable[[], ClientFactory]) -> None:
        self._clients = clients
        self.provider: Any = None

    def __call__(self) -> Any:
        if self.provider is None:
            endpoints = config.current().registry_endpoints
            self.provider = EcrCredentials(self._clients(), endpoints=endpoints)
        return self.provider
