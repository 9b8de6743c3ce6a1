"""The workflow's steps as plain functions: plan, copy one region, summarize (notify: notifications.py).

Handlers (``ecr_replicate.handlers.*``) and the CodeBuild copy step
(``ecr_replicate.codebuild_step``) parse their input, call one function here and return its
result. Everything they need from outside (the copier, the image inspector, credentials, AWS
clients) is passed in, so the same code runs on AWS, locally and in tests.

Untagged pushes: an ECR push event without ``image-tag`` (a push by digest, e.g. each platform
manifest of a multi-arch image) is SKIPPED. The tagged push of the index that follows copies every
child manifest with it, so copying the children separately would only repeat work. A manual input
with a ``digest`` and no tag is honoured (copied by digest, untagged).

Referrers: a manifest with an OCI 1.1 ``subject`` (a signature, an SBOM) is replicated by digest
wherever its subject already is; a region without the subject is SKIPPED with the reason (copying
the subject later brings its referrers). ECR announces one with an ``ECR Referrer Action`` event;
an untagged ``ECR Image Action`` push is read (its manifest only) to tell a referrer from a
platform manifest.

Lag: the push event's ``time`` travels with each Map item; the copy step reports, per region, the
seconds from it to the moment the target holds the image (``RegionResult.lag_seconds``).
"""

from __future__ import annotations

import contextlib
import logging
import time
from collections.abc import Callable, Mapping, Sequence
from typing import Any, Protocol

from ecr_replicate.config import Settings
from ecr_replicate.errors import InvalidInputError
from ecr_replicate.filters import filter_reason
from ecr_replicate.heartbeat import HeartbeatRecorder, Write
from ecr_replicate.model import (
    CopyInput,
    ImageInfo,
    PlanResult,
    RegionItem,
    RegionResult,
    ReplicationRequest,
    Summary,
    SummaryStatus,
    parse,
    parse_event_time,
)
from ecr_replicate.oci.auth import CredentialProvider
from ecr_replicate.oci.copy import CopyResult, copy_image
from ecr_replicate.oci.copy_report import ProgressCallback
from ecr_replicate.oci.describe import describe_image, head_digest
from ecr_replicate.oci.reference import Reference
from ecr_replicate.oci.registry_config import RegistryConfig
from ecr_replicate.units import copied_text, plural

logger = logging.getLogger(__name__)

UNTAGGED_PUSH_REASON = "untagged push: replicated with its index/tag"
SUBJECT_MISSING_REASON = "subject {subject} is not in {region} yet: its replication brings this referrer"


class ImageDescriptionLike(Protocol):
    digest: str
    media_type: str
    size_bytes: int


Describe = Callable[..., ImageDescriptionLike]
class Copier(Protocol):
    """The one boundary between the workflow and the copier: ``copy_image``
    (:mod:`ecr_replicate.oci.copy`) or a stand-in taking what the workflow passes."""

    def __call__(
        self,
        source: Reference,
        target: Reference,
        *,
        digest: str | None = ...,
        guard_source_tag: bool = ...,
        jobs: int | None = ...,
        source_config: RegistryConfig = ...,
        target_config: RegistryConfig = ...,
        credentials: CredentialProvider | None = ...,
        progress: ProgressCallback | None = ...,
        timeout: float | None = ...,
    ) -> CopyResult: ...


def real_describe() -> Describe:
    return describe_image


def real_head() -> Callable[..., str | None]:
    return head_digest


def real_copier() -> Copier:
    return copy_image


def image_reference(registry: str, repository: str, tag: str | None, digest: str | None) -> Reference:
    """The image by tag when it has one, else by digest."""
    if tag is not None:
        return Reference(registry, repository, tag=tag)
    return Reference(registry, repository, digest=digest)


# --- Plan ------------------------------------------------------------------------------------------


