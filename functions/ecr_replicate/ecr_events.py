"""The AWS events that start a replication, as pydantic models on Powertools' EventBridge envelope.

``ECR Image Action`` and ``ECR Referrer Action`` (ECR's own events) and the CloudTrail
``PutImage`` call, with AWS's field names (``repository-name``, ``requestParameters``...);
account and region are checked against their patterns. :func:`ecr_replicate.model.parse_request`
turns any of them into one request.
"""

from __future__ import annotations

from typing import Literal

from aws_lambda_powertools.utilities.parser.models import EventBridgeModel
from pydantic import BaseModel, ConfigDict, Field

from ecr_replicate.aws_names import ACCOUNT_PATTERN, REGION_PATTERN

ECR_IMAGE_ACTION = "ECR Image Action"
ECR_REFERRER_ACTION = "ECR Referrer Action"
CLOUDTRAIL_API_CALL = "AWS API Call via CloudTrail"


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


class AwsEcrEvent(EventBridgeModel):
    """An ``aws.ecr`` event from EventBridge (Powertools' envelope; account and region checked)."""

    model_config = ConfigDict(extra="ignore", frozen=True, populate_by_name=True)

    source: Literal["aws.ecr"]
    account: str = Field(pattern=ACCOUNT_PATTERN)
    region: str = Field(pattern=REGION_PATTERN)


class EcrActionEvent(AwsEcrEvent):
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


class CloudTrailPutImageEvent(AwsEcrEvent):
    """EventBridge ``detail-type: AWS API Call via CloudTrail`` for ``ecr:PutImage``."""

    detail_type: Literal["AWS API Call via CloudTrail"] = Field(alias="detail-type")
    detail: CloudTrailPutImageDetail
