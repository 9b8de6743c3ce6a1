"""Copies of template.yaml with one permission taken away (the mutation check of the strict twin).

:func:`write_variant` writes a template as JSON (a CloudFormation template may be JSON) into a
directory of its own, code locations made absolute, after an edit such as :func:`without_action`,
which removes one IAM action from the statements of one resource (or of all): from ``Action``
lists of inline statements, of role and policy resources, of ``!If`` branches; a SAM policy
template (``LambdaInvokePolicy``...) that grants the action is removed whole.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

from ecr_replicate_local.local_aws import DEFAULT_TEMPLATE
from ecr_replicate_local.template import load_template

#: SAM policy templates -> the actions they grant (the ones this project's templates use)
POLICY_TEMPLATES = {
    "LambdaInvokePolicy": {"lambda:invokefunction"},
    "SNSPublishMessagePolicy": {"sns:publish"},
    "StepFunctionsExecutionPolicy": {"states:startexecution"},
    "S3ReadPolicy": {"s3:getobject", "s3:listbucket", "s3:getbucketlocation", "s3:getobjectversion"},
}
_URIS = ("CodeUri", "DefinitionUri")
#: what a policy left without statements keeps (IAM refuses an empty Statement list): it matches
#: no action, so it denies nothing
NOTHING_LEFT = {"Sid": "NothingLeft", "Effect": "Deny", "NotAction": "*", "Resource": "*"}

Edit = Callable[[dict[str, Any]], None]


def write_variant(directory: Path, edit: Edit | None = None, source: Path = DEFAULT_TEMPLATE) -> Path:
    """``source`` after ``edit``, as ``directory/template.json`` (paths made absolute)."""
    data = load_template(source)
    root = source.parent.resolve()
    function_globals = (data.get("Globals") or {}).get("Function") or {}
    if isinstance(function_globals.get("CodeUri"), str):
        function_globals["CodeUri"] = str(root / function_globals["CodeUri"])
    for resource in data["Resources"].values():
        props = resource.get("Properties") or {}
        for key in _URIS:
            if isinstance(props.get(key), str) and "://" not in props[key]:
                props[key] = str(root / props[key])
    if edit is not None:
        edit(data)
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / "template.json"
    path.write_text(json.dumps(data, indent=1))
    return path


def grants(action: str, source: Path = DEFAULT_TEMPLATE) -> bool:
    """Whether the template grants ``action`` anywhere (as :func:`without_action` would find it)."""
    try:
        data = load_template(source)
        without_action(action)(data)
    except AssertionError:
        return False
    return True


def without_action(action: str, resource: str | None = None) -> Edit:
    """An edit removing ``action`` wherever the template grants it (in ``resource`` only, if
    given); the edit fails when it removed nothing (a mutation that mutates nothing proves nothing)."""
    wanted = action.lower()

    def edit(data: dict[str, Any]) -> None:
        removed = 0
        for lid, res in data["Resources"].items():
            if resource is not None and lid != resource:
                continue
            props = res.get("Properties") or {}
            for entry in list(props.get("Policies") or []):
                removed += _edit_policy_entry(props["Policies"], entry, wanted)
            document = props.get("PolicyDocument")
            if isinstance(document, dict):
                removed += _edit_statements(document, wanted)
        if not removed:
            raise AssertionError(
                f"the template grants {action} nowhere{f' in {resource}' if resource else ''}"
            )

    return edit


def _edit_policy_entry(policies: list[Any], entry: Any, wanted: str) -> int:
    if not isinstance(entry, dict):
        return 0  # a managed policy name or ARN
    if "PolicyDocument" in entry:  # a role's inline policy
        return _edit_statements(entry["PolicyDocument"], wanted)
    if "Statement" in entry:  # a SAM inline statement list
        return _edit_statements(entry, wanted)
    for template_name, grants in POLICY_TEMPLATES.items():
        if template_name in entry and wanted in grants:
            policies.remove(entry)
            return 1
    return 0


def _edit_statements(document: dict[str, Any], wanted: str) -> int:
    statements = document.get("Statement")
    if isinstance(statements, dict):
        statements = document["Statement"] = [statements]
    if not isinstance(statements, list):
        return 0
    removed = 0
    for index, statement in enumerate(list(statements or [])):
        removed += _edit_statement(statements, index, statement, wanted)
    document["Statement"] = [s for s in statements if s is not None] or [NOTHING_LEFT]
    return removed


def _edit_statement(container: list[Any], index: int, statement: Any, wanted: str) -> int:
    if not isinstance(statement, dict):
        return 0
    if "Fn::If" in statement:  # [condition, when true, when false]
        branches = statement["Fn::If"]
        removed = 0
        for branch in (1, 2):
            if isinstance(branches[branch], dict) and "Action" in branches[branch]:
                kept = _without(branches[branch]["Action"], wanted)
                if kept is not None:
                    removed += 1
                    branches[branch] = (
                        {"Ref": "AWS::NoValue"} if not kept else {**branches[branch], "Action": kept}
                    )
        return removed
    if statement.get("Effect") != "Allow" or "Action" not in statement:
        return 0
    kept = _without(statement["Action"], wanted)
    if kept is None:
        return 0
    container[index] = {**statement, "Action": kept} if kept else None
    return 1


def _without(actions: Any, wanted: str) -> list[str] | None:
    """``actions`` without ``wanted`` (None if it was not there)."""
    items = actions if isinstance(actions, list) else [actions]
    kept = [a for a in items if str(a).lower() != wanted]
    return None if len(kept) == len(items) else kept
