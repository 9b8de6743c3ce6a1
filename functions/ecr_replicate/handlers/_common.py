"""What every handler shares: Powertools service name, correlation id, contract error names.

Log keys are per invocation: on Lambda one environment runs one invocation at a time, but the
local engine runs a Map's iterations as threads of one process, so keys are kept thread-local
(``thread_safe_*``). Metrics: :mod:`ecr_replicate.metrics` (one ``EphemeralMetrics`` per blob).
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any, TypeVar

from aws_lambda_powertools import Logger

from ecr_replicate import config, metrics
from ecr_replicate.credentials import EcrCredentials
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


def begin(logger: Logger, event: Any, context: Any, **keys: object) -> None:
    """Start this invocation's log context: correlation id (execution name, else event id),
    the Lambda request id and the handler's own keys (region, repository...)."""
    logger.thread_safe_clear_keys()
    correlation = None
    if isinstance(event, dict):
        correlation = event.get("executionName") or event.get("id")
    if correlation:
        keys["correlation_id"] = str(correlation)
    request_id = getattr(context, "aws_request_id", None)
    if request_id:
        keys["function_request_id"] = request_id
    logger.thread_safe_append_keys(**keys)


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
