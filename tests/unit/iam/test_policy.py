"""The local twin's IAM evaluator on its own: documents -> decisions, as AWS decides them."""

from __future__ import annotations

from typing import Any

import pytest

from ecr_replicate.errors import ConfigurationError
from ecr_replicate_local.iam.conditions import evaluate_block
from ecr_replicate_local.iam.policy import (
    Policy,
    Request,
    action_matches,
    evaluate,
    resource_matches,
)

ROLE = "arn:aws:sts::123456789012:assumed-role/copy-role/copy"
REPO = "arn:aws:ecr:{region}:123456789012:repository/{name}"

#: the copy role's target statement as template.yaml has it, resolved (targets eu-west-1, ap-southeast-1)
TARGET_WRITES = {
    "Version": "2012-10-17",
    "Statement": [
        {
            "Sid": "WriteTargetImages",
            "Effect": "Allow",
            "Action": ["ecr:BatchGetImage", "ecr:InitiateLayerUpload", "ecr:PutImage"],
            "Resource": "arn:aws:ecr:*:123456789012:repository/*",
            "Condition": {
                "StringEquals": {"aws:RequestedRegion": ["eu-west-1", "ap-southeast-1"]},
                "StringNotEquals": {"aws:RequestedRegion": "us-east-1"},
            },
        },
        {"Sid": "RegistryTokens", "Effect": "Allow", "Action": "ecr:GetAuthorizationToken", "Resource": "*"},
    ],
}


def ask(doc: dict[str, Any], action: str, resource: str, **context: Any) -> Any:
    request = Request(ROLE, action, resource, {k.lower(): v for k, v in context.items()})
    return evaluate([Policy.parse("p", doc)], request)


def repo(region: str, name: str = "team/app") -> str:
    return REPO.format(region=region, name=name)


def doc(*statements: dict[str, Any]) -> dict[str, Any]:
    return {"Version": "2012-10-17", "Statement": list(statements)}


def test_the_copy_role_writes_to_targets_only():
    assert ask(
        TARGET_WRITES, "ecr:PutImage", repo("eu-west-1"), **{"aws:RequestedRegion": "eu-west-1"}
    ).allowed
    source = ask(TARGET_WRITES, "ecr:PutImage", repo("us-east-1"), **{"aws:RequestedRegion": "us-east-1"})
    assert not source.allowed and not source.explicit_deny
    other = ask(TARGET_WRITES, "ecr:PutImage", repo("sa-east-1"), **{"aws:RequestedRegion": "sa-east-1"})
    assert not other.allowed


def test_the_denial_reads_as_aws_writes_it():
    denied = ask(TARGET_WRITES, "ecr:ListImages", repo("eu-west-1"), **{"aws:RequestedRegion": "eu-west-1"})
    assert denied.message() == (
        f"User: {ROLE} is not authorized to perform: ecr:ListImages on resource: "
        f"{repo('eu-west-1')} because no identity-based policy allows the ecr:ListImages action"
    )
    assert (
        ask(
            TARGET_WRITES, "ecr:PutImage", repo("eu-west-1"), **{"aws:RequestedRegion": "eu-west-1"}
        ).message()
        == ""
    )


def test_a_missing_condition_key_fails_positive_operators_and_satisfies_negated_ones():
    # no aws:RequestedRegion at all: StringEquals fails, so the statement does not apply
    assert not ask(TARGET_WRITES, "ecr:PutImage", repo("eu-west-1")).allowed
    negated = doc(
        {
            "Effect": "Allow",
            "Action": "sns:Publish",
            "Resource": "*",
            "Condition": {"StringNotEquals": {"aws:RequestedRegion": "us-east-1"}},
        }
    )
    assert ask(negated, "sns:Publish", "arn:aws:sns:eu-west-1:1:t").allowed
    if_exists = doc(
        {
            "Effect": "Allow",
            "Action": "sns:Publish",
            "Resource": "*",
            "Condition": {"StringEqualsIfExists": {"aws:RequestedRegion": "us-east-1"}},
        }
    )
    assert ask(if_exists, "sns:Publish", "x").allowed
    assert not ask(if_exists, "sns:Publish", "x", **{"aws:RequestedRegion": "eu-west-1"}).allowed
    null = doc(
        {"Effect": "Allow", "Action": "*", "Resource": "*", "Condition": {"Null": {"kms:ViaService": "true"}}}
    )
    assert ask(null, "kms:DescribeKey", "k").allowed
    assert not ask(null, "kms:DescribeKey", "k", **{"kms:ViaService": "ecr.eu-west-1.amazonaws.com"}).allowed


