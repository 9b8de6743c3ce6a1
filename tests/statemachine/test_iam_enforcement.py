"""IAM on the local control planes, with the roles of the real template.yaml: each service call
is authorised against the calling role's policies, conditions included, and refused in the
service's own error shape."""

from __future__ import annotations

import base64
import datetime
from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from botocore.config import Config
from botocore.exceptions import ClientError
from moto.sts.models import sts_backends

from ecr_replicate.errors import ConfigurationError
from ecr_replicate_local.iam.identities import Credentials
from ecr_replicate_local.local_aws import LocalAws

pytestmark = pytest.mark.xdist_group("statemachine-iam")

ACCOUNT = "123456789012"
REGIONS = {"us-east-1": "127.0.0.1:1", "eu-west-1": "127.0.0.1:2", "ap-southeast-1": "127.0.0.1:3"}
LAMBDA = "lambda.amazonaws.com"


@pytest.fixture(scope="module")
def aws() -> Iterator[LocalAws]:
    with LocalAws(regions=REGIONS, source_region="us-east-1") as local:
        yield local


def role_arn(aws: LocalAws, logical_id: str) -> str:
    assert aws.stack is not None
    return aws.stack.role_arn(logical_id)


def as_role(aws: LocalAws, logical_id: str, service: str = LAMBDA) -> Credentials:
    return aws.session(role_arn(aws, logical_id), service, f"test-{logical_id}")


def client(aws: LocalAws, service: str, credentials: Credentials, region: str = "us-east-1") -> Any:
    return boto3.client(
        service,  # type: ignore[call-overload]
        region_name=region,
        endpoint_url=aws.endpoint_url,
        config=Config(retries={"total_max_attempts": 1}),
        **credentials.client_kwargs(),
    )


def refused(call: Any, **kwargs: Any) -> dict[str, Any]:
    with pytest.raises(ClientError) as err:
        call(**kwargs)
    return dict(err.value.response)


def test_the_ensure_role_creates_repositories_in_target_regions_only(aws):
    ensure = as_role(aws, "EnsureRepositoryFunctionRole")
    client(aws, "ecr", ensure, "eu-west-1").create_repository(repositoryName="team/ok")
    role = "ecr-replicate-EnsureRepositoryFunctionRole"
    principal = f"arn:aws:sts::{ACCOUNT}:assumed-role/{role}/test-EnsureRepositoryFunctionRole"
    for region in ("us-east-1", "sa-east-1"):  # the source region, a region not targeted
        answer = refused(client(aws, "ecr", ensure, region).create_repository, repositoryName="team/no")
        assert answer["ResponseMetadata"]["HTTPStatusCode"] == 400
        assert answer["Error"]["Code"] == "AccessDeniedException"
        assert answer["Error"]["Message"] == (
            f"User: {principal} is not authorized to perform: ecr:CreateRepository on resource: "
            f"arn:aws:ecr:{region}:{ACCOUNT}:repository/team/no because no identity-based policy "
            "allows the ecr:CreateRepository action"
        )
    # nothing was created where IAM refused
    repositories = aws.client("ecr", "us-east-1").describe_repositories()["repositories"]
    assert "team/no" not in [r["repositoryName"] for r in repositories]


def test_each_role_does_only_its_job(aws):
    notify = as_role(aws, "NotifyFunctionRole")
    client(aws, "sns", notify).publish(TopicArn=aws.topic_arn, Message="{}")
    other = aws.client("sns").create_topic(Name="someone-elses")["TopicArn"]
    answer = refused(client(aws, "sns", notify).publish, TopicArn=other, Message="{}")
    assert (answer["ResponseMetadata"]["HTTPStatusCode"], answer["Error"]["Code"]) == (
        403,
        "AuthorizationError",
    )
    assert "SNS:Publish on resource: " + other in answer["Error"]["Message"]
    plan = as_role(aws, "PlanFunctionRole")
    answer = refused(client(aws, "ecr", plan, "eu-west-1").create_repository, repositoryName="team/x")
    assert answer["Error"]["Code"] == "AccessDeniedException"
    answer = refused(client(aws, "sns", plan).publish, TopicArn=aws.topic_arn, Message="{}")
    assert answer["Error"]["Code"] == "AuthorizationError"


def test_the_state_machine_role_invokes_its_functions_only(aws):
    machine = as_role(aws, "ReplicateStateMachineRole", "states.amazonaws.com")
    assert aws.stack is not None
    stranger = aws.client("lambda").create_function(
        FunctionName="stranger",
        Runtime="python3.12",
        Role=role_arn(aws, "SummarizeFunctionRole"),
        Handler="x.handler",
        Code={"ZipFile": b"PK\x05\x06" + b"\x00" * 18},
    )["FunctionArn"]
    answer = refused(client(aws, "lambda", machine).invoke, FunctionName=stranger, Payload=b"{}")
    assert (answer["ResponseMetadata"]["HTTPStatusCode"], answer["Error"]["Code"]) == (
        403,
        "AccessDeniedException",
    )
    assert f"lambda:InvokeFunction on resource: {stranger}" in answer["Error"]["Message"]


