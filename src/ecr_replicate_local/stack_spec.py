"""What the local twin reads out of the template: functions (Globals merged, environment
resolved), state machines, CodeBuild projects, EventBridge rule targets, and the role each of
them runs as (from the SAM-transformed template, :attr:`Template.deployed`)."""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from ecr_replicate.errors import ConfigurationError
from ecr_replicate_local.template import NO_VALUE, Template


@dataclass
class FunctionSpec:
    """One ``AWS::Serverless::Function`` (Globals merged), as the local Lambda runtime needs it."""

    logical_id: str
    name: str
    handler: str  # "package.module.function", relative to code_uri
    code_uri: Path
    environment: dict[str, str]
    timeout: int
    memory: int
    role: str  # logical id of its execution role

    @property
    def module(self) -> str:
        return self.handler.rpartition(".")[0]

    @property
    def attribute(self) -> str:
        return self.handler.rpartition(".")[2]


@dataclass
class StateMachineSpec:
    logical_id: str
    name: str
    definition_path: Path
    role: str


@dataclass
class CodeBuildSpec:
    logical_id: str
    name: str
    environment: dict[str, str]
    buildspec: str
    role: str
    log_group: str | None = None  # CloudWatch Logs group the build writes to, if logging is on

    def exported_variables(self, root: Path) -> list[str]:
        """``env.exported-variables`` of the buildspec (inline YAML or a file path in the repo)."""
        text = self.buildspec
        if text and "\n" not in text and (root / text).is_file():
            text = (root / text).read_text()
        if not text:
            return []
        try:
            data = yaml.safe_load(text)
        except yaml.YAMLError as exc:
            raise ConfigurationError(f"buildspec of {self.logical_id} is not YAML: {exc}") from exc
        names = ((data or {}).get("env") or {}).get("exported-variables") or []
        return [str(n) for n in names]


@dataclass
class RuleTarget:
    """An EventBridge rule's target that EventBridge calls with a role (e.g. a state machine).

    ``arn`` and ``dead_letter`` (its ``DeadLetterConfig.Arn``) stay unresolved until the stack's
    resources are registered; :meth:`LocalStack.targets_for` resolves them."""

    rule: str
    target_id: str
    arn: Any
    role: str
    dead_letter: Any = None


def env_str(value: Any) -> str:
    """An environment variable's text for a resolved template value."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, list):
        return ",".join(str(v) for v in value)
    if isinstance(value, dict):
        return json.dumps(value, separators=(",", ":"))
    return str(value)


def role_of(tpl: Template, value: Any, what: str) -> str:
    """The logical id of the template role ``value`` names (``!GetAtt R.Arn`` or ``!Ref R``)."""
    lid = None
    if isinstance(value, Mapping) and len(value) == 1:
        ((key, arg),) = value.items()
        if key == "Fn::GetAtt":
            parts = arg if isinstance(arg, list) else str(arg).split(".", 1)
            lid = str(parts[0]) if str(parts[1]) == "Arn" else None
        elif key == "Ref":
            lid = str(arg)
    roles = tpl.resources_of_type("AWS::IAM::Role", deployed=True)
    if lid is None or lid not in roles:
        raise ConfigurationError(
            f"{what}: its role must be an AWS::IAM::Role of the template (got {value!r}); the local "
            "twin knows no other role's permissions"
        )
    return lid


def functions(tpl: Template) -> dict[str, FunctionSpec]:
    """Every enabled ``AWS::Serverless::Function``, Globals merged, environment resolved."""
    glob = dict(((tpl.data.get("Globals") or {}).get("Function")) or {})
    deployed = tpl.resources_of_type("AWS::Lambda::Function", deployed=True)
    specs: dict[str, FunctionSpec] = {}
    for lid, res in tpl.resources_of_type("AWS::Serverless::Function").items():
        props = {**glob, **(res.get("Properties") or {})}
        env_vars: dict[str, Any] = {
            **((glob.get("Environment") or {}).get("Variables") or {}),
            **(((res.get("Properties") or {}).get("Environment") or {}).get("Variables") or {}),
        }
        environment = {k: env_str(v) for k, v in tpl.resolve(env_vars).items() if v is not NO_VALUE}
        handler = tpl.resolve(props.get("Handler"))
        code_uri = tpl.resolve(props.get("CodeUri"))
        if not isinstance(handler, str) or "." not in handler or not isinstance(code_uri, str):
            raise ConfigurationError(f"function {lid} needs CodeUri and Handler (module.function)")
        role = (deployed.get(lid) or {}).get("Properties", {}).get("Role")
        specs[lid] = FunctionSpec(
            logical_id=lid,
            name=tpl.physical_name(lid, "FunctionName"),
            handler=handler,
            code_uri=(tpl.root / code_uri).resolve(),
            environment=environment,
            timeout=int(tpl.resolve(props.get("Timeout", 3))),
            memory=int(tpl.resolve(props.get("MemorySize", 128))),
            role=role_of(tpl, role, f"function {lid}"),
        )
    return specs


def state_machines(tpl: Template) -> dict[str, StateMachineSpec]:
    """``AWS::Serverless::StateMachine`` resources with a DefinitionUri file."""
    deployed = tpl.resources_of_type("AWS::StepFunctions::StateMachine", deployed=True)
    specs: dict[str, StateMachineSpec] = {}
    for lid, res in tpl.resources_of_type("AWS::Serverless::StateMachine").items():
        props = res.get("Properties") or {}
        uri = props.get("DefinitionUri")
        if not isinstance(uri, str):
            continue  # inline or S3 definitions are not used by this project
        role = (deployed.get(lid) or {}).get("Properties", {}).get("RoleArn")
        specs[lid] = StateMachineSpec(
            logical_id=lid,
            name=tpl.physical_name(lid, "Name"),
            definition_path=(tpl.root / uri).resolve(),
            role=role_of(tpl, role, f"state machine {lid}"),
        )
    return specs


def substitutions(tpl: Template, logical_id: str) -> dict[str, str]:
    """A state machine's ``DefinitionSubstitutions``, resolved."""
    props = tpl.data["Resources"][logical_id].get("Properties") or {}
    subs = tpl.resolve(props.get("DefinitionSubstitutions") or {})
    return {k: env_str(v) for k, v in subs.items()}


