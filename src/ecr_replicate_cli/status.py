"""``ecr-replicate status [EXECUTION] [--follow] [--stack NAME]``: the per-region view of one run.

The command only; the parts live in modules named for what they hold:
:mod:`~ecr_replicate_cli.executions` (which execution: ARN, name, or the latest),
:mod:`~ecr_replicate_cli.history` (an execution and its history as an :class:`ExecutionView`),
:mod:`~ecr_replicate_cli.heartbeats` (bytes and rate of the regions copying),
:mod:`~ecr_replicate_cli.status_table` (lines and tables) and :mod:`~ecr_replicate_cli.follow`
(the live loop). The names other modules use are re-exported here.
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Callable

from ecr_replicate_cli.executions import (
    arn_region,
    check_execution,
    cloudformation_client,
    deployment_machine,
    resolve_execution,
    stepfunctions_client,
)
from ecr_replicate_cli.follow import POLL_SECONDS, Renderer, exit_code, watch
from ecr_replicate_cli.heartbeats import HeartbeatReader, progress_bucket
from ecr_replicate_cli.history import TERMINAL, ExecutionView, ProgressReader, history, snapshot
from ecr_replicate_cli.status_table import plain_row, rich_table

__all__ = [
    "POLL_SECONDS",
    "TERMINAL",
    "ExecutionView",
    "Renderer",
    "arn_region",
    "configure",
    "exit_code",
    "history",
    "plain_row",
    "progress_reader",
    "rich_table",
    "run",
    "snapshot",
    "stepfunctions_client",
    "watch",
]


def progress_reader(
    outputs: dict[str, str] | None = None, region: str | None = None
) -> ProgressReader | None:
    """The heartbeat reader of the deployment (``--stack`` outputs or the environment), if any."""
    bucket = progress_bucket(outputs or {})
    return HeartbeatReader(bucket, region) if bucket else None


def _first_run_waiter() -> Callable[[], bool]:
    """``status --follow`` before the first push: say so once, then ask every second."""
    said: list[bool] = []

    def wait() -> bool:
        if not said:
            print("no execution yet: waiting for the first one (Ctrl-C to stop)", file=sys.stderr, flush=True)
            said.append(True)
        time.sleep(1.0)
        return True

    return wait


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "execution",
        nargs="?",
        metavar="EXECUTION",
        help="the execution ARN, or its name within the deployment; omitted: the latest execution",
    )
    parser.add_argument("--follow", "-f", action="store_true", help="keep refreshing until the run ends")
    parser.add_argument(
        "--stack", help="CloudFormation stack of the deployment (default: the environment `local up` prints)"
    )
    parser.add_argument("--region", help="AWS region of the stack (default: boto3's)")


def run(args: argparse.Namespace) -> int:
    machine: str | None = None
    outputs: dict[str, str] = {}
    if args.execution is not None:
        check_execution(args.execution)  # before any call
    if args.stack or not (args.execution or "").startswith("arn:"):
        machine, outputs = deployment_machine(args.stack, args.region, cloudformation_client)
    arn = resolve_execution(args.execution, machine, wait=_first_run_waiter() if args.follow else None)
    region = arn_region(arn) or args.region
    sfn = stepfunctions_client(region)
    view = watch(sfn, arn, out=sys.stdout, follow=args.follow, progress=progress_reader(outputs, region))
    return exit_code(view)
