"""The webhook bridge turns the push of a manifest with an OCI 1.1 ``subject`` into the event ECR
sends for one, ``ECR Referrer Action``; other pushes stay ``ECR Image Action``."""

from __future__ import annotations

from typing import Any

from ecr_replicate.model import parse_request
from ecr_replicate_local.webhook import WebhookBridge
from tests.e2e.test_webhook_bridge import CHILD, DIGEST, INDEX, MANIFEST, notification

SUBJECT = "sha256:" + "cd" * 32


def bridge(subjects: dict[str, str | None], asked: list[str]) -> WebhookBridge:
    def subject_of(event: dict[str, Any]) -> str | None:
        asked.append(event["detail"]["image-digest"])
        found = subjects.get(event["detail"]["image-digest"])
        if found == "boom":
            raise OSError("registry gone")
        return found

    return WebhookBridge(
        lambda event: None, account="123456789012", region="us-east-1", subject_of=subject_of
    )


def test_a_pushed_manifest_with_a_subject_becomes_an_ecr_referrer_action() -> None:
    asked: list[str] = []
    events = bridge({CHILD: SUBJECT}, asked)
    referrer = events.handle(notification("r", media_type=MANIFEST, digest=CHILD, tag=None))
    assert referrer is not None and referrer["detail-type"] == "ECR Referrer Action"
    request = parse_request(referrer, default_region="us-east-1")  # the shape the workflow takes
    assert (request.trigger, request.digest, request.tag) == ("ecr-referrer-event", CHILD, None)
    image = events.handle(notification("i", media_type=INDEX, digest=DIGEST))
    assert image is not None and image["detail-type"] == "ECR Image Action"
    assert asked == [CHILD, DIGEST]


def test_docker_manifests_are_not_read_and_a_failed_read_is_an_image_action() -> None:
    asked: list[str] = []
    events = bridge({CHILD: "boom"}, asked)
    docker = events.handle(
        notification("d", media_type="application/vnd.docker.distribution.manifest.v2+json", tag="v1")
    )
    assert docker is not None and docker["detail-type"] == "ECR Image Action" and asked == []
    gone = events.handle(notification("g", media_type=MANIFEST, digest=CHILD, tag=None))
    assert gone is not None and gone["detail-type"] == "ECR Image Action" and asked == [CHILD]
