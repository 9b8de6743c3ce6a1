"""Pydantic models of everything that crosses a boundary: events, manual input, Map items, results.

Workflow state is camelCase JSON (``to_json()``); models accept both camelCase and snake_case.
Events keep AWS's own field names (``repository-name``, ``requestParameters``...); the ECR events
are Powertools' ``EventBridgeModel`` with a typed ``detail``.

:func:`parse_request` turns any of the trigger shapes (ECR ``Image Action`` and ``Referrer
Action`` events, CloudTrail ``PutImage`` event, manual input) into one :class:`ReplicationRequest`.
Malformed input raises :class:`InvalidInputError` with a short message naming the fields (never pydantic's
internals, never the offending values in full); a name/tag/digest outside the OCI grammar raises
:class:`InvalidReferenceError`.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Any, Literal, TypeVar

from aws_lambda_powertools.utilities.parser.models import EventBridgeModel
from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    field_validator,
    model_validator,
)
from pydantic.alias_generators import to_camel

from ecr_replicate.errors import InvalidInputError
from ecr_replicate.oci.reference import validate_digest, validate_repository, validate_tag

ECR_IMAGE_ACTION = "ECR Image Action"
ECR_REFERRER_ACTION = "ECR Referrer Action"
CLOUDTRAIL_API_CALL = "AWS API Call via CloudTrail"
MAX_REGIONS = 40
_MAX_ERRORS_SHOWN = 5
ORIGIN_PATTERN = r"^[A-Za-z0-9_:-]{1,120}$"
EVENT_TIME_FORMAT = "%Y-%m-%dT%H:%M:%SZ"

M = TypeVar("M", bound=BaseModel)


class CamelModel(BaseModel):
    """Workflow JSON: camelCase out, either spelling in, unknown keys ignored."""

    model_config = ConfigDict(alias_generator=to_camel, populate_by_name=True, extra="ignore", frozen=True)

    def to_json(self) -> dict[str, Any]:
        return self.model_dump(mode="json", by_alias=True)


# --- the three trigger shapes --------------------------------------------------------------------


class EcrActionDetail(BaseModel):
    """``detail`` of ``ECR Image Action`` and ``ECR Referrer Action`` (the same fields; the latter
    also carries ``target-storage-class``/``last-activated-at`` for archive and restore actions)."""

    model_config = ConfigDict(extra="ignore", frozen=True, populate_by_name=True)

    result: str
    repository_name: str = Field(alias="repository-name")
    image_digest: str = Field(alias="image-digest")
    action_type: str = Field(alias="action-type")
    image_tag: str | None = Field(default=None, alias="image-tag")
    manifest_media_type: str | None = Field(default=None, alias="manifest-media-type")
    artifact_media_type: str | None = Field(default=None, alias="artifact-media-type")


EcrImageActionDetail = EcrActionDetail


class EcrActionEvent(EventBridgeModel):
    """An ``aws.ecr`` event from EventBridge (Powertools' envelope; account and region checked)."""

    model_config = ConfigDict(extra="ignore", frozen=True, populate_by_name=True)

    source: Literal["aws.ecr"]
    account: str = Field(pattern=r"^\d{12}$")
    region: str = Field(pattern=r"^[a-z]{2}(-[a-z]+)+-\d{1,2}$")
    detail: EcrActionDetail


class EcrImageActionEvent(EcrActionEvent):
    """``detail-type: ECR Image Action``: a push (or a deletion) of an image."""

    detail_type: Literal["ECR Image Action"] = Field(alias="detail-type")


class EcrReferrerActionEvent(EcrActionEvent):
    """``detail-type: ECR Referrer Action``: what ECR sends for an OCI 1.1 manifest with a
    ``subject`` (a signature, an SBOM, an attestation). Its ``image-digest`` is the referrer's own;
    the subject is named only inside the manifest, which the plan step reads."""

    detail_type: Literal["ECR Referrer Action"] = Field(alias="detail-type")


class CloudTrailImageId(BaseModel):
    model_config = ConfigDict(extra="ignore", frozen=True)

    imageDigest: str | None = None  # noqa: N815 - CloudTrail's spelling
    imageTag: str | None = None  # noqa: N815


class CloudTrailImage(BaseModel):
    model_config = ConfigDict(extra="ignore", frozen=True)

    imageId: CloudTrailImageId  # noqa: N815


class CloudTrailResponse(BaseModel):
    model_config = ConfigDict(extra="ignore", frozen=True)

    image: CloudTrailImage


class CloudTrailPutImageParameters(BaseModel):
    model_config = ConfigDict(extra="ignore", frozen=True)

    repositoryName: str  # noqa: N815
    imageTag: str | None = None  # noqa: N815
    imageDigest: str | None = None  # noqa: N815
    registryId: str | None = None  # noqa: N815


class CloudTrailPutImageDetail(BaseModel):
    model_config = ConfigDict(extra="ignore", frozen=True)

    eventName: Literal["PutImage"]  # noqa: N815
    awsRegion: str | None = None  # noqa: N815
    errorCode: str | None = None  # noqa: N815
    requestParameters: CloudTrailPutImageParameters  # noqa: N815
    responseElements: CloudTrailResponse | None = None  # noqa: N815


class CloudTrailPutImageEvent(BaseModel):
    """EventBridge ``detail-type: AWS API Call via CloudTrail`` for ``ecr:PutImage``."""

    model_config = ConfigDict(extra="ignore", frozen=True, populate_by_name=True)

    id: str
    detail_type: Literal["AWS API Call via CloudTrail"] = Field(alias="detail-type")
    source: Literal["aws.ecr"]
    account: str = Field(pattern=r"^\d{12}$")
    region: str = Field(pattern=r"^[a-z]{2}(-[a-z]+)+-\d{1,2}$")
    time: datetime | None = None
    detail: CloudTrailPutImageDetail


class ManualRequest(BaseModel):
    """``{"repository": "...", "tag": "..." | "digest": "...", "regions": ["..."]}``; nothing else
    but ``origin``: the batch run (a reconcile) that started this one, which mails its own summary."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    repository: str
    tag: str | None = None
    digest: str | None = None
    regions: list[str] | None = Field(default=None, min_length=1, max_length=MAX_REGIONS)
    origin: str | None = Field(default=None, pattern=ORIGIN_PATTERN)

    @model_validator(mode="after")
    def _tag_or_digest(self) -> ManualRequest:
        if self.tag is None and self.digest is None:
            raise ValueError("give a tag or a digest (or both)")
        return self


# --- names, validated where a model is built -------------------------------------------------------


def _region_name(value: str) -> str:
    from ecr_replicate.config import REGION_RE  # noqa: PLC0415 - avoid an import cycle at load

    if not REGION_RE.fullmatch(value):
        raise InvalidInputError(f"regions: {value[:40]!r} is not an AWS region name (e.g. eu-west-1)")
    return value


RepositoryName = Annotated[str, AfterValidator(validate_repository)]
TagName = Annotated[str, AfterValidator(validate_tag)]
Digest = Annotated[str, AfterValidator(validate_digest)]
RegionName = Annotated[str, AfterValidator(_region_name)]

# --- the normalised request ----------------------------------------------------------------------

Trigger = Literal["ecr-event", "ecr-referrer-event", "cloudtrail", "manual"]


def event_time(value: datetime | None) -> str | None:
    """An event's ``time`` as EventBridge writes it (UTC, seconds): what replication lag counts from."""
    if value is None:
        return None
    return (value if value.tzinfo else value.replace(tzinfo=UTC)).astimezone(UTC).strftime(EVENT_TIME_FORMAT)


def parse_event_time(value: str | None) -> datetime | None:
    if not value:
        return None
    try:
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


class ReplicationRequest(CamelModel):
    repository: RepositoryName
    tag: TagName | None = None
    digest: Digest | None = None
    source_region: str
    account: str | None = None
    regions: tuple[RegionName, ...] | None = None
    trigger: Trigger
    event_id: str | None = None
    event_time: str | None = None  # the push event's time: replication lag is measured from it
    origin: str | None = None  # the batch run that started this one (no mail of its own)
    skip_reason: str | None = None

    @field_validator("regions")
    @classmethod
    def _regions(cls, value: tuple[str, ...] | None) -> tuple[str, ...] | None:
        return None if value is None else tuple(dict.fromkeys(value))


# --- workflow state ------------------------------------------------------------------------------

Runtime = Literal["lambda", "codebuild"]


class ImageInfo(CamelModel):
    digest: str
    media_type: str
    size_bytes: int
    subject: str | None = None  # a referrer's subject (OCI 1.1 ``subject``)


class RegionItem(CamelModel):
    """One Map iteration: the region first (what the console shows).

    Names are validated here; whether the regions and hosts are this deployment's is checked by
    ``workflow.verified_item`` before anything acts on an item.
    """

    region: RegionName
    repository: RepositoryName
    tag: TagName | None = None
    digest: Digest
    media_type: str
    size_bytes: int
    source_region: RegionName
    source_registry: str
    target_registry: str
    runtime: Runtime
    subject: Digest | None = None  # a referrer: copied only where its subject already is
    event_time: str | None = None  # the push event's time (lag), None for manual runs


class EnsureResult(CamelModel):
    region: str
    repository: str
    created: bool
    changes: list[str] = Field(default_factory=list)
    warnings: list[str] = Field(default_factory=list)


class CopyInput(CamelModel):
    """What a copy step receives: the Map item, plus what ensure-repository reported."""

    item: RegionItem
    ensured: EnsureResult | None = None
    execution_name: str | None = None


class PlanResult(CamelModel):
    status: Literal["PLANNED", "SKIPPED"]
    reason: str | None = None
    execution_name: str | None = None
    execution_arn: str | None = None
    max_concurrency: int
    request: ReplicationRequest
    image: ImageInfo | None = None
    items: list[RegionItem] = Field(default_factory=list)


RegionStatus = Literal["SUCCEEDED", "SUPERSEDED", "SKIPPED", "FAILED"]


class RegionResult(CamelModel):
    region: str
    status: RegionStatus
    digest: str | None = None
    bytes_copied: int = 0
    blobs_copied: int = 0
    blobs_skipped: int = 0
    blobs_mounted: int = 0
    seconds: float = 0.0
    lag_seconds: float | None = None  # push event -> target tagged (None: no event time)
    reason: str | None = None  # why a region was SKIPPED
    error: str | None = None
    cause: str | None = None
    warnings: list[str] = Field(default_factory=list)


SummaryStatus = Literal["SUCCEEDED", "FAILED", "SKIPPED"]


class Summary(CamelModel):
    status: SummaryStatus
    repository: str
    tag: str | None = None
    digest: str | None = None
    source_region: str
    regions: list[RegionResult] = Field(default_factory=list)
    failed_regions: list[str] = Field(default_factory=list)
    reason: str | None = None
    execution_name: str | None = None
    execution_arn: str | None = None
    origin: str | None = None
    text: str


# --- parsing -------------------------------------------------------------------------------------


def _describe(error: ValidationError) -> str:
    parts = []
    for detail in error.errors(include_url=False, include_input=False)[:_MAX_ERRORS_SHOWN]:
        location = ".".join(str(part) for part in detail["loc"]) or "input"
        message = str(detail["msg"]).removeprefix("Value error, ")
        parts.append(f"{location}: {message}")
    more = error.error_count() - _MAX_ERRORS_SHOWN
    if more > 0:
        parts.append(f"and {more} more")
    return "; ".join(parts)


def parse(model: type[M], data: Any, what: str) -> M:
    """Validate ``data`` as ``model``; malformed -> InvalidInputError (clear, short, typed)."""
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        raise InvalidInputError(f"invalid {what}: {_describe(exc)}") from None


def parse_request(
    data: Any, *, default_region: str, default_account: str | None = None
) -> ReplicationRequest:
    """Normalise an ECR event, a CloudTrail PutImage event or a manual input into one request."""
    if not isinstance(data, dict):
        raise InvalidInputError(f"invalid input: expected a JSON object, got {type(data).__name__}")
    detail_type = data.get("detail-type")
    if detail_type in (ECR_IMAGE_ACTION, ECR_REFERRER_ACTION):
        model: type[EcrActionEvent] = (
            EcrImageActionEvent if detail_type == ECR_IMAGE_ACTION else EcrReferrerActionEvent
        )
        event = parse(model, data, f"{detail_type} event")
        detail = event.detail
        skip = None
        if detail.action_type != "PUSH" or detail.result != "SUCCESS":
            skip = (
                f"not a successful push (action-type {detail.action_type[:20]}, result {detail.result[:20]})"
            )
        return _request(
            repository=detail.repository_name,
            tag=detail.image_tag,
            digest=detail.image_digest,
            source_region=event.region,
            account=event.account,
            trigger="ecr-event" if detail_type == ECR_IMAGE_ACTION else "ecr-referrer-event",
            event_id=event.id,
            event_time=event_time(event.time),
            skip_reason=skip,
        )
    if detail_type == CLOUDTRAIL_API_CALL:
        trail = parse(CloudTrailPutImageEvent, data, "CloudTrail PutImage event")
        params = trail.detail.requestParameters
        image_id = trail.detail.responseElements.image.imageId if trail.detail.responseElements else None
        digest = (image_id.imageDigest if image_id else None) or params.imageDigest
        tag = params.imageTag or (image_id.imageTag if image_id else None)
        skip = f"PutImage failed ({trail.detail.errorCode[:60]})" if trail.detail.errorCode else None
        if digest is None and skip is None:
            raise InvalidInputError("invalid CloudTrail PutImage event: no image digest in the event")
        return _request(
            repository=params.repositoryName,
            tag=tag,
            digest=digest,
            source_region=trail.detail.awsRegion or trail.region,
            account=params.registryId or trail.account,
            trigger="cloudtrail",
            event_id=trail.id,
            event_time=event_time(trail.time),
            skip_reason=skip,
        )
    if detail_type is not None or "detail" in data:
        raise InvalidInputError(
            f"invalid input: unsupported event detail-type {str(detail_type)[:60]!r} "
            f"(expected {ECR_IMAGE_ACTION!r}, {ECR_REFERRER_ACTION!r} or {CLOUDTRAIL_API_CALL!r})"
        )
    manual = parse(ManualRequest, data, "manual input")
    return _request(
        repository=manual.repository,
        tag=manual.tag,
        digest=manual.digest,
        source_region=default_region,
        account=default_account,
        regions=tuple(manual.regions) if manual.regions is not None else None,
        trigger="manual",
        origin=manual.origin,
    )


def _request(**fields: Any) -> ReplicationRequest:
    return parse(ReplicationRequest, fields, "request")


def parse_copy_input(data: Any) -> CopyInput:
    """A Map iteration's state (RegionItem fields, ``executionName``, optional ``ensured``)."""
    if not isinstance(data, dict):
        raise InvalidInputError(f"invalid region item: expected a JSON object, got {type(data).__name__}")
    item = {key: value for key, value in data.items() if key not in ("ensured", "executionName")}
    return parse(
        CopyInput,
        {"item": item, "ensured": data.get("ensured"), "executionName": data.get("executionName")},
        "region item",
    )