def target_regions(request: ReplicationRequest, settings: Settings) -> tuple[str, ...]:
    """The configured targets (minus the source), restricted to ``request.regions`` if given."""
    configured = tuple(region for region in settings.target_regions if region != request.source_region)
    return restrict_to_targets(configured, request.regions)


def restrict_to_targets(targets: Sequence[str], wanted: Sequence[str] | None) -> tuple[str, ...]:
    """``targets``, or else the regions ``wanted`` (once each, in their order), each of which must
    be one of ``targets``: the one rule for the plan step and the operator commands."""
    if wanted is None:
        return tuple(targets)
    unknown = [region for region in wanted if region not in targets]
    if unknown:
        raise InvalidInputError(
            f"regions {', '.join(unknown)} are not target regions of this deployment "
            f"(targets: {', '.join(targets) or 'none'}; the source region is never a target)"
        )
    return tuple(dict.fromkeys(wanted))


def _skipped(
    request: ReplicationRequest, settings: Settings, reason: str, execution: tuple[str | None, str | None]
) -> PlanResult:
    logger.info("skipped: %s", reason)
    return PlanResult(
        status="SKIPPED",
        reason=reason,
        max_concurrency=settings.max_concurrency,
        request=request,
        execution_name=execution[0],
        execution_arn=execution[1],
    )


def plan(
    request: ReplicationRequest,
    settings: Settings,
    *,
    describe: Describe,
    credentials: Any = None,
    execution_name: str | None = None,
    execution_arn: str | None = None,
) -> PlanResult:
    """Decide what to copy where: SKIPPED (with a reason) or one RegionItem per target region."""
    execution = (execution_name, execution_arn)
    if request.skip_reason is not None:
        return _skipped(request, settings, request.skip_reason, execution)
    untagged_push = request.tag is None and request.trigger in ("ecr-event", "cloudtrail")
    reason = filter_reason(settings, request.repository, request.tag)
    if reason is not None:
        return _skipped(request, settings, reason, execution)
    regions = target_regions(request, settings)
    source_registry = settings.registry_host(request.source_region, request.account)
    # Describe by digest when the event names one: the tag may already have moved on.
    reference = image_reference(
        source_registry, request.repository, None if request.digest else request.tag, request.digest
    )
    description = describe(
        reference, credentials=credentials, config=settings.registry_config(source_registry)
    )
    subject = getattr(description, "subject", None)
    if untagged_push and subject is None:  # a platform manifest: copied with its index's tag
        return _skipped(request, settings, UNTAGGED_PUSH_REASON, execution)
    image = ImageInfo(
        digest=description.digest,
        media_type=description.media_type,
        size_bytes=description.size_bytes,
        subject=subject,
    )
    runtime = settings.copy_runtime
    if runtime == "auto":
        runtime = "lambda" if image.size_bytes <= settings.lambda_max_image_bytes else "codebuild"
    items = [
        RegionItem(
            region=region,
            repository=request.repository,
            tag=request.tag,
            digest=image.digest,
            media_type=image.media_type,
            size_bytes=image.size_bytes,
            source_region=request.source_region,
            source_registry=source_registry,
            target_registry=settings.registry_host(region, request.account),
            runtime=runtime,
            subject=subject,
            event_time=request.event_time,
        )
        for region in regions
    ]
    return PlanResult(
        status="PLANNED",
        max_concurrency=settings.max_concurrency,
        request=request,
        image=image,
        items=items,
        execution_name=execution_name,
        execution_arn=execution_arn,
    )


# --- Copy one region -------------------------------------------------------------------------------


