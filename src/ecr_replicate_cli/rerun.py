"""``ecr-replicate rerun EXECUTION_ARN (--region R ... | --failed) [--no-follow]``.

Starts a new execution of the same state machine for the same image, restricted to some of the
original's regions: a manual request ``{"repository", "tag", "digest", "regions"}`` built from the
original input (an ECR or CloudTrail event is normalised by :func:`ecr_replicate.model.parse_request`).
The new execution is named after the original (``<name>-rerun-<n>``, at most 80 characters), so
the console shows where it comes from. Then it is followed like ``status --follow``.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from typing import Any

from ecr_replicate.errors import InvalidInputError
from ecr_replicate.model import parse_request
from ecr_replicate_cli import deployment, status
from ecr_replicate_cli.executions import is_execution_arn

MAX_NAME = 80
MAX_ATTEMPTS = 100
_RERUN_SUFFIX = re.compile(r"-rerun-\d+$")


def rerun_name(original: str, number: int) -> str:
    """``<original>-rerun-<n>`` within 80 characters; a rerun of a rerun counts from the original."""
    base = _RERUN_SUFFIX.sub("", original)
    suffix = f"-rerun-{number}"
    return base[: MAX_NAME - len(suffix)] + suffix


def rerun_input(original_input: Any, regions: list[str], *, default_region: str) -> dict[str, Any]:
    """The manual request that replays ``original_input``'s image to ``regions`` only."""
    request = parse_request(original_input, default_region=default_region)
    manual: dict[str, Any] = {"repository": request.repository}
    if request.tag is not None:
        manual["tag"] = request.tag
    if request.digest is not None:
        manual["digest"] = request.digest
    manual["regions"] = list(regions)
    return manual


def select_regions(view: status.ExecutionView, regions: list[str] | None, failed: bool) -> list[str]:
    """The regions to re-run: the given ones (each must belong to the run) or the failed ones."""
    if not view.done:
        raise InvalidInputError(f"execution {view.name} is still {view.status}: wait for it to end")
    known = [row.region for row in view.rows]
    if failed:
        return view.failed_regions
    chosen = list(dict.fromkeys(regions or []))
    if not chosen:
        raise InvalidInputError("name the regions to re-run (--region R) or pass --failed")
    unknown = [region for region in chosen if known and region not in known]
    if unknown:
        raise InvalidInputError(
            f"region(s) {', '.join(unknown)} were not part of execution {view.name} "
            f"(its regions: {', '.join(known)})"
        )
    return chosen


def start_rerun(sfn: Any, view: status.ExecutionView, regions: list[str]) -> str:
    """Start the rerun execution; returns its ARN."""
    from botocore.exceptions import ClientError  # noqa: PLC0415

    payload = json.dumps(
        rerun_input(view.input, regions, default_region=status.arn_region(view.arn) or "us-east-1")
    )
    for number in range(1, MAX_ATTEMPTS + 1):
        try:
            answer = sfn.start_execution(
                stateMachineArn=view.state_machine_arn, name=rerun_name(view.name, number), input=payload
            )
        except ClientError as exc:
            if exc.response["Error"].get("Code") == "ExecutionAlreadyExists":
                continue
            raise InvalidInputError(
                f"could not start the rerun: {exc.response['Error'].get('Message', exc)}"
            ) from None
        return str(answer["executionArn"])
    raise InvalidInputError(f"{MAX_ATTEMPTS} reruns of {view.name} exist already")


def rerun(
    sfn: Any,
    execution_arn: str,
    *,
    regions: list[str] | None = None,
    failed: bool = False,
    out: Any = None,
) -> str | None:
    """Select regions, start the rerun and print its ARN; None when there is nothing to re-run."""
    out = out or sys.stdout
    view = status.snapshot(sfn, execution_arn)
    chosen = select_regions(view, regions, failed)
    if not chosen:
        print(f"execution {view.name}: no failed region, nothing to re-run", file=out)
        return None
    new_arn = start_rerun(sfn, view, chosen)
    print(f"re-running {', '.join(chosen)} of {view.name}: {new_arn}", file=out, flush=True)
    return new_arn


def dry_run(
    sfn: Any, execution_arn: str, regions: list[str], failed: bool, deploy: deployment.Deployment
) -> int:
    """What the rerun would copy to each chosen region (``ecr_replicate.dryrun``); starts nothing."""
    from ecr_replicate_cli import replicate  # noqa: PLC0415

    view = status.snapshot(sfn, execution_arn)
    chosen = select_regions(view, regions, failed)
    if not chosen:
        print(f"execution {view.name}: no failed region, nothing to re-run")
        return 0
    manual = rerun_input(view.input, chosen, default_region=status.arn_region(view.arn) or "us-east-1")
    image = (str(manual["repository"]), manual.get("tag"), manual.get("digest"))
    return replicate.dry_run(deploy, image, tuple(chosen), sys.stdout)


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("execution", metavar="EXECUTION_ARN", help="the execution to re-run regions of")
    which = parser.add_mutually_exclusive_group(required=True)
    which.add_argument(
        "--region",
        action="append",
        dest="regions",
        metavar="REGION",
        help="a region to re-run (repeat, or comma-separate, for several)",
    )
    which.add_argument("--failed", action="store_true", help="re-run every region that failed")
    parser.add_argument("--no-follow", action="store_true", help="print the new ARN and return")
    parser.add_argument("--dry-run", action="store_true", help="print what would be copied; change nothing")
    parser.add_argument(
        "--stack", help="CloudFormation stack of the deployment (dry run, progress; default: the environment)"
    )
    parser.add_argument("--aws-region", dest="stack_region", help="region of --stack (default: the ARN's)")


def run(args: argparse.Namespace) -> int:
    regions = [r.strip() for value in (args.regions or []) for r in value.split(",") if r.strip()]
    if not is_execution_arn(args.execution):
        raise InvalidInputError(f"not an execution ARN: {args.execution[:120]!r}")
    sfn = status.stepfunctions_client(status.arn_region(args.execution))
    if args.dry_run:
        deploy = deployment.resolve(args.stack, args.stack_region or status.arn_region(args.execution))
        return dry_run(sfn, args.execution, regions, args.failed, deploy)
    new_arn = rerun(sfn, args.execution, regions=regions, failed=args.failed)
    if new_arn is None or args.no_follow:
        return 0
    if args.stack:
        region = args.stack_region or status.arn_region(new_arn)
        progress = deployment.resolve(args.stack, region).progress_reader()
    else:
        progress = status.progress_reader(region=status.arn_region(new_arn))
    view = status.watch(sfn, new_arn, out=sys.stdout, follow=True, progress=progress)
    return status.exit_code(view)
