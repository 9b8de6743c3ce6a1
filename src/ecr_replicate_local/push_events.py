"""The push events the local twin delivers, read the same way whichever service emitted them:
ECR's own ``ECR Image Action`` / ``ECR Referrer Action``, or (``CloudTrailTrigger``) CloudTrail's
``PutImage`` call; and :class:`StartedExecution`, a run one of them started."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from ecr_replicate_local.cloudtrail import CLOUDTRAIL_API_CALL


def via_cloudtrail(event: Mapping[str, Any]) -> bool:
    return event.get("detail-type") == CLOUDTRAIL_API_CALL


def pushed(event: Mapping[str, Any]) -> tuple[str, str | None, str]:
    """(repository, tag or None, digest) of a push event: ECR's own or CloudTrail's PutImage."""
    detail = event["detail"]
    if via_cloudtrail(event):
        image = detail["responseElements"]["image"]["imageId"]
        tag = image.get("imageTag")
        return (
            str(detail["requestParameters"]["repositoryName"]),
            str(tag) if tag else None,
            str(image["imageDigest"]),
        )
    tag = detail.get("image-tag")
    return str(detail["repository-name"]), str(tag) if tag else None, str(detail["image-digest"])


def names_an_image(event: Mapping[str, Any]) -> bool:
    """A tagged push or a referrer's: what people pushed (a platform manifest's push is part of
    its index's, which follows)."""
    return pushed(event)[1] is not None or event.get("detail-type") == "ECR Referrer Action"


def event_label(event: Mapping[str, Any]) -> str:
    """``repository:tag (sha256:...)`` of a push event; a referrer's and CloudTrail's say so."""
    repository, tag, digest = pushed(event)
    name = f"{repository}:{tag}" if tag else repository
    kind = "referrer " if event.get("detail-type") == "ECR Referrer Action" else ""
    via = " via CloudTrail PutImage" if via_cloudtrail(event) else ""
    return f"{kind}{name} ({digest[:19]}){via}"


@dataclass
class StartedExecution:
    """A run an event started: an ECR push event, or (``CloudTrailTrigger``) CloudTrail's PutImage."""

    event: dict[str, Any]
    arn: str

    @property
    def via_cloudtrail(self) -> bool:
        return via_cloudtrail(self.event)

    @property
    def repository(self) -> str:
        return pushed(self.event)[0]

    @property
    def tag(self) -> str | None:
        return pushed(self.event)[1]

    @property
    def digest(self) -> str:
        return pushed(self.event)[2]

    @property
    def label(self) -> str:
        return event_label(self.event)
