"""What each control-plane call asks IAM for, and refusals that SDKs read as AWS's own."""

from __future__ import annotations

import botocore.session
import pytest
from botocore import parsers

from ecr_replicate_local.iam.denials import Refusal, refusal_response
from ecr_replicate_local.iam.requests import permissions, s3_action

ACCOUNT = "123456789012"


def ask(prefix: str, action: str, region: str = "eu-west-1", **params: object) -> list[tuple[str, str]]:
    return permissions(prefix, action, params, region=region, account=ACCOUNT)


def test_ecr_calls_name_their_repositories():
    repo = f"arn:aws:ecr:eu-west-1:{ACCOUNT}:repository/team/app"
    assert ask("ecr", "CreateRepository", repositoryName="team/app") == [("ecr:CreateRepository", repo)]
    assert ask("ecr", "PutImage", repositoryName="team/app", registryId="999999999999") == [
        ("ecr:PutImage", "arn:aws:ecr:eu-west-1:999999999999:repository/team/app")
    ]
    assert ask("ecr", "DescribeRepositories", repositoryNames=["a", "b"]) == [
        ("ecr:DescribeRepositories", f"arn:aws:ecr:eu-west-1:{ACCOUNT}:repository/a"),
        ("ecr:DescribeRepositories", f"arn:aws:ecr:eu-west-1:{ACCOUNT}:repository/b"),
    ]
    assert ask("ecr", "DescribeRepositories") == [
        ("ecr:DescribeRepositories", f"arn:aws:ecr:eu-west-1:{ACCOUNT}:repository/*")
    ]
    assert ask("ecr", "TagResource", resourceArn=repo) == [("ecr:TagResource", repo)]
    assert ask("ecr", "GetAuthorizationToken") == [("ecr:GetAuthorizationToken", "*")]


@pytest.mark.parametrize(
    ("name", "qualifier", "arn"),
    [
        ("plan", None, f"arn:aws:lambda:us-east-1:{ACCOUNT}:function:plan"),
        ("plan", "$LATEST", f"arn:aws:lambda:us-east-1:{ACCOUNT}:function:plan:$LATEST"),
        (f"{ACCOUNT}:function:plan", None, f"arn:aws:lambda:us-east-1:{ACCOUNT}:function:plan"),
        (
            f"arn:aws:lambda:us-east-1:{ACCOUNT}:function:plan:1",
            None,
            f"arn:aws:lambda:us-east-1:{ACCOUNT}:function:plan:1",
        ),
    ],
)
def test_lambda_invoke_is_invoke_function_on_the_function(name, qualifier, arn):
    params = {"FunctionName": name, **({"Qualifier": qualifier} if qualifier else {})}
    assert permissions("lambda", "Invoke", params, region="us-east-1", account=ACCOUNT) == [
        ("lambda:InvokeFunction", arn)
    ]


def test_passing_a_role_needs_iam_pass_role():
    role = f"arn:aws:iam::{ACCOUNT}:role/r"
    assert ask("states", "CreateStateMachine", name="m", roleArn=role) == [
        ("states:CreateStateMachine", f"arn:aws:states:eu-west-1:{ACCOUNT}:stateMachine:m"),
        ("iam:PassRole", role),
    ]
    assert ("iam:PassRole", role) in ask("lambda", "CreateFunction", FunctionName="f", Role=role)