def test_explicit_deny_wins_over_any_allow():
    policy = doc(
        {"Effect": "Allow", "Action": "ecr:*", "Resource": "*"},
        {"Sid": "NoDeletes", "Effect": "Deny", "Action": "ecr:BatchDeleteImage", "Resource": "*"},
    )
    denied = ask(policy, "ecr:BatchDeleteImage", repo("eu-west-1"))
    assert not denied.allowed and denied.explicit_deny and denied.statement == "p/NoDeletes"
    assert denied.message().endswith("with an explicit deny in an identity-based policy")
    assert ask(policy, "ecr:PutImage", repo("eu-west-1")).allowed


def test_not_action_and_not_resource():
    everything_but_iam = doc({"Effect": "Allow", "NotAction": ["iam:*", "sts:*"], "Resource": "*"})
    assert ask(everything_but_iam, "ecr:PutImage", repo("eu-west-1")).allowed
    assert not ask(everything_but_iam, "iam:CreateRole", "*").allowed
    not_source = doc(
        {"Effect": "Allow", "Action": "ecr:PutImage", "NotResource": "arn:aws:ecr:us-east-1:*:repository/*"}
    )
    assert ask(not_source, "ecr:PutImage", repo("eu-west-1")).allowed
    assert not ask(not_source, "ecr:PutImage", repo("us-east-1")).allowed
    deny_outside = doc(
        {"Effect": "Allow", "Action": "*", "Resource": "*"},
        {"Effect": "Deny", "NotAction": "ecr:Describe*", "Resource": "*"},
    )
    assert ask(deny_outside, "ecr:DescribeImages", "*").allowed
    assert ask(deny_outside, "ecr:PutImage", "*").explicit_deny


@pytest.mark.parametrize(
    ("pattern", "action", "hit"),
    [
        ("ecr:PutImage", "ecr:PutImage", True),
        ("ECR:putimage", "ecr:PutImage", True),  # actions are case-insensitive
        ("ecr:Put*", "ecr:PutImageTagMutability", True),
        ("ecr:Batch?etImage", "ecr:BatchGetImage", True),
        ("ecr:Put*", "ecr:BatchPutImage", False),
        ("ecr:*", "ecrpublic:GetAuthorizationToken", False),
        ("*", "states:StartExecution", True),
    ],
)
def test_action_patterns(pattern, action, hit):
    assert action_matches(pattern, action) is hit


@pytest.mark.parametrize(
    ("pattern", "arn", "hit"),
    [
        ("*", "arn:aws:ecr:eu-west-1:123456789012:repository/a", True),
        (
            "arn:aws:ecr:*:123456789012:repository/*",
            "arn:aws:ecr:eu-west-1:123456789012:repository/a/b",
            True,
        ),
        ("arn:aws:ecr:*:123456789012:repository/*", "arn:aws:ecr:eu-west-1:999999999999:repository/a", False),
        # a wildcard stays in its segment: "*" in the region cannot eat the account
        ("arn:aws:ecr:*:repository/*", "arn:aws:ecr:eu-west-1:123456789012:repository/a", False),
        (
            "arn:aws:lambda:us-east-1:1:function:plan*",
            "arn:aws:lambda:us-east-1:1:function:plan:$LATEST",
            True,
        ),
        ("arn:aws:s3:::bucket/*", "arn:aws:s3:::bucket/items/1.json", True),
        ("arn:aws:s3:::bucket/*", "arn:aws:s3:::bucket", False),
        (
            "arn:aws:ecr:us-east-1:1:repository/App",
            "arn:aws:ecr:us-east-1:1:repository/app",
            False,
        ),  # ARNs: case matters
    ],
)
def test_resource_patterns(pattern, arn, hit):
    assert resource_matches(pattern, arn) is hit


