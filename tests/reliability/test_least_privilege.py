"""Issue 6 item 7, the IAM checks tests/unit/test_template.py does not make (it already runs
cfn-lint, checkov, the ``*``-on-``*`` check, the target-region condition on ECR writes and the
CodeBuild privileged-mode check): no wildcard inside any action name (``ecr:*`` would slip past
a check on write-action names), ECR access in the source region read-only by an allowlist,
``Resource: "*"`` only for actions that cannot be scoped, no IAM/STS actions, no NotAction/NotResource."""

from __future__ import annotations

from typing import Any

import pytest

from tests.unit.test_template_iam import SOURCE, as_list, principal_statements, resolved

SOURCE_ECR_READS = frozenset(
    {
        "ecr:BatchGetImage",
        "ecr:GetDownloadUrlForLayer",
        "ecr:BatchCheckLayerAvailability",
        "ecr:DescribeRepositories",
        "ecr:DescribeImages",
        "ecr:ListImages",
        "ecr:GetLifecyclePolicy",
        "ecr:GetRepositoryPolicy",
        "ecr:ListTagsForResource",
    }
)
UNSCOPABLE = frozenset(
    {
        "ecr:GetAuthorizationToken",
        "kms:ListAliases",
        "logs:CreateLogDelivery",
        "logs:GetLogDelivery",
        "logs:UpdateLogDelivery",
        "logs:DeleteLogDelivery",
        "logs:ListLogDeliveries",
        "logs:PutResourcePolicy",
        "logs:DescribeResourcePolicies",
        "logs:DescribeLogGroups",
        "xray:PutTraceSegments",
        "xray:PutTelemetryRecords",
        "xray:GetSamplingRules",
        "xray:GetSamplingTargets",
    }
)


@pytest.fixture(scope="module", params=["false", "true"], ids=["mirroring-off", "mirroring-on"])
def all_statements(request: pytest.FixtureRequest) -> list[tuple[str, dict[str, Any]]]:
    """Every statement of every principal, the template resolved for one MirrorRepositorySettings."""
    by_principal = principal_statements(resolved({"MirrorRepositorySettings": request.param}))
    found = [(name, statement) for name, group in by_principal.items() for statement in group]
    assert len(found) >= 15
    return found


def _in_source_region(resource: Any) -> bool:
    return f":ecr:{SOURCE}:" in str(resource)


def test_no_wildcard_inside_any_action(all_statements: list[tuple[str, dict[str, Any]]]) -> None:
    for name, statement in all_statements:
        for action in as_list(statement.get("Action", [])):
            assert "*" not in str(action) and "?" not in str(action), f"{name}: wildcard action {action}"


def test_no_not_action_no_not_resource_no_deny_tricks(
    all_statements: list[tuple[str, dict[str, Any]]],
) -> None:
    for name, statement in all_statements:
        assert "NotAction" not in statement and "NotResource" not in statement, name
        assert statement.get("Effect", "Allow") == "Allow", name


def test_source_region_ecr_access_is_read_only(all_statements: list[tuple[str, dict[str, Any]]]) -> None:
    readers = 0
    for name, statement in all_statements:
        resources = as_list(statement.get("Resource", []))
        if not any(_in_source_region(r) for r in resources):
            continue
        readers += 1
        actions = {str(a) for a in as_list(statement.get("Action", []))}
        assert actions <= SOURCE_ECR_READS, (
            f"{name}: {sorted(actions - SOURCE_ECR_READS)} in the source region"
        )
    assert readers >= 3  # plan, copy Lambda, CodeBuild read the source


def test_wildcard_resource_only_for_unscopable_actions(
    all_statements: list[tuple[str, dict[str, Any]]],
) -> None:
    for name, statement in all_statements:
        if "*" not in as_list(statement.get("Resource", [])):
            continue
        actions = {str(a) for a in as_list(statement.get("Action", []))}
        assert actions <= UNSCOPABLE, f"{name}: {sorted(actions - UNSCOPABLE)} on '*'"


def test_no_iam_or_sts_actions(all_statements: list[tuple[str, dict[str, Any]]]) -> None:
    for name, statement in all_statements:
        for action in as_list(statement.get("Action", [])):
            assert not str(action).lower().startswith(("iam:", "sts:")), f"{name}: {action}"
