"""The CodeBuild copy step (``python3 -m ecr_replicate.codebuild_step``), the same library call as the Lambda.

Reads the Map iteration's state (RegionItem + ``ensured``) as JSON from ``REPLICATION_ITEM``,
copies, and prints the RegionResult JSON on one stdout line; the buildspec exports it as
``REGION_RESULT`` for the state machine. Exit codes:
  0  result printed: SUCCEEDED, SUPERSEDED, or FAILED for a permanent error (retrying cannot help)
  1  retryable error (registry down, throttled...): the build fails and Step Functions retries it
  2  unusable input or configuration: the build fails
Logs go to stderr; credentials never appear in them.
"""

from __future__ import annotations

import json
import logging
import os
import sys
from collections.abc import Sequence

from ecr_replicate import config, workflow
from ecr_replicate.credentials import for_deployment
from ecr_replicate.ecr import client_factory
from ecr_replicate.errors import ConfigurationError, InvalidInputError, ReplicationError
from ecr_replicate.model import RegionResult, parse_copy_input

ITEM_VARIABLE = "REPLICATION_ITEM"
logger = logging.getLogger(__name__)


def main(argv: Sequence[str] | None = None) -> int:
    del argv  # no options: everything comes from the environment
    if not logging.getLogger().handlers:
        logging.basicConfig(
            stream=sys.stderr, level=logging.INFO, format="%(levelname)s %(name)s %(message)s"
        )
    raw = os.environ.get(ITEM_VARIABLE)
    try:
        if not raw:
            raise InvalidInputError(f"{ITEM_VARIABLE} is not set")
        try:
            data = json.loads(raw)
        except ValueError:
            raise InvalidInputError(f"{ITEM_VARIABLE} is not JSON") from None
        copy_input = parse_copy_input(data)
        settings = config.current()
    except (InvalidInputError, ConfigurationError) as exc:
        print(f"codebuild-copy: {type(exc).__name__}: {exc}", file=sys.stderr)
        return 2
    item = copy_input.item
    try:
        result = workflow.copy_region(
            copy_input,
            settings,
            copier=workflow.real_copier(),
            credentials=for_deployment(settings, client_factory("ecr")),
        )
    except ReplicationError as exc:
        if exc.retryable:
            print(f"codebuild-copy: {item.region}: {type(exc).__name__}: {exc}", file=sys.stderr)
            return 1
        result = RegionResult(
            region=item.region,
            status="FAILED",
            digest=item.digest,
            error=type(exc).__name__,
            cause=str(exc)[:600],
        )
    logger.info("%s: %s", item.region, result.status)
    print(json.dumps(result.to_json(), separators=(",", ":")))
    return 0


if __name__ == "__main__":  # pragma: no cover - `python -m ecr_replicate.codebuild_step`
    sys.exit(main(sys.argv[1:]))