def test_sns_events_sqs_and_states_resources():
    topic = f"arn:aws:sns:eu-west-1:{ACCOUNT}:t"
    assert ask("sns", "Publish", TopicArn=topic) == [("sns:Publish", topic)]
    assert ask("sns", "CreateTopic", Name="t") == [("sns:CreateTopic", topic)]
    assert ask("events", "PutEvents", Entries=[{"Source": "a"}, {"EventBusName": "audit"}]) == [
        ("events:PutEvents", f"arn:aws:events:eu-west-1:{ACCOUNT}:event-bus/audit"),
        ("events:PutEvents", f"arn:aws:events:eu-west-1:{ACCOUNT}:event-bus/default"),
    ]
    assert ask("events", "PutRule", Name="r") == [
        ("events:PutRule", f"arn:aws:events:eu-west-1:{ACCOUNT}:rule/r")
    ]
    assert ask("sqs", "ReceiveMessage", QueueUrl=f"http://127.0.0.1:5000/{ACCOUNT}/q") == [
        ("sqs:ReceiveMessage", f"arn:aws:sqs:eu-west-1:{ACCOUNT}:q")
    ]
    execution = f"arn:aws:states:eu-west-1:{ACCOUNT}:execution:m:e"
    assert ask("states", "DescribeExecution", executionArn=execution) == [
        ("states:DescribeExecution", execution)
    ]
    assert ask("codebuild", "BatchGetBuilds", ids=["p:1", "p:2"]) == [
        ("codebuild:BatchGetBuilds", f"arn:aws:codebuild:eu-west-1:{ACCOUNT}:project/p")
    ]


def test_s3_actions():
    assert s3_action("GET", "items/1.json", {}) == "s3:GetObject"
    assert s3_action("HEAD", "items/1.json", {}) == "s3:GetObject"
    assert s3_action("PUT", "items/1.json", {}) == "s3:PutObject"
    assert s3_action("GET", None, {"list-type": ["2"]}) == "s3:ListBucket"
    assert s3_action("PUT", None, {}) == "s3:CreateBucket"
    assert s3_action("GET", None, {"policy": [""]}) == "s3:GetBucketPolicy"


MESSAGE = "User: arn:aws:sts::1:assumed-role/r/s is not authorized to perform: x:Y on resource: * because no"


@pytest.mark.parametrize(
    ("service", "operation", "refusal", "status", "code"),
    [
        ("ecr", "CreateRepository", Refusal.DENIED, 400, "AccessDeniedException"),
        ("stepfunctions", "StartExecution", Refusal.DENIED, 400, "AccessDeniedException"),
        ("events", "PutEvents", Refusal.DENIED, 400, "AccessDeniedException"),
        ("lambda", "Invoke", Refusal.DENIED, 403, "AccessDeniedException"),
        ("sns", "Publish", Refusal.DENIED, 403, "AuthorizationError"),
        ("iam", "GetRole", Refusal.DENIED, 403, "AccessDenied"),
        ("ecr", "DescribeRepositories", Refusal.UNKNOWN_KEY, 400, "UnrecognizedClientException"),
        ("lambda", "Invoke", Refusal.UNKNOWN_KEY, 403, "UnrecognizedClientException"),
        ("sns", "Publish", Refusal.UNKNOWN_KEY, 403, "InvalidClientTokenId"),
        ("ecr", "DescribeRepositories", Refusal.BAD_SIGNATURE, 400, "InvalidSignatureException"),
        ("sns", "Publish", Refusal.EXPIRED, 403, "ExpiredToken"),
        ("stepfunctions", "ListStateMachines", Refusal.EXPIRED, 400, "ExpiredTokenException"),
    ],
)
def test_refusals_parse_as_aws_errors(service, operation, refusal, status, code):
    """botocore's own parser reads each refusal: the code SDKs branch on, and the message."""
    model = botocore.session.get_session().get_service_model(service)
    operation_model = model.operation_model(operation)
    got_status, headers, body = refusal_response(
        service, refusal, MESSAGE if refusal is Refusal.DENIED else ""
    )
    assert got_status == status
    parser = parsers.create_parser(model.protocol)
    shape = operation_model.output_shape
    assert shape is not None
    parsed = parser.parse({"status_code": got_status, "headers": headers, "body": body.encode()}, shape)
    assert parsed["Error"]["Code"] == code
    if refusal is Refusal.DENIED:
        assert parsed["Error"]["Message"] == MESSAGE
