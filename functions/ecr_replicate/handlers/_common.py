"""What every handler shares: Powertools service name, correlation id, contract error names.

Each handler is decorated with ``logger.inject_lambda_context(correlation_id_path=CORRELATION_ID,
clear_state=True)``: the Lambda context and the correlation id (the execution name, else the
event id) start every invocation's log keys, and :func:`begin` adds the handler's own (region,
repository...). One execution environment runs one invocation at a time, on Lambda as in the
local twin. Metrics: :mod:`ecr_replicate.metrics` (one ``EphemeralMetrics`` per blob).
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any, TypeVar

from aws_lambda_powertools import Logger

from ecr_replicate import config, metrics
from ecr_replicate.credentials import for_deployment
from ecr_replicate.ecr import ClientFactory
from ecr_replicate.errors import ReplicationError, reported

SERVICE = metrics.SERVICE  # the handlers' Powertools service name

Result = TypeVar("Result")


def reports_contract_errors(handler: Callable[[Any, Any], Result]) -> Callable[[Any, Any], Result]:
    """Wrap a Lambda handler so every ReplicationError leaves it under a contract name.

    Step Functions matches ``ErrorEquals`` to the ``errorType`` (the class name) exactly: an
    internal subclass (``TransferInterrupted``) is re-raised as its nearest ancestor of
    ``errors.ERROR_CLASSES`` (``RegistryUnavailableError``), with the same message, so the
    state machine's Retry sees it. Put it outermost, above the tracer.
    """

    @functools.wraps(handler)
    def wrapper(event: Any, context: Any) -> Result:
        try:
            return handler(event, context)
        except ReplicationError as exc:
            contract = reported(exc)
            if contract is exc:
                raise
            raise contract from exc

    wrapper.reports_contract_errors = True  # type: ignore[attr-defined]
    return wrapper


CORRELATION_ID = "executionName || id"
"""JMESPath of the correlation id: the execution name (Plan's payload, Map items, summaries),
else the event's id (an EventBridge event invoking Plan directly)."""


def begin(logger: Logger, event: Any, context: Any, **keys: object) -> None:
    """Add the handler's own keys (region, repository...) to this invocation's log context,
    which ``inject_lambda_context`` started (``event`` and ``context`` are the handler's)."""
    del event, context  # the decorator already read them
    if keys:
        logger.append_keys(**keys)


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
            self.provider = for_deployment(config.current(), self._clients())
        return self.provider
