"""``ecr-replicate reconcile [--dry-run] [--no-follow]``: run the deployment's reconcile workflow now.

The same run its schedule (template parameter ``ReconcileSchedule``) starts: the drift
``ecr-replicate verify`` reports is found in every target, only that is replicated, image by image,
through the replication workflow, and the run ends with one notification. This command starts it
and follows it: the drift found, then images replicated / total (the Map Runs' item counts), then
the run's summary (healed, still failing, tags deleted in the source and kept in the targets).

``--dry-run`` runs only the drift check and prints every drifted image and region (the report the
run wrote to the items bucket); nothing is replicated and no mail is sent.
Exit status: 0 in sync or healed (or a dry run), 1 drift remains or the run failed, 2 bad usage.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
import uuid
from typing import Any, TextIO

from ecr_replicate.errors import InvalidInputError
from ecr_replicate_cli import deployment
from ecr_replicate_cli.history import history

POLL_SECONDS = 1.0
TERMINAL = frozenset({"SUCCEEDED", "FAILED", "TIMED_OUT", "ABORTED"})
FIND_STATE = "Find drift"
REPORT_STATE = "Check again and report"
OK_STATUSES = frozenset({"IN_SYNC", "HEALED", "DRY_RUN"})


def start(sfn: Any, machine: str, *, dry_run: bool) -> str:
    name = f"reconcile-{time.strftime('%Y%m%dT%H%M%S', time.gmtime())}-{uuid.uuid4().hex[:8]}"
    answer = sfn.start_execution(stateMachineArn=machine, name=name, input=json.dumps({"dryRun": dry_run}))
    return str(answer["executionArn"])


def state_output(sfn: Any, execution_arn: str, state: str) -> dict[str, Any] | None:
    """The output of the last exit of ``state`` in the execution's history, if it has one."""
    found: dict[str, Any] | None = None
    for event in history(sfn, execution_arn):
        details = event.get("stateExitedEventDetails")
        if event.get("type") == "TaskStateExited" and details and details.get("name") == state:
            try:
                output = json.loads(details.get("output") or "null")
            except ValueError:
                continue
            found = output if isinstance(output, dict) else found
    return found


def map_counts(sfn: Any, execution_arn: str) -> dict[str, int] | None:
    """Item counts summed over the run's Map Runs (images, then referrers); None if unreadable."""
    from botocore.exceptions import BotoCoreError, ClientError  # noqa: PLC0415

    totals: dict[str, int] = {}
    try:
        for run in sfn.list_map_runs(executionArn=execution_arn).get("mapRuns", []):
            counts = sfn.describe_map_run(mapRunArn=run["mapRunArn"]).get("itemCounts", {})
            for key, value in counts.items():
                totals[key] = totals.get(key, 0) + int(value)
    except (ClientError, BotoCoreError):
        return None
    return totals


def follow(sfn: Any, execution_arn: str, out: TextIO) -> str:
    """Print the drift found, then images replicated / total, until the run ends; its status."""
    drift_shown = False
    last: tuple[int, int, int] | None = None
    while True:
        status = str(sfn.describe_execution(executionArn=execution_arn)["status"])
        if not drift_shown:
            found = state_output(sfn, execution_arn, FIND_STATE)
            if found is not None:
                drift_shown = True
                by_region = ", ".join(f"{r} {n}" for r, n in (found.get("driftByRegion") or {}).items())
                print(
                    f"drift: {found.get('drifted', 0)} of {found.get('checked', 0)} image(s) drifted "
                    f"({by_region or 'no target'}); {found.get('deletedInSource', 0)} tag(s) deleted in "
                    "the source (kept)",
                    file=out,
                    flush=True,
                )
        counts = map_counts(sfn, execution_arn)
        if counts:
            failed = counts.get("failed", 0) + counts.get("timedOut", 0) + counts.get("aborted", 0)
            done = counts.get("succeeded", 0) + failed
            now = (done, counts.get("total", 0), failed)
            if now != last:
                last = now
                print(f"replicating: {done}/{now[1]} image(s) done ({failed} failed)", file=out, flush=True)
        if status in TERMINAL:
            return status
        time.sleep(POLL_SECONDS)


def print_drift(deploy: deployment.Deployment, summary: dict[str, Any], out: TextIO) -> None:
    """The dry run's drift report, as ``verify`` prints it (read from where the run wrote it)."""
    from ecr_replicate.reconcile import read_report  # noqa: PLC0415

    bucket, key = summary.get("itemsBucket"), summary.get("driftKey")
    if not bucket or not key:
        return
    read_report(deploy.client("s3"), str(bucket), str(key)).render(out, totals=False)


def reconcile(args: argparse.Namespace, out: TextIO) -> int:
    deploy = deployment.resolve(args.stack, args.stack_region)
    if not deploy.reconcile_arn:
        raise InvalidInputError(
            f"this deployment has no reconcile state machine (update the stack, or export "
            f"{deployment.ENV_RECONCILE_ARN} as `ecr-replicate local up` prints it)"
        )
    sfn = deploy.client("stepfunctions")
    arn = start(sfn, deploy.reconcile_arn, dry_run=args.dry_run)
    print(f"started {arn}{' (dry run)' if args.dry_run else ''}", file=out, flush=True)
    if args.no_follow:
        return 0
    status = follow(sfn, arn, out)
    summary = state_output(sfn, arn, REPORT_STATE)
    if summary is None:
        description = sfn.describe_execution(executionArn=arn)
        print(f"reconcile {status}: {description.get('error', '')} {description.get('cause', '')}", file=out)
        return 1
    if args.dry_run:
        print_drift(deploy, summary, out)
    print(str(summary.get("text", "")), file=out)
    return 0 if status == "SUCCEEDED" and summary.get("status") in OK_STATUSES else 1


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--dry-run", action="store_true", help="only find and print the drift; replicate nothing"
    )
    parser.add_argument("--no-follow", action="store_true", help="print the execution ARN and return")
    deployment.add_arguments(parser)


def run(args: argparse.Namespace) -> int:
    """Errors and Ctrl-C end through ``ecr_replicate_cli.exits`` (one escaped line, exit 2 / 130)."""
    return reconcile(args, sys.stdout)
