"""``ecr-replicate backfill [--repository GLOB ...] [--tag GLOB ...] [--since DATE] [--dry-run]``.

Replicates images that existed before deployment:

1. lists the source through the ECR API (:func:`ecr_replicate.inventory.list_images`, pages of
   1000), keeping tagged images matching the globs, pushed at or after ``--since``, and passing
   the deployment's own include/exclude filters;
2. HEADs each ``repository:tag`` in every target region and skips images already there with the
   same digest (no blob read);
3. writes the rest as a JSON array to the deployment's backfill bucket and starts the backfill
   state machine: a Distributed Map running the replication workflow once per image, at most 5
   at a time (ECR's PutImage quota, 10/s per region: docs/operator.md);
4. shows images done / total (the Map Run's item counts) until the run ends: a ``rich`` progress
   bar on a terminal, plain lines otherwise.

``--dry-run`` stops after step 2 and prints what would be copied where, with byte counts.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
import uuid
from datetime import UTC, datetime
from typing import Any, TextIO

from ecr_replicate.errors import InvalidInputError
from ecr_replicate.filters import filter_reason
from ecr_replicate.inventory import SourceImage
from ecr_replicate_cli import deployment, patterns

POLL_SECONDS = 1.0
COUNT_ATTEMPTS = 5  # reads of the final Map Run counts before giving up on them
TERMINAL = frozenset({"SUCCEEDED", "FAILED", "TIMED_OUT", "ABORTED"})


def parse_since(text: str) -> datetime:
    """``YYYY-MM-DD`` or an ISO 8601 time; naive values are UTC."""
    try:
        value = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise InvalidInputError(f"--since {text[:40]!r}: expected a date (2024-05-01) or ISO time") from None
    return value if value.tzinfo else value.replace(tzinfo=UTC)


def select(
    deploy: deployment.Deployment, repositories: list[str], tags: list[str], since: datetime | None
) -> list[SourceImage]:
    from ecr_replicate.inventory import list_images  # noqa: PLC0415

    images = list_images(deploy.client("ecr"), repositories, tags, since)
    return [image for image in images if filter_reason(deploy.settings, image.repository, image.tag) is None]


def pending(
    deploy: deployment.Deployment, images: list[SourceImage], regions: tuple[str, ...]
) -> tuple[list[SourceImage], list[SourceImage]]:
    """(to replicate, already identical in every region), by one manifest HEAD per image and region."""
    from ecr_replicate import inventory  # noqa: PLC0415

    head = inventory.head_function(deploy.settings.registry_config, deploy.credentials())
    states = inventory.target_states(images, regions, deploy.registry, head)
    done = [image for image in images if inventory.replicated_everywhere(image, states[image])]
    return [image for image in images if image not in done], done


def items(images: list[SourceImage], run_name: str, regions: tuple[str, ...] | None) -> list[dict[str, Any]]:
    """The Distributed Map's items: a manual request per image, named ``<run>-<n>``."""
    from ecr_replicate.batch import map_items  # noqa: PLC0415

    return map_items([(image, regions) for image in images], run_name)


def start(deploy: deployment.Deployment, payload: list[dict[str, Any]], run_name: str) -> str:
    if not deploy.backfill_arn or not deploy.items_bucket:
        raise InvalidInputError("this deployment has no backfill state machine / bucket (update the stack)")
    from ecr_replicate.batch import put_items  # noqa: PLC0415

    key = f"backfill/{run_name}.json"
    put_items(deploy.client("s3"), deploy.items_bucket, key, payload)
    answer = deploy.client("stepfunctions").start_execution(
        stateMachineArn=deploy.backfill_arn,
        name=run_name,
        input=json.dumps({"itemsBucket": deploy.items_bucket, "itemsKey": key}),
    )
    return str(answer["executionArn"])


def progress_counts(sfn: Any, execution_arn: str) -> tuple[str, dict[str, int] | None]:
    """(execution status, the Map Run's item counts: succeeded, failed, running, total...).

    The counts are None when the Map Run could not be read this time (a 5xx, or a run not
    listed yet): they are progress, the caller keeps its last figures and asks again.
    """
    from botocore.exceptions import BotoCoreError, ClientError  # noqa: PLC0415

    status = str(sfn.describe_execution(executionArn=execution_arn)["status"])
    try:
        runs = sfn.list_map_runs(executionArn=execution_arn).get("mapRuns", [])
        if not runs:
            return status, {}
        return status, dict(sfn.describe_map_run(mapRunArn=runs[0]["mapRunArn"]).get("itemCounts", {}))
    except (ClientError, BotoCoreError):
        return status, None


