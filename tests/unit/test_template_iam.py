"""IAM of template.yaml, resolved as CloudFormation would for given parameters: every role's exact
actions, pinned, so that widening or narrowing one is a deliberate change of this file.

The template is resolved with the local engine's resolver (Conditions, ``!If``,
``AWS::NoValue``, ``!Split``...), once per parameter set. Managed policies are followed from
the roles that attach them.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest

from ecr_replicate_local.template import Template

ROOT = Path(__file__).resolve().parents[2]
TEMPLATE = ROOT / "template.yaml"
SOURCE = "us-east-1"
TARGETS = "eu-west-1,ap-southeast-1"
PRINCIPALS = ("AWS::Serverless::Function", "AWS::Serverless::StateMachine", "AWS::IAM::Role")

ECR_READ = ["ecr:BatchCheckLayerAvailability", "ecr:BatchGetImage", "ecr:GetDownloadUrlForLayer"]
ECR_WRITE = ["ecr:CompleteLayerUpload", "ecr:InitiateLayerUpload", "ecr:PutImage", "ecr:UploadLayerPart"]
COPY = {
    "ReadSourceImages": ECR_READ,
    "WriteTargetImages": sorted(ECR_READ + ECR_WRITE),
    "RegistryTokens": ["ecr:GetAuthorizationToken"],
    "RecordCopyProgress": ["s3:PutObject"],  # heartbeats for `status` (ecr_replicate.heartbeat)
}
ENSURE_ALWAYS = {"CreateTargetRepositories": ["ecr:CreateRepository", "ecr:DescribeRepositories"]}
ENSURE_MIRRORING = {
    "ReadSourceRepositorySettings": [
        "ecr:DescribeRepositories",
        "ecr:GetLifecyclePolicy",
        "ecr:GetRepositoryPolicy",
        "ecr:ListTagsForResource",
    ],
    # TagResource also authorises CreateRepository with tags (tag-on-create)
    "MirrorTargetRepositorySettings": [
        "ecr:GetLifecyclePolicy",
        "ecr:GetRepositoryPolicy",
        "ecr:ListTagsForResource",
        "ecr:PutImageScanningConfiguration",
        "ecr:PutImageTagMutability",
        "ecr:PutLifecyclePolicy",
        "ecr:SetRepositoryPolicy",
        "ecr:TagResource",
    ],
}
ENSURE_KMS = {
    "FindKmsAliases": ["kms:ListAliases"],
    "DescribeKmsKeys": ["kms:DescribeKey"],
    "EncryptNewRepositoriesWithKms": ["kms:CreateGrant", "kms:RetireGrant"],
}
STATE_MACHINE_COMMON = {
    "ExecutionLogs": sorted(
        [
            "logs:CreateLogDelivery",
            "logs:DeleteLogDelivery",
            "logs:DescribeLogGroups",
            "logs:DescribeResourcePolicies",
            "logs:GetLogDelivery",
            "logs:ListLogDeliveries",
            "logs:PutResourcePolicy",
            "logs:UpdateLogDelivery",
        ]
    ),
    "Tracing": sorted(
        [
            "xray:GetSamplingRules",
            "xray:GetSamplingTargets",
            "xray:PutTelemetryRecords",
            "xray:PutTraceSegments",
        ]
    ),
}
NO_POLICY: dict[str, list[str]] = {}
DISTRIBUTED_MAP_OVER_REPLICATION = {
    "RunReplicationPerImage": ["states:StartExecution"],
    "WatchReplicationRuns": ["states:DescribeExecution", "states:StopExecution"],
    "WaitForReplicationRuns": ["events:DescribeRule", "events:PutRule", "events:PutTargets"],
    "RunDistributedMapChildren": ["states:StartExecution"],
    "ManageDistributedMapChildren": ["states:DescribeExecution", "states:StopExecution"],
}
TARGET_HEADS = ["ecr:BatchGetImage"]  # a manifest HEAD is BatchGetImage to ECR


def expected(mirroring: bool, scheduled: bool = True) -> dict[str, dict[str, list[str]]]:
    """Sid -> sorted actions, per principal (SAM policy templates as ``Template:Function``)."""
    ensure = {**ENSURE_ALWAYS, **({**ENSURE_MIRRORING, **ENSURE_KMS} if mirroring else {})}
    return {
        "PlanFunction": {
            "ReadSourceImages": ["ecr:BatchGetImage"],
            "RegistryToken": ["ecr:GetAuthorizationToken"],
        },
        "EnsureRepositoryFunction": ensure,
        "CopyImageFunction": COPY,
        "SummarizeFunction": NO_POLICY,
        "RecordFailureFunction": NO_POLICY,
        "NotifyFunction": {
            "PublishSummary": ["sns:Publish"],
            "EncryptSummary": ["kms:Decrypt", "kms:GenerateDataKey"],
            "PutCompletionEvent": ["events:PutEvents"],
        },
        "CopyBuildRole": {
            **COPY,
            "FetchCopierPackage": ["lambda:GetFunction"],
            "BuildLogs": ["logs:CreateLogStream", "logs:PutLogEvents"],
        },
        "ReplicateStateMachine": {
            **{f"LambdaInvokePolicy:{name}": ["lambda:InvokeFunction"] for name in LAMBDA_TASKS},
            "RunCopyBuilds": ["codebuild:BatchGetBuilds", "codebuild:StartBuild", "codebuild:StopBuild"],
            "WaitForCopyBuilds": ["events:DescribeRule", "events:PutRule", "events:PutTargets"],
            **STATE_MACHINE_COMMON,
        },
        "BackfillStateMachine": {
            "ReadImageList": ["s3:GetObject"],
            **DISTRIBUTED_MAP_OVER_REPLICATION,
            **STATE_MACHINE_COMMON,
        },
        "StartExecutionRole": {"StartReplication": ["states:StartExecution"]},
        # reconcile: list the source, HEAD the targets (list them for deleted-in-source), S3 lists
        "FindDriftFunction": {
            "ListSourceImages": ["ecr:DescribeImages", "ecr:DescribeRepositories"],
            "ReadTargetImages": sorted([*TARGET_HEADS, "ecr:DescribeImages", "ecr:DescribeRepositories"]),
            "RegistryTokens": ["ecr:GetAuthorizationToken"],
            "WriteDriftLists": ["s3:PutObject"],
        },
        "ReconcileReportFunction": {
            "ReadDriftLists": ["s3:GetObject"],
            "CheckTargetImages": TARGET_HEADS,
            "RegistryTokens": ["ecr:GetAuthorizationToken"],
        },
        "ReconcileStateMachine": {
            **{f"LambdaInvokePolicy:{name}": ["lambda:InvokeFunction"] for name in RECONCILE_TASKS},
            "ReadImageLists": ["s3:GetObject"],
            **DISTRIBUTED_MAP_OVER_REPLICATION,
            **STATE_MACHINE_COMMON,
        },
        **({"ScheduledReconcileRole": {"StartReconcile": ["states:StartExecution"]}} if scheduled else {}),
    }


LAMBDA_TASKS = ("PlanFunction", "EnsureRepositoryFunction", "CopyImageFunction", "SummarizeFunction",
                "NotifyFunction", "RecordFailureFunction")  # fmt: skip
RECONCILE_TASKS = ("FindDriftFunction", "ReconcileReportFunction", "NotifyFunction")


def resolved(parameters: dict[str, str]) -> Template:
    return Template(
        TEMPLATE, region=SOURCE, account="123456789012", parameters={"TargetRegions": TARGETS, **parameters}
    )


def principal_statements(tpl: Template) -> dict[str, list[dict[str, Any]]]:
    """Every principal's statements: inline, SAM ``Policies`` (documents, managed policy
    references, policy templates) and ``ManagedPolicyArns``; conditions applied."""
    managed = {
        tpl.local_resource(lid).ref: tpl.resolve(res["Properties"]["PolicyDocument"])["Statement"]
        for lid, res in tpl.resources_of_type("AWS::IAM::ManagedPolicy").items()
    }
    found: dict[str, list[dict[str, Any]]] = {}
    for lid, res in tpl.resources_of_type(*PRINCIPALS).items():
        props = tpl.resolve(res.get("Properties") or {})
        statements: list[dict[str, Any]] = []
        for policy in [*(props.get("Policies") or []), *(props.get("ManagedPolicyArns") or [])]:
            if isinstance(policy, str):
                assert policy in managed, f"{lid}: managed policy {policy} is not one of this template's"
                statements.extend(managed[policy])
            elif "PolicyDocument" in policy or "Statement" in policy:
                statements.extend(policy.get("PolicyDocument", policy)["Statement"])
            else:
                ((name, args),) = policy.items()  # a SAM policy template
                target = str(args.get("FunctionName", "")).removeprefix("ecr-replicate-")
                statements.append(
                    {"Sid": f"{name}:{target}", "Effect": "Allow", "Action": ["lambda:InvokeFunction"]}
                )
        found[lid] = statements
    return found


def action_sets(statements: list[dict[str, Any]]) -> dict[str, list[str]]:
    sets: dict[str, list[str]] = {}
    for statement in statements:
        assert statement["Effect"] == "Allow"
        sid = statement.get("Sid", "")
        assert sid and sid not in sets, f"every statement has its own Sid (got {sid!r})"
        actions = statement["Action"]
        sets[sid] = sorted(actions if isinstance(actions, list) else [actions])
    return sets


@pytest.mark.parametrize("mirroring", [False, True], ids=["mirroring-off", "mirroring-on"])
def test_every_principal_has_exactly_the_pinned_actions(mirroring: bool) -> None:
    tpl = resolved({"MirrorRepositorySettings": str(mirroring).lower()})
    found = {lid: action_sets(statements) for lid, statements in principal_statements(tpl).items()}
    assert found == expected(mirroring)


def test_without_a_reconcile_schedule_there_is_no_scheduler_role() -> None:
    tpl = resolved({"ReconcileSchedule": "none"})
    found = {lid: action_sets(statements) for lid, statements in principal_statements(tpl).items()}
    assert found == expected(False, scheduled=False)
    assert not tpl.resources_of_type("AWS::Scheduler::Schedule")


def test_the_copy_roles_share_one_policy_and_list_no_tags() -> None:
    """The copier HEADs ``sha256-<hex>.sig/.att/.sbom`` tags instead of listing tags: no role may
    need (or get) ecr:ListImages; the copy Lambda and the build get the same ECR rights."""
    statements = principal_statements(resolved({}))
    copy_ecr = [s for s in statements["CopyImageFunction"]]
    build_ecr = [s for s in statements["CopyBuildRole"] if s["Sid"] in COPY]
    assert copy_ecr == build_ecr
    everything = [a for group in statements.values() for s in group for a in s["Action"]]
    assert "ecr:ListImages" not in everything


ECR_WRITE_ACTION = re.compile(
    r"^ecr:(Put|Create|Initiate|Upload|Complete|Set|Tag|Untag|Delete|BatchDelete|Replicate)"
)
TARGET_WRITERS = ("WriteTargetImages", "CreateTargetRepositories", "MirrorTargetRepositorySettings")
TARGET_READERS = ("ReadTargetImages", "CheckTargetImages")  # reconcile: HEADs and listings, targets only
SOURCE_READERS = ("ReadSourceImages", "ReadSourceRepositorySettings")


def test_target_writes_never_reach_the_source_region() -> None:
    statements = principal_statements(resolved({"MirrorRepositorySettings": "true"}))
    writers = set()
    for lid, group in statements.items():
        for statement in group:
            if any(ECR_WRITE_ACTION.match(action) for action in as_list(statement["Action"])):
                assert statement["Sid"] in TARGET_WRITERS, (
                    f"{lid}: {statement['Sid']} writes outside the target statements"
                )
                writers.add(lid)
            if statement["Sid"] in TARGET_WRITERS + TARGET_READERS:
                condition = statement["Condition"]
                assert condition["StringEquals"]["aws:RequestedRegion"] == TARGETS.split(","), lid
                assert condition["StringNotEquals"]["aws:RequestedRegion"] == SOURCE, lid
                assert ":ecr:*:" in statement["Resource"], lid
            elif statement["Sid"] in (*SOURCE_READERS, "ListSourceImages"):
                assert f":ecr:{SOURCE}:" in statement["Resource"], lid
    assert writers == {"EnsureRepositoryFunction", "CopyImageFunction", "CopyBuildRole"}


def as_list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]
