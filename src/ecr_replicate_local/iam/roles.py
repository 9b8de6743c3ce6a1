"""The stack's IAM roles, read from the SAM-transformed template and resolved to plain JSON.

``samtranslator`` turns each function's and state machine's ``Policies:`` into an
``AWS::IAM::Role`` with inline policies (policy templates such as ``LambdaInvokePolicy``
expanded) and managed policy ARNs (``AWSLambdaBasicExecutionRole``...); roles the template
declares itself (the CodeBuild role, EventBridge's) are read as written. Policies may also come
from the template's ``AWS::IAM::ManagedPolicy`` resources (attached by ARN or by their ``Roles``)
and ``AWS::IAM::Policy`` resources (inline, by their ``Roles``). AWS managed policies' documents
come from moto's copy of them.

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
    managed: tuple[str, ...]  # managed policy ARNs (AWS's or the template's)


@dataclass(frozen=True)
class ManagedPolicySpec:
    """An ``AWS::IAM::ManagedPolicy`` of the template, resolved."""

    logical_id: str
    name: str
    arn: str
    path: str
    document: Mapping[str, Any]


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


def template_managed_policies(tpl: Template) -> dict[str, ManagedPolicySpec]:
    """Every enabled ``AWS::IAM::ManagedPolicy`` of the deployed template, by ARN."""
    found: dict[str, ManagedPolicySpec] = {}
    for lid, res in tpl.resources_of_type("AWS::IAM::ManagedPolicy", deployed=True).items():
        props = tpl.resolve(res.get("Properties") or {})
        arn = tpl.local_resource(lid).ref
        found[arn] = ManagedPolicySpec(
            logical_id=lid,
            name=arn.rsplit("/", 1)[-1],
            arn=arn,
            path=str(props.get("Path") or "/"),
            document=props.get("PolicyDocument") or {},
        )
    return found


def _attached_by_resource(tpl: Template, role_name: str) -> tuple[list[str], dict[str, Mapping[str, Any]]]:
    """Managed policy ARNs and inline documents that policy resources attach to ``role_name``
    through their ``Roles`` property."""
    managed: list[str] = []
    inline: dict[str, Mapping[str, Any]] = {}
    for lid, res in tpl.resources_of_type(
        "AWS::IAM::ManagedPolicy", "AWS::IAM::Policy", deployed=True
    ).items():
        props = tpl.resolve(res.get("Properties") or {})
        if role_name not in [str(r) for r in props.get("Roles") or []]:
            continue
        if res.get("Type") == "AWS::IAM::ManagedPolicy":
            managed.append(tpl.local_resource(lid).ref)
        else:
            inline[str(props.get("PolicyName") or lid)] = props.get("PolicyDocument") or {}
    return managed, inline


def template_roles(tpl: Template) -> dict[str, RoleSpec]:
    """Every enabled ``AWS::IAM::Role`` of the deployed template, intrinsics resolved.

    Resolve after the stack registered its resources (policies name function and topic ARNs).
    """
    roles: dict[str, RoleSpec] = {}
    own = template_managed_policies(tpl)
    for lid, res in tpl.resources_of_type("AWS::IAM::Role", deployed=True).items():
        props = tpl.resolve(res.get("Properties") or {})
        resource = tpl.local_resource(lid)
        inline: dict[str, Mapping[str, Any]] = {}
        for entry in props.get("Policies") or []:
            name = str(entry.get("PolicyName") or "")
            if not name or name in inline:
                raise ConfigurationError(f"role {lid}: inline policy names must be present and unique")
            inline[name] = entry.get("PolicyDocument") or {}
        attached, attached_inline = _attached_by_resource(tpl, resource.ref)
        inline.update(attached_inline)
        managed = tuple(
            dict.fromkeys([*(str(arn) for arn in props.get("ManagedPolicyArns") or []), *attached])
        )
        for arn in managed:
            if arn not in own:
                managed_policy_document(arn)  # unknown managed policy: refuse now, not at the first call
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
