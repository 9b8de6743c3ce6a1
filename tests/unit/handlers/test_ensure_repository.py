from __future__ import annotations

import json
from typing import Any

import boto3
import pytest
from moto import mock_aws

from ecr_replicate.errors import InvalidInputError
from ecr_replicate.handlers import ensure_repository
from tests.unit.handlers.conftest import ACCOUNT
from tests.unit.handlers.test_copy_image import item as copy_item

LIFECYCLE = json.dumps(
    {
        "rules": [
            {
                "rulePriority": 1,
                "selection": {
                    "tagStatus": "untagged",
                    "countType": "sinceImagePushed",
                    "countUnit": "days",
                    "countNumber": 14,
                },
                "action": {"type": "expire"},
            }
        ]
    }
)


def item(region: str = "eu-west-1", repository: str = "team/app") -> dict[str, Any]:
    return copy_item(
        region=region, repository=repository, targetRegistry=f"{ACCOUNT}.dkr.ecr.{region}.amazonaws.com"
    )


@pytest.fixture
def aws(lambda_env, monkeypatch):
    with mock_aws():
        monkeypatch.setattr(
            ensure_repository, "ecr_clients", lambda region: boto3.client("ecr", region_name=region)
        )
        monkeypatch.setattr(
            ensure_repository, "kms_clients", lambda region: boto3.client("kms", region_name=region)
        )
        yield


def test_creates_missing_repository_and_is_idempotent(aws, context):
    out = ensure_repository.handler(item(), context)
    assert out["created"] is True and out["region"] == "eu-west-1"
    assert boto3.client("ecr", region_name="eu-west-1").describe_repositories(repositoryNames=["team/app"])
    again = ensure_repository.handler(item(), context)
    assert again["created"] is False and again["changes"] == []


def test_mirrors_source_settings_into_a_new_repository(aws, context, lambda_env):
    lambda_env.setenv("MIRROR_REPOSITORY_SETTINGS", "true")
    src = boto3.client("ecr", region_name="us-east-1")
    src.create_repository(
        repositoryName="team/app",
        imageTagMutability="IMMUTABLE",
        imageScanningConfiguration={"scanOnPush": True},
        tags=[{"Key": "team", "Value": "platform"}],
    )
    src.put_lifecycle_policy(repositoryName="team/app", lifecyclePolicyText=LIFECYCLE)
    out = ensure_repository.handler(item(), context)
    assert out["created"] is True
    tgt = boto3.client("ecr", region_name="eu-west-1")
    repo = tgt.describe_repositories(repositoryNames=["team/app"])["repositories"][0]
    assert repo["imageTagMutability"] == "IMMUTABLE"
    assert repo["imageScanningConfiguration"]["scanOnPush"] is True
    assert json.loads(
        tgt.get_lifecycle_policy(repositoryName="team/app")["lifecyclePolicyText"]
    ) == json.loads(LIFECYCLE)
    tags = tgt.list_tags_for_resource(resourceArn=repo["repositoryArn"])["tags"]
    assert {"Key": "team", "Value": "platform"} in tags


def test_never_weakens_a_stricter_target(aws, context, lambda_env):
    lambda_env.setenv("MIRROR_REPOSITORY_SETTINGS", "true")
    boto3.client("ecr", region_name="us-east-1").create_repository(repositoryName="team/app")
    tgt = boto3.client("ecr", region_name="eu-west-1")
    tgt.create_repository(
        repositoryName="team/app",
        imageTagMutability="IMMUTABLE",
        imageScanningConfiguration={"scanOnPush": True},
    )
    out = ensure_repository.handler(item(), context)
    assert out["created"] is False
    assert any("IMMUTABLE kept" in warning for warning in out["warnings"])
    assert any("scan on push kept" in warning for warning in out["warnings"])
    repo = tgt.describe_repositories(repositoryNames=["team/app"])["repositories"][0]
    assert repo["imageTagMutability"] == "IMMUTABLE"
    assert repo["imageScanningConfiguration"]["scanOnPush"] is True


def test_strengthens_a_weaker_target(aws, context, lambda_env):
    lambda_env.setenv("MIRROR_REPOSITORY_SETTINGS", "true")
    boto3.client("ecr", region_name="us-east-1").create_repository(
        repositoryName="team/app", imageTagMutability="IMMUTABLE"
    )
    tgt = boto3.client("ecr", region_name="eu-west-1")
    tgt.create_repository(repositoryName="team/app")
    out = ensure_repository.handler(item(), context)
    assert "tag mutability MUTABLE -> IMMUTABLE" in out["changes"]
    assert (
        tgt.describe_repositories(repositoryNames=["team/app"])["repositories"][0]["imageTagMutability"]
        == "IMMUTABLE"
    )


def test_kms_alias_missing_in_target_falls_back_to_aes256_with_warning(aws, context, lambda_env):
    lambda_env.setenv("MIRROR_REPOSITORY_SETTINGS", "true")
    kms = boto3.client("kms", region_name="us-east-1")
    key = kms.create_key()["KeyMetadata"]["Arn"]
    kms.create_alias(AliasName="alias/images", TargetKeyId=key)
    boto3.client("ecr", region_name="us-east-1").create_repository(
        repositoryName="team/app", encryptionConfiguration={"encryptionType": "KMS", "kmsKey": key}
    )
    out = ensure_repository.handler(item(), context)
    assert any("AES256" in warning and "alias/images" in warning for warning in out["warnings"])
    repo = boto3.client("ecr", region_name="eu-west-1").describe_repositories(repositoryNames=["team/app"])
    assert repo["repositories"][0]["encryptionConfiguration"]["encryptionType"] == "AES256"


def test_kms_alias_present_in_target_is_used(aws, context, lambda_env):
    lambda_env.setenv("MIRROR_REPOSITORY_SETTINGS", "true")
    for region in ("us-east-1", "eu-west-1"):
        kms = boto3.client("kms", region_name=region)
        kms.create_alias(AliasName="alias/images", TargetKeyId=kms.create_key()["KeyMetadata"]["KeyId"])
    source_key = boto3.client("kms", region_name="us-east-1").describe_key(KeyId="alias/images")[
        "KeyMetadata"
    ]["Arn"]
    target_key = boto3.client("kms", region_name="eu-west-1").describe_key(KeyId="alias/images")[
        "KeyMetadata"
    ]["Arn"]
    boto3.client("ecr", region_name="us-east-1").create_repository(
        repositoryName="team/app", encryptionConfiguration={"encryptionType": "KMS", "kmsKey": source_key}
    )
    out = ensure_repository.handler(item(), context)
    assert out["warnings"] == []
    repo = boto3.client("ecr", region_name="eu-west-1").describe_repositories(repositoryNames=["team/app"])
    assert repo["repositories"][0]["encryptionConfiguration"] == {
        "encryptionType": "KMS",
        "kmsKey": target_key,
    }


@pytest.mark.parametrize("region", ["sa-east-1", "us-east-1"])
def test_a_region_that_is_not_a_target_gets_no_repository(aws, context, region):
    with pytest.raises(InvalidInputError, match="not a target region"):
        ensure_repository.handler(item(region=region), context)
    assert boto3.client("ecr", region_name=region).describe_repositories()["repositories"] == []
