"""The twin's ECR answers DescribeImages as ECR does (moto 5.2.5 does not): the ``tagStatus``
filter applies, and a referrer (a manifest with an OCI 1.1 ``subject``) names its subject."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from moto import mock_aws

from ecr_replicate_local.moto_patches import ecr_describe_images_patches

SUBJECT = "sha256:" + "2" * 64


def manifest(**extra: Any) -> str:
    body = {
        "schemaVersion": 2,
        "mediaType": "application/vnd.oci.image.manifest.v1+json",
        "config": {"mediaType": "application/vnd.oci.image.config.v1+json", "digest": "sha256:" + "1" * 64,
                   "size": 2},
        "layers": [],
        **extra,
    }  # fmt: skip
    return json.dumps(body)


@pytest.fixture
def ecr() -> Iterator[Any]:
    patches = ecr_describe_images_patches()
    with mock_aws():
        for patch in patches:
            patch.start()
        try:
            client = boto3.client("ecr", region_name="us-east-1")
            client.create_repository(repositoryName="team/app")
            client.put_image(repositoryName="team/app", imageManifest=manifest(), imageTag="v1")
            referrer = manifest(subject={"mediaType": "application/vnd.oci.image.manifest.v1+json",
                                         "digest": SUBJECT, "size": 3}, annotations={"a": "b"})  # fmt: skip
            digest = "sha256:" + "3" * 64
            client.put_image(repositoryName="team/app", imageManifest=referrer, imageDigest=digest)
            yield client
        finally:
            for patch in reversed(patches):
                patch.stop()


def listed(ecr: Any, status: str) -> list[tuple[tuple[str, ...], str | None]]:
    details = ecr.describe_images(repositoryName="team/app", filter={"tagStatus": status})["imageDetails"]
    return sorted((tuple(d.get("imageTags", ())), d.get("subjectManifestDigest")) for d in details)


def test_the_tag_status_filter_applies_and_referrers_name_their_subject(ecr: Any) -> None:
    assert listed(ecr, "TAGGED") == [(("v1",), None)]
    assert listed(ecr, "UNTAGGED") == [((), SUBJECT)]
    assert listed(ecr, "ANY") == [((), SUBJECT), (("v1",), None)]
