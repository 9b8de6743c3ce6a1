"""The metrics this project emits, in CloudWatch's embedded metric format (EMF), per target region.

One namespace (:data:`NAMESPACE`), one dimension set: ``TargetRegion`` plus Powertools' ``service``.
Every metric leaves through :func:`emit` as one JSON line: on Lambda on stdout (Lambda's log group),
in the CodeBuild copy step on stderr (the build's log group; stdout carries its result). CloudWatch
Logs extracts the metrics from either (PutLogEvents needs no EMF header).

What the template's dashboard plots must be among what is emitted here, with the same namespace
and dimensions: ``tests/unit/handlers/test_dashboard_metrics.py`` runs the emitting steps and compares.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Sequence
from typing import TextIO

from aws_lambda_powertools.metrics import EphemeralMetrics, MetricUnit

from ecr_replicate.model import RegionResult

NAMESPACE = "EcrReplicate"
SERVICE = "ecr-replicate"
REGION_DIMENSION = "TargetRegion"

# --- the copy step (Lambda and CodeBuild alike), one blob per copied region ----------------------
REPLICATION_LAG = "ReplicationLagSeconds"  # push event time -> the target holds the image
COPY_SECONDS = "CopySeconds"
BYTES_COPIED = "BytesCopied"
BLOBS_SKIPPED = "BlobsSkipped"  # blobs the target already had: bytes not moved
IMAGES_COPIED = "ImagesCopied"
IMAGES_SUPERSEDED = "ImagesSuperseded"
REFERRERS_DEFERRED = "ReferrersDeferred"  # a referrer whose subject is not in the region yet
COPY_FAILED = "CopyFailed"  # one failed attempt of the copy Lambda (retried ones included)
# --- the end of a region that failed after its retries (Record failure, or the build itself) ----
REGIONS_FAILED = "ReplicationsFailed"
# --- reconcile, per region -----------------------------------------------------------------------
DRIFT_FOUND = "DriftFound"  # images missing or different in the region when the run started
DRIFT_HEALED = "DriftHealed"
DRIFT_REMAINING = "DriftRemaining"  # still drifted after the run replicated them
DELETED_IN_SOURCE = "ImagesDeletedInSource"  # tags in the region the source no longer has

Values = Sequence[tuple[str, MetricUnit, float]]


def region_blob(region: str, values: Values) -> dict[str, object]:
    """The EMF document of ``values`` for ``region`` (Powertools' serialisation)."""
    metrics = EphemeralMetrics(namespace=NAMESPACE, service=SERVICE)
    metrics.add_dimension(name=REGION_DIMENSION, value=region)
    for name, unit, value in values:
        metrics.add_metric(name=name, unit=unit, value=value)
    return dict(metrics.serialize_metric_set())


def emit(region: str, values: Values, out: TextIO | None = None) -> None:
    """Write one EMF line for ``region`` (stdout unless ``out``); nothing when ``values`` is empty."""
    if not values:
        return
    print(json.dumps(region_blob(region, values), separators=(",", ":")), file=out or sys.stdout, flush=True)


def copy_values(result: RegionResult) -> list[tuple[str, MetricUnit, float]]:
    """What the copy step reports for one region's result, whichever runtime copied."""
    if result.status == "FAILED":
        return [(REGIONS_FAILED, MetricUnit.Count, 1)]
    if result.status == "SKIPPED":
        return [(REFERRERS_DEFERRED, MetricUnit.Count, 1)]
    values: list[tuple[str, MetricUnit, float]] = [
        (COPY_SECONDS, MetricUnit.Seconds, result.seconds),
        (BYTES_COPIED, MetricUnit.Bytes, result.bytes_copied),
        (BLOBS_SKIPPED, MetricUnit.Count, result.blobs_skipped),
        (IMAGES_SUPERSEDED if result.status == "SUPERSEDED" else IMAGES_COPIED, MetricUnit.Count, 1),
    ]
    if result.lag_seconds is not None:
        values.append((REPLICATION_LAG, MetricUnit.Seconds, result.lag_seconds))
    return values
