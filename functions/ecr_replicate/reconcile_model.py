"""The reconcile workflow's state (statemachine/reconcile.asl.json), step by step.

``ReconcileInput`` (what the schedule or ``ecr-replicate reconcile`` starts it with) ->
``DriftFound`` (what Find drift leaves in the state: counts and S3 keys, never the lists, which
can be far larger than a state's 256 KiB) -> ``ReconcileSummary`` (the one notification).
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from ecr_replicate.model import CamelModel

MAX_NAMES_LISTED = 20  # names a summary lists (still failing, deleted in the source); counts are exact


class ReconcileInput(BaseModel):
    """``{}`` or ``{"dryRun": true}``; nothing else."""

    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)

    dry_run: bool = Field(default=False, alias="dryRun", strict=True)


class DriftFound(CamelModel):
    run_name: str
    dry_run: bool
    source_region: str
    checked: int  # images (tags and referrers) of the source checked
    drifted: int  # of which drifted in at least one region
    drift_by_region: dict[str, int]
    deleted_in_source: int
    items_bucket: str
    drift_key: str  # the drift report (drifted images only), JSON
    images_key: str | None = None  # the Map items of drifted images, None when there are none
    image_count: int = 0
    referrers_key: str | None = None  # drifted referrers: replicated after the images
    referrer_count: int = 0
    execution_name: str | None = None
    execution_arn: str | None = None


class RegionReconcile(CamelModel):
    region: str
    drift_found: int = 0
    healed: int = 0
    remaining: int = 0
    deleted_in_source: int = 0


ReconcileStatus = Literal["IN_SYNC", "HEALED", "FAILED", "DRY_RUN"]


class ReconcileSummary(CamelModel):
    kind: Literal["reconcile"] = "reconcile"
    status: ReconcileStatus
    source_region: str
    checked: int
    drifted: int
    healed: int
    remaining: int
    regions: list[RegionReconcile] = Field(default_factory=list)
    still_failing: list[str] = Field(default_factory=list)  # "repo:tag (region, region)", bounded
    deleted_in_source: list[str] = Field(default_factory=list)  # "region repo:tag", bounded
    deleted_in_source_count: int = 0
    drift_key: str | None = None
    items_bucket: str | None = None
    execution_name: str | None = None
    execution_arn: str | None = None
    text: str
