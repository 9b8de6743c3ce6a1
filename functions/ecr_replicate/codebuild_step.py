"""The CodeBuild copy step (``python3 -m ecr_replicate.codebuild_step``), the same library call as the Lambda.

Reads the Map iteration's state (RegionItem + ``ensured``) as JSON from ``REPLICATION_ITEM``,
copies, and prints the RegionResult JSON on one stdout line; the buildspec exports it as
``REGION_RESULT`` for the state machine. Exit codes:
  0  result printed: SUCCEEDED, SUPERSEDED, or FAILED (``ecr_replicate.failures.failed_region``,
     the same bounded record the state machine keeps for a failed Lambda step) for every error
     retrying cannot fix: unusable input or configuration, a permanent copy error, a bug
  1  retryable error (registry down, throttled...): the build fails, and a failed build is what
     the state machine's Retry on ``States.TaskFailed`` runs again
So a failed build always means "worth another build". The copy has a time budget: the state
machine Task's TimeoutSeconds (:data:`TASK_TIMEOUT_SECONDS`, under the project's TimeoutInMinutes)
less :data:`DEADLINE_MARGIN`, counted from the step's start; a slow or dripping registry ends in
DeadlineExceededError (a FAILED result the state machine keeps) rather than a ``States.Timeout``.
Logs go to stderr; credentials never appear in them. So do the region's metrics (one EMF line,
:func:`ecr_replicate.metrics.copy_values`, the copy Lambda's): the build's log group extracts them.
"""

from __future__ import annotations

import json
import logging
import os
import sys
import time
from collections.abc import Sequence
from typing import Any

from ecr_replicate import config, heartbeat, metrics, workflow
from ecr_replicate.aws_names import REGION_RE
from ecr_replicate.credentials import for_deployment
from ecr_replicate.ecr import client_factory
from ecr_replicate.errors import InvalidInputError, ReplicationError
from ecr_replicate.failures import failed_region
from ecr_replicate.model import RegionResult, parse_copy_input

ITEM_VARIABLE = "REPLICATION_ITEM"
EXIT_RESULT = 0
EXIT_RETRYABLE = 1
#: the ``Copy image (CodeBuild)`` Task's TimeoutSeconds (statemachine/replicate.asl.json), which is
#: below the CodeBuild project's TimeoutInMinutes (template.yaml): the first limit a build meets
TASK_TIMEOUT_SECONDS = 7200.0
#: seconds kept back from the Task's time: the install phase, a queued start, and reporting the result
DEADLINE_MARGIN = 600.0
logger = logging.getLogger(__name__)


def _raw_item() -> Any:
    raw = os.environ.get(ITEM_VARIABLE)
    if not raw:
        raise InvalidInputError(f"{ITEM_VARIABLE} is not set")
    try:
        return json.loads(raw)
    except ValueError:
        raise InvalidInputError(f"{ITEM_VARIABLE} is not JSON") from None


def _field(data: Any, key: str) -> str | None:
    value = data.get(key) if isinstance(data, dict) else None
    return value if isinstance(value, str) else None


def _region(data: Any) -> str:
    region = _field(data, "region") or ""
    return region if REGION_RE.fullmatch(region) else "unknown"


def time_budget(started: float, now: float | None = None) -> float:
    """Seconds the copy may take: the Task's time less the margin and what ran since ``started``
    (``time.monotonic()`` at the step's start); at least one second."""
    elapsed = (time.monotonic() if now is None else now) - started
    return max(TASK_TIMEOUT_SECONDS - DEADLINE_MARGIN - elapsed, 1.0)


def copy(data: Any, *, started: float | None = None) -> RegionResult:
    """Copy the item in ``data`` within :func:`time_budget`; a ReplicationError propagates."""
    started = time.monotonic() if started is None else started
    copy_input = parse_copy_input(data)
    settings = config.current()
    return workflow.copy_region(
        copy_input,
        settings,
        copier=workflow.real_copier(),
        credentials=for_deployment(settings, client_factory("ecr")),
        timeout=time_budget(started),
        heartbeat=heartbeat.writer(settings),
    )


def main(argv: Sequence[str] | None = None) -> int:
    del argv  # no options: everything comes from the environment
    started = time.monotonic()
    if not logging.getLogger().handlers:
        logging.basicConfig(
            stream=sys.stderr, level=logging.INFO, format="%(levelname)s %(name)s %(message)s"
        )
    data: Any = None
    try:
        data = _raw_item()
        result = copy(data, started=started)
    except Exception as exc:
        print(f"codebuild-copy: {_region(data)}: {type(exc).__name__}: {exc}", file=sys.stderr)
        if isinstance(exc, ReplicationError) and exc.retryable:
            return EXIT_RETRYABLE
        if not isinstance(exc, ReplicationError):  # a bug: recorded as a Lambda's unhandled error is
            logger.exception("codebuild-copy: unexpected error")
        result = failed_region(_region(data), _field(data, "digest"), type(exc).__name__, str(exc))
    logger.info("%s: %s", result.region, result.status)
    if REGION_RE.fullmatch(result.region):
        metrics.emit(result.region, metrics.copy_values(result), out=sys.stderr)
    print(json.dumps(result.to_json(), separators=(",", ":")))
    return EXIT_RESULT


if __name__ == "__main__":  # pragma: no cover - `python -m ecr_replicate.codebuild_step`
    sys.exit(main(sys.argv[1:]))