def follow(
    sfn: Any, execution_arn: str, total: int, out: TextIO, *, tty: bool | None = None
) -> tuple[str, dict[str, int]]:
    """Images done / total until the run ends: a rich bar on a terminal, plain lines otherwise."""
    tty = out.isatty() if tty is None else tty
    bar: Any = None
    task: Any = None
    last = (-1, -1)
    counts: dict[str, int] = {}
    unreadable = 0
    try:
        while True:
            status, latest = progress_counts(sfn, execution_arn)
            if latest is None:
                unreadable += 1
                if status in TERMINAL and unreadable < COUNT_ATTEMPTS:
                    time.sleep(POLL_SECONDS)
                    continue  # the final figures decide the exit status: ask again
            else:
                counts, unreadable = latest, 0
            done = (
                counts.get("succeeded", 0)
                + counts.get("failed", 0)
                + counts.get("timedOut", 0)
                + counts.get("aborted", 0)
            )
            if tty:
                if bar is None:
                    from rich.console import Console  # noqa: PLC0415
                    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn  # noqa: PLC0415

                    bar = Progress(
                        TextColumn("backfill"),
                        BarColumn(),
                        MofNCompleteColumn(),
                        TextColumn("images"),
                        console=Console(file=out),
                    )
                    bar.start()
                    task = bar.add_task("backfill", total=total)
                bar.update(task, completed=done)
            elif (done, counts.get("failed", 0)) != last:
                last = (done, counts.get("failed", 0))
                print(
                    f"backfill: {done}/{total} images done ({counts.get('failed', 0)} failed)",
                    file=out,
                    flush=True,
                )
            if status in TERMINAL:
                return status, counts
            time.sleep(POLL_SECONDS)
    finally:
        if bar is not None:
            bar.stop()


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--repository", action="append", default=[], metavar="GLOB", help="repositories (repeat)"
    )
    parser.add_argument("--tag", action="append", default=[], metavar="GLOB", help="tags (repeat)")
    parser.add_argument("--since", type=str, metavar="DATE", help="only images pushed at or after DATE")
    parser.add_argument(
        "--region", action="append", dest="regions", metavar="REGION", help="only these targets"
    )
    parser.add_argument(
        "--dry-run", action="store_true", help="print what would be copied where; change nothing"
    )
    parser.add_argument("--no-follow", action="store_true", help="print the execution ARN and return")
    deployment.add_arguments(parser)


def backfill(args: argparse.Namespace, out: TextIO) -> int:
    regions_arg = [r.strip() for value in (args.regions or []) for r in value.split(",") if r.strip()]
    since = parse_since(args.since) if args.since else None
    repositories = patterns.repository_patterns(args.repository)
    tags = patterns.tag_patterns(args.tag)
    deploy = deployment.resolve(args.stack, args.stack_region)
    regions = deploy.regions(regions_arg)
    images = select(deploy, repositories, tags, since)
    note = None if images else patterns.unmatched(deploy.client("ecr"), repositories)
    if note:
        print(f"{note}: nothing to backfill", file=out)
        return 0
    todo, skipped = pending(deploy, images, regions)
    print(
        f"{len(images)} image(s) selected in {deploy.source_region}; {len(skipped)} already in "
        f"{', '.join(regions)}; {len(todo)} to replicate",
        file=out,
        flush=True,
    )
    if args.dry_run:
        from ecr_replicate import dryrun  # noqa: PLC0415

        plans = dryrun.plan_images(
            deploy.registry(deploy.source_region),
            [(image.repository, image.tag, image.digest) for image in todo],
            [(region, deploy.registry(region)) for region in regions],
            registry_config=deploy.settings.registry_config,
            credentials=deploy.credentials(),
        )
        dryrun.render(plans, out)
        return 0
    if not todo:
        print("nothing to backfill", file=out)
        return 0
    run_name = f"backfill-{time.strftime('%Y%m%dT%H%M%S', time.gmtime())}-{uuid.uuid4().hex[:8]}"
    arn = start(deploy, items(todo, run_name, tuple(regions_arg) or None), run_name)
    print(f"started {arn}", file=out, flush=True)
    if args.no_follow:
        return 0
    status, counts = follow(deploy.client("stepfunctions"), arn, len(todo), out)
    failed = counts.get("failed", 0) + counts.get("timedOut", 0) + counts.get("aborted", 0)
    print(f"backfill {status}: {counts.get('succeeded', 0)} replicated, {failed} failed", file=out)
    return 0 if status == "SUCCEEDED" and failed == 0 else 1


def run(args: argparse.Namespace) -> int:
    return backfill(args, sys.stdout)  # errors and Ctrl-C: ecr_replicate_cli.exits
