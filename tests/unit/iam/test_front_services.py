"""What the ECR fronts ask the twin, answered from moto's ECR and the IAM evaluator."""

from __future__ import annotations

from collections.abc import Iterator

import boto3
import pytest
from moto import mock_aws

from ecr_replicate_local.ecr_front.contracts import TagMutability
from ecr_replicate_local.front_services import EcrCatalog, IamAuthorizer
from ecr_replicate_local.iam.enforcement import Enforcer
from ecr_replicate_local.iam.identities import Identities
from ecr_replicate_local.iam.roles import RoleSpec

ACCOUNT = "123456789012"


@pytest.fixture
def ecr() -> Iterator[object]:
    with mock_aws():
        yield boto3.client("ecr", region_name="eu-west-1", aws_access_key_id="a", aws_secret_access_key="b")


def test_the_catalog_is_the_control_plane_with_its_tag_mutability(ecr) -> None:
    ecr.create_repository(repositoryName="team/app")
    ecr.create_repository(repositoryName="team/locked", imageTagMutability="IMMUTABLE")
    ecr.create_repository(
        repositoryName="team/mostly",
        imageTagMutability="IMMUTABLE_WITH_EXCLUSION",
        imageTagMutabilityExclusionFilters=[{"filterType": "WILDCARD", "filter": "dev-*"}],
    )
    catalog = EcrCatalog(ACCOUNT)
    assert catalog.names("eu-west-1") == ["team/app", "team/locked", "team/mostly"]
    assert catalog.names("us-east-1") == []
    assert catalog.describe("us-east-1", "team/app") is None  # repositories are per region
    app = catalog.describe("eu-west-1", "team/app")
    assert app is not None and app.mutability is TagMutability.MUTABLE and not app.tag_is_immutable("v1")
    locked = catalog.describe("eu-west-1", "team/locked")
    assert locked is not None and locked.tag_is_immutable("v1")
    mostly = catalog.describe("eu-west-1", "team/mostly")
    assert mostly is not None and mostly.exclusion_filters == ("dev-*",)
    assert mostly.tag_is_immutable("v1") and not mostly.tag_is_immutable("dev-42")


def test_the_authorizer_is_the_evaluator_for_the_token_s_principal(ecr) -> None:
    identities = Identities(ACCOUNT)
    service = {"Service": "lambda.amazonaws.com"}
    lambda_trust = {"Effect": "Allow", "Principal": service, "Action": "sts:AssumeRole"}
    in_us_east_1 = {"StringEquals": {"aws:RequestedRegion": "us-east-1"}}
    read = {"Effect": "Allow", "Action": "ecr:BatchGetImage", "Resource": "*", "Condition": in_us_east_1}
    identities.create_role(
        RoleSpec(
            logical_id="Copy",
            name="copy",
            arn=f"arn:aws:iam::{ACCOUNT}:role/copy",
            path="/",
            trust={"Statement": [lambda_trust]},
            inline={"read": {"Statement": [read]}},
            managed=(),
        )
    )
    session = identities.for_service(f"arn:aws:iam::{ACCOUNT}:role/copy", "lambda.amazonaws.com", "copy")
    authorizer = IamAuthorizer(identities, Enforcer(identities))
    repo = f"arn:aws:ecr:us-east-1:{ACCOUNT}:repository/team/app"
    assert authorizer.authorize(session.principal, "ecr:BatchGetImage", repo, "us-east-1").allowed
    other_region = authorizer.authorize(session.principal, "ecr:BatchGetImage", repo, "eu-west-1")
    assert not other_region.allowed
    denied = authorizer.authorize(session.principal, "ecr:PutImage", repo, "us-east-1")
    assert (denied.allowed, denied.reason) == (
        False,
        "no identity-based policy allows the ecr:PutImage action",
    )
    stranger = f"arn:aws:sts::{ACCOUNT}:assumed-role/nobody/x"
    assert not authorizer.authorize(stranger, "ecr:BatchGetImage", repo, "us-east-1").allowed
