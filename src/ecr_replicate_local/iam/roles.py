"""The stack's IAM roles, read from the SAM-transformed template and resolved to plain JSON.

``samtranslator`` turns each function's and state machine's ``Policies:`` into an
``AWS::IAM::Role`` with inline policies (policy templates such as ``LambdaInvokePolicy``
expanded) and managed policy ARNs (``AWSLambdaBasicExecutionRole``...); roles the template
declares itself (the CodeBuild role, EventBridge's) are read as written. Managed policies' documents
come from moto's copy of AWS's managed policies.

A role is usable by a service only if its trust policy lets that service assume it
(:func:`trusts_service`), as CloudFormation and the service check on AWS.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from functools import cache
from typing import Any

from ecr_replicate.errors import ConfigurationError
from ecr_replicate_local.iam.conditions import evaluate_block
from ecr_replicate_local.iam.policy import action_matches
from ecr_replicate_local.template import Template


@dataclass(frozen=True)
class RoleSpec:
    """One role of the deployed template, resolved."""

    logical_id: str
    name: str
    arn: str
    path: str
    trust: Mapping[str, Any]
    inline: Mapping[str, Mapping[str, Any]]  # policy name -> document
    managed: tuple[str, ...]  # managed policy ARNs

    def documents(self) -> dict[str, Mapping[str, Any]]:
        """Every policy document of the role: inline by name, managed by ARN."""
        return {**self.inline, **{arn: managed_policy_document(arn) for arn in self.managed}}


@cache
def _managed_policies() -> dict[str, Any]:
    from moto.iam.aws_managed_policies import aws_managed_policies_data  # noqa: PLC0415

    data: dict[str, Any] = json.loads(aws_managed_policies_data)
    return data


def managed_policy_document(arn: str) -> Mapping[str, Any]:
    """The document of an AWS managed policy (``arn:aws:iam::aws:policy/[path/]Name``)."""
    prefix = "arn:aws:iam::aws:policy/"
    if not arn.startswith(prefix):
        raise ConfigurationError(f"managed policy {arn}: the local twin knows only AWS managed policies")
    entry = _managed_policies().get(arn.rsplit("/", 1)[-1])
    if entry is None:
        raise ConfigurationError(f"managed policy {arn} is not an AWS managed policy")
    document: Mapping[str, Any] = entry["Document"]
    return document


def template_roles(tpl: Template) -> dict[str, RoleSpec]:
    """Every enabled ``AWS::IAM::Role`` of the deployed template, intrinsics resolved.

    Resolve after the stack registered its resources (policies name function and topic ARNs).
    """
    roles: dict[str, RoleSpec] = {}
    for lid, res in tpl.resources_of_type("AWS::IAM::Role", deployed=True).items():
        props = tpl.resolve(res.get("Properties") or {})
        inline: dict[str, Mapping[str, Any]] = {}
        for entry in props.get("Policies") or []:
            name = str(entry.get("PolicyName") or "")
            if not name or name in inline:
                raise ConfigurationError(f"role {lid}: inline policy names must be present and unique")
            inline[name] = entry.get("PolicyDocument") or {}
        managed = tuple(str(arn) for arn in props.get("ManagedPolicyArns") or [])
        for arn in managed:
            managed_policy_document(arn)  # unknown managed policy: refuse now, not at the first call
        resource = tpl.local_resource(lid)
        roles[lid] = RoleSpec(
            logical_id=lid,
            name=resource.ref,
            arn=resource.attributes["Arn"],
            path=str(props.get("Path") or "/"),
            trust=props.get("AssumeRolePolicyDocument") or {},
            inline=inline,
            managed=managed,
        )
    return roles


def trusts_service(trust: Mapping[str, Any], service: str, *, account: str, source_arn: str = "") -> bool:
    """Whether a role's trust policy lets ``service`` (``lambda.amazonaws.com``) assume it.

    The service passes ``aws:SourceAccount`` (and ``aws:SourceArn`` when given) as AWS's
    services do; any other condition in a trust statement makes it not apply.
    """
    context: dict[str, str] = {"aws:sourceaccount": account}
    if source_arn:
        context["aws:sourcearn"] = source_arn
    statements = trust.get("Statement") or []
    if isinstance(statements, Mapping):
        statements = [statements]
    allowed = False
    for statement in statements:
        if not _names_service(statement.get("Principal"), service):
            continue
        actions = statement.get("Action") or []
        if not any(action_matches(str(a), "sts:AssumeRole") for a in _as_list(actions)):
            continue
        if not evaluate_block(statement.get("Condition") or {}, context).holds:
            continue
        if statement.get("Effect") == "Deny":
            return False
        allowed = allowed or statement.get("Effect") == "Allow"
    return allowed


def _as_list(value: Any) -> list[Any]:
    return list(value) if isinstance(value, list) else [value]


def _names_service(principal: Any, service: str) -> bool:
    if principal == "*":
        return True
    if not isinstance(principal, Mapping):
        return False
    return service in [str(s) for s in _as_list(principal.get("Service") or [])]