def test_string_like_bool_arn_and_set_operators():
    like = {"StringLike": {"kms:ViaService": "ecr.*.amazonaws.com*"}}
    assert evaluate_block(like, {"kms:viaservice": "ecr.eu-west-1.amazonaws.com"}).holds
    assert not evaluate_block(like, {"kms:viaservice": "s3.eu-west-1.amazonaws.com"}).holds
    assert not evaluate_block(like, {}).holds
    tls = {"Bool": {"aws:SecureTransport": "false"}}
    assert evaluate_block(tls, {"aws:securetransport": "false"}).holds
    assert not evaluate_block(tls, {"aws:securetransport": "true"}).holds
    arn = {"ArnLike": {"aws:PrincipalArn": "arn:aws:iam::*:role/copy-*"}}
    assert evaluate_block(arn, {"aws:principalarn": "arn:aws:iam::1:role/copy-eu"}).holds
    assert not evaluate_block(arn, {"aws:principalarn": "arn:aws:iam::1:user/copy-eu"}).holds
    any_value = {"ForAnyValue:StringEquals": {"aws:CalledVia": ["ecr.amazonaws.com"]}}
    assert evaluate_block(any_value, {"aws:calledvia": ["kms.amazonaws.com", "ecr.amazonaws.com"]}).holds
    all_values = {"ForAllValues:StringEquals": {"aws:CalledVia": ["ecr.amazonaws.com"]}}
    assert not evaluate_block(all_values, {"aws:calledvia": ["kms.amazonaws.com", "ecr.amazonaws.com"]}).holds
    assert evaluate_block(all_values, {}).holds  # empty set: vacuously true
    both = {"StringEquals": {"aws:RequestedRegion": ["eu-west-1"], "aws:PrincipalAccount": "1"}}
    assert evaluate_block(both, {"aws:requestedregion": "eu-west-1", "aws:principalaccount": "1"}).holds
    assert not evaluate_block(both, {"aws:requestedregion": "eu-west-1", "aws:principalaccount": "2"}).holds


def test_unknown_operator_or_key_denies_and_says_so():
    unknown_key = doc(
        {
            "Effect": "Allow",
            "Action": "ecr:PutImage",
            "Resource": "*",
            "Condition": {"StringEquals": {"aws:SourceVpc": "vpc-1"}},
        }
    )
    denied = ask(unknown_key, "ecr:PutImage", repo("eu-west-1"))
    assert not denied.allowed
    assert "the local twin does not evaluate: condition key aws:SourceVpc (p/#0)" in denied.message()
    unknown_operator = doc(
        {
            "Effect": "Allow",
            "Action": "ecr:PutImage",
            "Resource": "*",
            "Condition": {"DateGreaterThan": {"aws:CurrentTime": "2020-01-01T00:00:00Z"}},
        }
    )
    assert "condition operator DateGreaterThan" in ask(unknown_operator, "ecr:PutImage", "*").message()
    # a Deny the twin cannot read may apply: deny, explicitly
    unreadable_deny = doc(
        {"Effect": "Allow", "Action": "*", "Resource": "*"},
        {
            "Effect": "Deny",
            "Action": "*",
            "Resource": "*",
            "Condition": {"IpAddress": {"aws:SourceIp": "10.0.0.0/8"}},
        },
    )
    denied = ask(unreadable_deny, "ecr:PutImage", "*")
    assert denied.explicit_deny and "IpAddress" in denied.message()
    # an unreadable Allow changes nothing when another Allow applies
    two_allows = doc(
        {
            "Effect": "Allow",
            "Action": "ecr:PutImage",
            "Resource": "*",
            "Condition": {"IpAddress": {"aws:SourceIp": "10.0.0.0/8"}},
        },
        {"Effect": "Allow", "Action": "ecr:PutImage", "Resource": "*"},
    )
    assert ask(two_allows, "ecr:PutImage", "*").allowed
    variables = doc(
        {
            "Effect": "Allow",
            "Action": "ecr:PutImage",
            "Resource": "arn:aws:ecr:*:*:repository/${aws:username}/*",
        }
    )
    assert "policy variables" in ask(variables, "ecr:PutImage", repo("eu-west-1")).message()


def test_policies_are_checked_on_parse():
    with pytest.raises(ConfigurationError, match="exactly one of Action and NotAction"):
        Policy.parse("p", doc({"Effect": "Allow", "Resource": "*"}))
    with pytest.raises(ConfigurationError, match="Effect"):
        Policy.parse("p", doc({"Effect": "allow", "Action": "*", "Resource": "*"}))
    with pytest.raises(ConfigurationError, match="no Principal"):
        Policy.parse("p", doc({"Effect": "Allow", "Principal": "*", "Action": "*", "Resource": "*"}))
    with pytest.raises(ConfigurationError, match="Version"):
        Policy.parse("p", {"Version": "2020-01-01", "Statement": []})
    with pytest.raises(ConfigurationError, match="no Statement"):
        Policy.parse("p", {"Version": "2012-10-17", "Statement": []})
    with pytest.raises(ConfigurationError, match="not JSON"):
        Policy.parse("p", "{")
    single = Policy.parse("p", '{"Statement": {"Effect": "Allow", "Action": "*", "Resource": "*"}}')
    assert len(single.statements) == 1


def test_no_policy_no_access():
    denied = evaluate([], Request(ROLE, "ecr:DescribeImages", repo("us-east-1")))
    assert not denied.allowed and not denied.explicit_deny