def verified_item(item: RegionItem, settings: Settings) -> RegionItem:
    """The Map item, checked against this deployment before anything acts on it.

    Whoever can invoke a step (or start the build with its own ``REPLICATION_ITEM``) chooses the
    item: its region must be one of this deployment's targets, its source region this
    deployment's, and both registries the ones ``Settings.registry_host`` computes for them (the
    deployment's account). Names were validated when the item was parsed.
    """
    if item.region not in settings.target_regions:
        raise InvalidInputError(
            f"region {item.region} is not a target region of this deployment "
            f"(targets: {', '.join(settings.target_regions)})"
        )
    if item.source_region != settings.source_region:
        raise InvalidInputError(
            f"sourceRegion {item.source_region} is not this deployment's region {settings.source_region}"
        )
    for name, given, region in (
        ("sourceRegistry", item.source_registry, item.source_region),
        ("targetRegistry", item.target_registry, item.region),
    ):
        expected = settings.registry_host(region)
        if given != expected:
            raise InvalidInputError(f"{name} {given[:80]!r} is not the registry of {region} ({expected})")
    return item


def lag_seconds(event_time: str | None, now: float | None = None) -> float | None:
    """Seconds from the push event's time to ``now`` (the target holds the image), or None."""
    start = parse_event_time(event_time)
    if start is None:
        return None
    return round(max(0.0, (time.time() if now is None else now) - start.timestamp()), 3)


def copy_region(
    copy_input: CopyInput,
    settings: Settings,
    *,
    copier: Copier,
    credentials: Any = None,
    timeout: float | None = None,
    head: Callable[..., str | None] | None = None,
    heartbeat: Write | None = None,
) -> RegionResult:
    """Copy the item's image to its region with the newer-push-wins guard when it has a tag.

    ``timeout``: the copy's time budget in seconds (the Lambda handler passes its remaining time
    minus a margin), so a stalled registry ends in DeadlineExceededError, not a killed function.
    A referrer (``item.subject``) is copied only where its subject is: ``head(reference,
    credentials=..., config=...)`` (``oci.describe.head_digest``) asks the target first, and a
    region without it is SKIPPED with the reason.
    ``heartbeat``: where to record the copy's progress for ``status`` (:mod:`ecr_replicate.heartbeat`);
    needs the execution name, which every Map iteration carries.
    """
    item = verified_item(copy_input.item, settings)
    warnings = list(copy_input.ensured.warnings) if copy_input.ensured else []
    if item.subject is not None:
        subject_ref = image_reference(item.target_registry, item.repository, None, item.subject)
        config = settings.registry_config(item.target_registry)
        found = (head or real_head())(subject_ref, credentials=credentials, config=config)
        if found is None:
            reason = SUBJECT_MISSING_REASON.format(subject=item.subject[:19], region=item.region)
            logger.info("skipped: %s", reason)
            return RegionResult(
                region=item.region, status="SKIPPED", digest=item.digest, reason=reason, warnings=warnings
            )
    source = image_reference(item.source_registry, item.repository, item.tag, item.digest)
    recorder = None
    if heartbeat is not None and copy_input.execution_name:
        try:
            recorder = HeartbeatRecorder(heartbeat, execution=copy_input.execution_name, region=item.region,
                                         runtime=item.runtime, total_bytes=item.size_bytes)  # fmt: skip
        except ValueError as exc:  # a name we do not write keys for: copy without progress
            logger.warning("no progress heartbeat: %s", exc)
    with recorder if recorder is not None else contextlib.nullcontext():
        result = copier(
            source,
            source.with_host(item.target_registry),
            digest=item.digest,
            guard_source_tag=item.tag is not None,
            jobs=settings.copy_jobs,
            source_config=settings.registry_config(item.source_registry),
            target_config=settings.registry_config(item.target_registry),
            credentials=credentials,
            timeout=timeout,
            **({"progress": recorder} if recorder is not None else {}),
        )
    superseded = result.status == "SUPERSEDED"
    return RegionResult(
        region=item.region,
        status="SUPERSEDED" if superseded else "SUCCEEDED",
        digest=result.digest,
        bytes_copied=result.bytes_copied,
        blobs_copied=result.blobs_copied,
        blobs_skipped=result.blobs_skipped,
        blobs_mounted=result.blobs_mounted,
        seconds=round(result.seconds, 3),
        lag_seconds=None if superseded else lag_seconds(item.event_time),
        warnings=[*warnings, *bounded_warnings(result.warnings)],
    )


