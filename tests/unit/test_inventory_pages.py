"""The source listing pages through ECR at most 1000 items a page (ECR refuses more)."""

from __future__ import annotations

from datetime import UTC, datetime

import boto3
from botocore.stub import Stubber

from ecr_replicate.inventory import PAGE_SIZE, list_images

PUSHED = datetime(2026, 1, 1, tzinfo=UTC)


def image(n: int, *tags: str, pushed: datetime = PUSHED) -> dict[str, object]:
    return {
        "registryId": "123456789012",
        "repositoryName": "team/app",
        "imageDigest": f"sha256:{n:064x}",
        "imageTags": list(tags),
        "imagePushedAt": pushed,
    }


def test_every_page_is_read_with_a_page_size_ecr_accepts() -> None:
    ecr = boto3.client("ecr", region_name="us-east-1", aws_access_key_id="x", aws_secret_access_key="x")
    stub = Stubber(ecr)
    stub.add_response(
        "describe_repositories",
        {"repositories": [{"repositoryName": "team/app"}], "nextToken": "r2"},
        {"maxResults": PAGE_SIZE},
    )
    stub.add_response(
        "describe_repositories",
        {"repositories": [{"repositoryName": "other/svc"}]},
        {"maxResults": PAGE_SIZE, "nextToken": "r2"},
    )
    selector = {"repositoryName": "team/app", "filter": {"tagStatus": "TAGGED"}, "maxResults": PAGE_SIZE}
    stub.add_response(
        "describe_images",
        {"imageDetails": [image(1, "v1"), image(2, "v2", "latest")], "nextToken": "i2"},
        selector,
    )
    stub.add_response(
        "describe_images",
        {"imageDetails": [image(3, "v3", pushed=datetime(2025, 1, 1, tzinfo=UTC))]},
        {**selector, "nextToken": "i2"},
    )
    with stub:
        images = list_images(ecr, repositories=["team/*"], tags=["v*"])
    stub.assert_no_pending_responses()
    assert PAGE_SIZE <= 1000
    assert [i.tag for i in images] == ["v1", "v2", "v3"]  # both pages of team/app; other/svc filtered out
    assert {i.repository for i in images} == {"team/app"}


def test_since_keeps_only_later_pushes() -> None:
    ecr = boto3.client("ecr", region_name="us-east-1", aws_access_key_id="x", aws_secret_access_key="x")
    stub = Stubber(ecr)
    stub.add_response("describe_repositories", {"repositories": [{"repositoryName": "team/app"}]})
    stub.add_response(
        "describe_images",
        {"imageDetails": [image(1, "old", pushed=datetime(2025, 1, 1, tzinfo=UTC)), image(2, "new")]},
    )
    with stub:
        images = list_images(ecr, since=datetime(2025, 6, 1, tzinfo=UTC))
    assert [i.tag for i in images] == ["new"]
