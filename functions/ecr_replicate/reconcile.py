"""The reconcile workflow's steps as plain functions: find drift, report what healed, notify.

ECR's events are best effort, so a replica can miss an image for good. Reconcile runs on a
schedule (and by ``ecr-replicate reconcile``):

1. :func:`find_drift`: the drift check ``ecr-replicate verify`` prints
   (:func:`ecr_replicate.drift.check_deployment`); the drifted images, each with the regions it
   drifted in, become the items of two Distributed Maps (the same item lists backfill writes,
   :mod:`ecr_replicate.batch`): images first, then untagged referrers, so a referrer whose subject
   was missing too finds it there. The drift report and both lists go to S3; the state keeps counts.
2. The Maps run the replication workflow once per image (in the state machine).
3. :func:`report`: HEADs every drifted image again in the regions it drifted in: healed, or still
   failing; metrics per region; one :class:`ReconcileSummary`.
4. :func:`notify`: one ``Reconcile Completed`` event and one mail (none for a dry run).

Images only the targets hold (deleted in the source) are reported, never deleted.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Sequence
from typing import Any

from aws_lambda_powertools.metrics import MetricUnit

from ecr_replicate import metrics
from ecr_replicate.batch import map_items, put_items, safe_name
from ecr_replicate.config import Settings
from ecr_replicate.drift import DriftReport, check_deployment
from ecr_replicate.ecr import aws_call
from ecr_replicate.errors import ConfigurationError, InvalidInputError
from ecr_replicate.inventory import HeadFunction, SourceImage, target_states
from ecr_replicate.notifications import mail_subject, publish
from ecr_replicate.reconcile_model import (
    MAX_NAMES_LISTED,
    DriftFound,
    ReconcileInput,
    ReconcileStatus,
    ReconcileSummary,
    RegionReconcile,
)

logger = logging.getLogger(__name__)

KEY_PREFIX = "reconcile"
EVENT_DETAIL_TYPE = "Reconcile Completed"
MAX_DRIFT_BYTES = 64 * 1024 * 1024  # the drift report read back from S3


RUN_NAME_CHARS = 64  # leaves room for "-i<n>" in a child's 80-character execution name


def run_name(execution_name: str | None) -> str:
    """The run's name in S3 keys and child execution names (Step Functions' characters)."""
    return safe_name(execution_name or "reconcile", RUN_NAME_CHARS)


def find_drift(
    request: ReconcileInput,
    settings: Settings,
    *,
    source_ecr: Any,
    ecr_of: Callable[[str], Any],
    head: HeadFunction,
    s3: Any,
    execution_name: str | None = None,
    execution_arn: str | None = None,
) -> DriftFound:
    """Check every target; write the drift report and the Map items to the items bucket."""
    if not settings.items_bucket:
        raise ConfigurationError("ITEMS_BUCKET is not set: reconcile has nowhere to write its image lists")
    report = check_deployment(settings, source_ecr=source_ecr, ecr_of=ecr_of, head=head)
    name = run_name(execution_name)
    base = f"{KEY_PREFIX}/{name}"
    drifted = report.drifted
    put_json(s3, settings.items_bucket, f"{base}/drift.json", report.to_json(all_images=False))
    found = DriftFound(
        run_name=name,
        dry_run=request.dry_run,
        source_region=settings.source_region,
        checked=len(report.images),
        drifted=len(drifted),
        drift_by_region=report.drift_by_region(),
        deleted_in_source=len(report.only_in_target),
        items_bucket=settings.items_bucket,
        drift_key=f"{base}/drift.json",
        execution_name=execution_name,
        execution_arn=execution_arn,
    )
    if request.dry_run:
        return found
    origin = f"reconcile:{name}"[:120]
    images = [(check.image, check.drifted_regions) for check in drifted if not check.image.is_referrer]
    referrers = [(check.image, check.drifted_regions) for check in drifted if check.image.is_referrer]
    update: dict[str, Any] = {}
    for kind, entries, prefix in (("images", images, "i"), ("referrers", referrers, "f")):
        if entries:
            key = f"{base}/{kind}.json"
            put_items(s3, settings.items_bucket, key, map_items(entries, name, prefix=prefix, origin=origin))
            update[f"{kind}_key"] = key
            update[f"{kind[:-1]}_count"] = len(entries)
    logger.info("drift: %d of %d images, %d to replicate", len(drifted), len(report.images), len(images))
    return found.model_copy(update=update)


def put_json(s3: Any, bucket: str, key: str, data: Any) -> None:
    with aws_call("s3:PutObject"):
        s3.put_object(Bucket=bucket, Key=key, Body=json.dumps(data).encode(), ContentType="application/json")


def read_report(s3: Any, bucket: str, key: str) -> DriftReport:
    with aws_call("s3:GetObject"):
        body = s3.get_object(Bucket=bucket, Key=key)["Body"].read(MAX_DRIFT_BYTES + 1)
    if len(body) > MAX_DRIFT_BYTES:
        raise InvalidInputError(f"drift report {key} is larger than {MAX_DRIFT_BYTES} bytes")
    try:
        return DriftReport.from_json(json.loads(body))
    except (ValueError, KeyError, TypeError) as exc:
        raise InvalidInputError(f"drift report {key} is not one reconcile wrote: {exc}"[:300]) from None


def still_drifted(
    report: DriftReport, settings: Settings, head: HeadFunction
) -> dict[str, list[SourceImage]]:
    """Region -> the images of ``report`` still not the same there (one HEAD per drifted pair)."""
    remaining: dict[str, list[SourceImage]] = {}
    for region in report.regions:
        drifted = [check.image for check in report.images if region in check.drifted_regions]
        if not drifted:
            continue
        states = target_states(drifted, [region], settings.registry_host, head)
        remaining[region] = [
            image
            for image in drifted
            if states[image][0].error is not None or states[image][0].digest != image.digest
        ]
    return remaining


def report(found: DriftFound, settings: Settings, *, s3: Any, head: HeadFunction) -> ReconcileSummary:
    """What the run healed and what still fails, per region; the drift metrics (real runs)."""
    drift = read_report(s3, found.items_bucket, found.drift_key)
    remaining = (
        {region: [c.image for c in drift.images if region in c.drifted_regions] for region in drift.regions}
        if found.dry_run
        else still_drifted(drift, settings, head)
    )
    left = {image for images in remaining.values() for image in images}
    deleted = {region: [t for t in drift.only_in_target if t.region == region] for region in drift.regions}
    regions = []
    for region in drift.regions:
        count = found.drift_by_region.get(region, 0)
        still = len(remaining.get(region, []))
        regions.append(
            RegionReconcile(
                region=region,
                drift_found=count,
                healed=0 if found.dry_run else count - still,
                remaining=still,
                deleted_in_source=len(deleted[region]),
            )
        )
        if not found.dry_run:
            metrics.emit(region, region_values(regions[-1]))
    status = _status(found, len(left))
    failing = [
        f"{image.name} ({', '.join(r for r in drift.regions if image in remaining.get(r, []))})"
        for image in sorted(left, key=SourceImage.sort_key)
    ]
    summary = ReconcileSummary(
        status=status,
        source_region=found.source_region,
        checked=found.checked,
        drifted=found.drifted,
        healed=0 if found.dry_run else found.drifted - len(left),
        remaining=len(left),
        regions=regions,
        still_failing=failing[:MAX_NAMES_LISTED],
        deleted_in_source=[f"{t.region} {t.name}" for t in drift.only_in_target][:MAX_NAMES_LISTED],
        deleted_in_source_count=len(drift.only_in_target),
        drift_key=found.drift_key,
        items_bucket=found.items_bucket,
        execution_name=found.execution_name,
        execution_arn=found.execution_arn,
        text="",
    )
    return summary.model_copy(update={"text": render(summary, failing)})


def region_values(region: RegionReconcile) -> list[tuple[str, MetricUnit, float]]:
    return [
        (metrics.DRIFT_FOUND, MetricUnit.Count, region.drift_found),
        (metrics.DRIFT_HEALED, MetricUnit.Count, region.healed),
        (metrics.DRIFT_REMAINING, MetricUnit.Count, region.remaining),
        (metrics.DELETED_IN_SOURCE, MetricUnit.Count, region.deleted_in_source),
    ]


def _status(found: DriftFound, remaining: int) -> ReconcileStatus:
    if found.dry_run:
        return "DRY_RUN"
    if found.drifted == 0:
        return "IN_SYNC"
    return "FAILED" if remaining else "HEALED"


def render(summary: ReconcileSummary, failing: Sequence[str]) -> str:
    """The mail: the verdict, a line per region, what still fails, what only the targets hold."""
    if summary.status == "IN_SYNC":
        head = f"IN SYNC: {summary.checked} image(s) from {summary.source_region} are in every target region"
    elif summary.status == "DRY_RUN":
        head = (
            f"DRY RUN: {summary.drifted} of {summary.checked} image(s) from {summary.source_region} "
            "drifted; nothing was replicated"
        )
    else:
        head = (
            f"{summary.status}: {summary.drifted} of {summary.checked} image(s) from {summary.source_region} "
            f"drifted; {summary.healed} healed, {summary.remaining} still failing"
        )
    lines = [head]
    for region in summary.regions:
        line = f"- {region.region}: {region.drift_found} drifted"
        if summary.status != "DRY_RUN":
            line += f", {region.healed} healed, {region.remaining} still failing"
        if region.deleted_in_source:
            line += f", {region.deleted_in_source} tag(s) deleted in the source (kept)"
        lines.append(line)
    shown = list(failing[:MAX_NAMES_LISTED])
    if shown:
        label = "Drifted" if summary.status == "DRY_RUN" else "Still failing"
        more = len(failing) - len(shown)
        lines.append(f"{label}: " + "; ".join(shown) + (f"; and {more} more" if more > 0 else ""))
    if summary.deleted_in_source:
        more = summary.deleted_in_source_count - len(summary.deleted_in_source)
        lines.append(
            "Deleted in the source, kept in the targets: "
            + "; ".join(summary.deleted_in_source)
            + (f"; and {more} more" if more > 0 else "")
        )
    return "\n".join(lines)


def notify(
    summary: ReconcileSummary, settings: Settings, *, sns_client: Any, events_client: Any
) -> dict[str, Any]:
    """One ``Reconcile Completed`` event; one mail unless it was a dry run."""
    subject = None
    if summary.status != "DRY_RUN":
        subject = mail_subject(
            f"ECR reconcile {summary.status.replace('_', ' ')}: {summary.drifted} drifted, "
            f"{summary.remaining} still failing"
        )
    return publish(
        summary.to_json(),
        summary.text,
        settings,
        detail_type=EVENT_DETAIL_TYPE,
        subject=subject,
        sns_client=sns_client,
        events_client=events_client,
    )