def codebuild_projects(tpl: Template) -> dict[str, CodeBuildSpec]:
    specs: dict[str, CodeBuildSpec] = {}
    for lid, res in tpl.resources_of_type("AWS::CodeBuild::Project").items():
        props = res.get("Properties") or {}
        env_list = tpl.resolve((props.get("Environment") or {}).get("EnvironmentVariables") or [])
        source = props.get("Source") or {}
        logs = tpl.resolve(((props.get("LogsConfig") or {}).get("CloudWatchLogs")) or {})
        log_group = None
        if str(logs.get("Status", "ENABLED")) == "ENABLED":
            log_group = str(logs.get("GroupName") or f"/aws/codebuild/{tpl.physical_name(lid, 'Name')}")
        specs[lid] = CodeBuildSpec(
            logical_id=lid,
            name=tpl.physical_name(lid, "Name"),
            environment={str(e["Name"]): env_str(e.get("Value", "")) for e in env_list},
            buildspec=str(tpl.resolve(source.get("BuildSpec", "")) or ""),
            role=role_of(tpl, props.get("ServiceRole"), f"CodeBuild project {lid}"),
            log_group=log_group,
        )
    return specs


def rule_targets(tpl: Template) -> list[RuleTarget]:
    """EventBridge rule targets that carry a ``RoleArn`` (EventBridge assumes it to call them)."""
    found: list[RuleTarget] = []
    for lid, res in tpl.resources_of_type("AWS::Events::Rule").items():
        for target in (res.get("Properties") or {}).get("Targets") or []:
            if "RoleArn" in target:
                found.append(
                    RuleTarget(
                        rule=lid,
                        target_id=str(target.get("Id", "")),
                        arn=target.get("Arn"),
                        role=role_of(tpl, target["RoleArn"], f"rule {lid} target {target.get('Id')}"),
                        dead_letter=(target.get("DeadLetterConfig") or {}).get("Arn"),
                    )
                )
    return found


def substitute_definition(definition: str, values: Mapping[str, str]) -> str:
    """Apply SAM ``DefinitionSubstitutions`` (``${Name}``) to an ASL document; every
    placeholder must have a value (a missing one is a template bug, not a local quirk)."""
    missing: set[str] = set()

    def replace(match: re.Match[str]) -> str:
        key = match.group(1)
        if key not in values:
            missing.add(key)
            return match.group(0)
        return values[key]

    text = re.sub(r"\$\{([A-Za-z0-9_]+)\}", replace, definition)
    if missing:
        raise ConfigurationError(f"DefinitionSubstitutions lack {', '.join(sorted(missing))}")
    return text