def bounded_warnings(warnings: list[str], count: int = 5, length: int = 300) -> list[str]:
    """At most ``count`` warnings of at most ``length`` characters: the state stays small."""
    kept = [warning[:length] for warning in warnings[:count]]
    if len(warnings) > count:
        kept.append(f"... and {len(warnings) - count} more warnings")
    return kept


# --- Summarize ---------------------------------------------------------------------------------------


def region_line(result: RegionResult) -> str:
    if result.status == "FAILED":
        line = f"- {result.region}: FAILED: {result.error or 'error'}: {result.cause or 'no cause given'}"
    elif result.status == "SKIPPED":
        line = f"- {result.region}: SKIPPED: {result.reason or 'nothing to do'}"
    elif result.status == "SUPERSEDED":
        line = f"- {result.region}: SUPERSEDED: the source tag now names a newer push; its own run tags it"
    else:
        present = result.blobs_skipped + result.blobs_mounted
        line = (
            f"- {result.region}: {result.status}, "
            f"{copied_text(result.bytes_copied, result.blobs_copied, present)}, {result.seconds:.1f} s"
        )
        if result.lag_seconds is not None:
            line += f", {result.lag_seconds:.1f} s after the push"
    for warning in result.warnings:
        line += f"\n  warning: {warning}"
    return line


def summarize(state: Mapping[str, Any]) -> Summary:
    """The aggregate of a run: status, one RegionResult per region, a line per region for people."""
    planned = parse(PlanResult, state, "workflow state")
    request = planned.request
    name = f"{request.repository}:{request.tag}" if request.tag else request.repository
    digest = planned.image.digest if planned.image else request.digest
    common: dict[str, Any] = {
        "repository": request.repository,
        "tag": request.tag,
        "digest": digest,
        "source_region": request.source_region,
        "execution_name": planned.execution_name,
        "execution_arn": planned.execution_arn,
        "origin": request.origin,
    }
    if planned.status == "SKIPPED":
        return Summary(
            status="SKIPPED", reason=planned.reason, text=f"SKIPPED: {name}: {planned.reason}", **common
        )
    raw_results = state.get("regions") or []
    if not isinstance(raw_results, list):
        raise InvalidInputError("invalid workflow state: regions must be a list")
    results: dict[str, RegionResult] = {}
    for raw in raw_results:
        result = parse(RegionResult, raw, "region result")  # failures: bounded records (failures.py)
        results[result.region] = result
    for item in planned.items:
        if item.region not in results:
            results[item.region] = RegionResult(
                region=item.region,
                status="FAILED",
                digest=item.digest,
                error="MissingResult",
                cause="the workflow returned no result for this region",
            )
    ordered = [results[item.region] for item in planned.items] + [
        result for region, result in results.items() if region not in {i.region for i in planned.items}
    ]
    failed = [result.region for result in ordered if result.status == "FAILED"]
    status: SummaryStatus = "FAILED" if failed else "SUCCEEDED"
    short_digest = f" ({digest[:19]})" if digest else ""
    if failed:
        head = (
            f"FAILED: {name}{short_digest} from {request.source_region}: "
            f"{len(ordered) - len(failed)} of {plural(len(ordered), 'region')} replicated; "
            f"failed: {', '.join(failed)}"
        )
    else:
        skipped = sum(1 for result in ordered if result.status == "SKIPPED")
        copied = len(ordered) - skipped
        head = f"SUCCEEDED: {name}{short_digest} from {request.source_region} to {plural(copied, 'region')}"
        if skipped:
            head += f" ({skipped} skipped)"
    text = "\n".join([head, *(region_line(result) for result in ordered)])
    return Summary(status=status, regions=ordered, failed_regions=failed, text=text, **common)