def test_the_backfill_role_reads_its_bucket_only(aws):
    assert aws.stack is not None
    bucket = aws.stack.buckets["BackfillItemsBucket"]
    aws.client("s3").put_object(Bucket=bucket, Key="items/1.json", Body=b"[]")
    aws.client("s3").create_bucket(Bucket="another-bucket")
    aws.client("s3").put_object(Bucket="another-bucket", Key="items/1.json", Body=b"[]")
    backfill = as_role(aws, "BackfillStateMachineRole", "states.amazonaws.com")
    s3 = client(aws, "s3", backfill)
    assert s3.get_object(Bucket=bucket, Key="items/1.json")["Body"].read() == b"[]"
    answer = refused(s3.get_object, Bucket="another-bucket", Key="items/1.json")
    assert (answer["ResponseMetadata"]["HTTPStatusCode"], answer["Error"]["Code"]) == (403, "AccessDenied")
    assert (
        'to perform: s3:GetObject on resource: "arn:aws:s3:::another-bucket/items/1.json"'
        in answer["Error"]["Message"]
    )
    answer = refused(s3.put_object, Bucket=bucket, Key="items/2.json", Body=b"[]")
    assert answer["Error"]["Code"] == "AccessDenied"


def test_sessions_expire_and_keys_are_checked(aws):
    notify = as_role(aws, "NotifyFunctionRole")
    assumed = sts_backends[ACCOUNT]["aws"].get_assumed_role_from_access_key(notify.access_key_id)
    assert assumed is not None
    saved = assumed.expiration
    assumed.expiration = datetime.datetime.now(datetime.UTC).replace(tzinfo=None) - datetime.timedelta(
        seconds=1
    )
    try:
        answer = refused(client(aws, "sns", notify).publish, TopicArn=aws.topic_arn, Message="{}")
        assert answer["Error"]["Code"] == "ExpiredToken"
    finally:
        assumed.expiration = saved
    forged = Credentials(notify.principal, notify.access_key_id, notify.secret_access_key, "not-the-token")
    answer = refused(client(aws, "sns", forged).publish, TopicArn=aws.topic_arn, Message="{}")
    assert answer["Error"]["Code"] == "InvalidClientTokenId"


def test_a_role_is_assumed_only_by_the_service_it_trusts(aws):
    with pytest.raises(ConfigurationError, match="trust policy does not allow it"):
        aws.session(role_arn(aws, "CopyBuildRole"), LAMBDA, "sneaky")
    with pytest.raises(ConfigurationError, match="trust policy does not allow it"):
        aws.session(role_arn(aws, "PlanFunctionRole"), "codebuild.amazonaws.com", "sneaky")


def test_the_roles_come_from_the_sam_transform(aws):
    iam = aws.client("iam")
    names = {r["RoleName"] for r in iam.list_roles()["Roles"]}
    assert {
        "ecr-replicate-PlanFunctionRole",
        "ecr-replicate-ReplicateStateMachineRole",
        "ecr-replicate-CopyBuildRole",
        "ecr-replicate-StartExecutionRole",
    } <= names
    attached = iam.list_attached_role_policies(RoleName="ecr-replicate-PlanFunctionRole")["AttachedPolicies"]
    assert "AWSLambdaBasicExecutionRole" in {p["PolicyName"] for p in attached}


def test_registry_tokens_belong_to_the_role_that_asked(aws):
    plan = as_role(aws, "PlanFunctionRole")
    data = client(aws, "ecr", plan, "eu-west-1").get_authorization_token()["authorizationData"][0]
    assert data["proxyEndpoint"] == f"https://{REGIONS['eu-west-1']}"
    user, _, token = base64.b64decode(data["authorizationToken"]).decode().partition(":")
    assert user == "AWS"
    assert aws.tokens.for_region("eu-west-1").principal_for(token) == plan.principal
    assert aws.tokens.for_region("us-east-1").principal_for(token) is None  # tokens are per region
    remaining = data["expiresAt"].timestamp() - datetime.datetime.now(datetime.UTC).timestamp()
    assert 11 * 3600 < remaining <= 12 * 3600
    summarize = as_role(aws, "SummarizeFunctionRole")  # no ecr:GetAuthorizationToken
    answer = refused(client(aws, "ecr", summarize).get_authorization_token)
    assert answer["Error"]["Code"] == "AccessDeniedException"
    assert "ecr:GetAuthorizationToken on resource: *" in answer["Error"]["Message"]
