"""Read the SAM template the way CloudFormation would, for the local twin.

``template.yaml`` is the only list of functions, handlers, environment variables, roles and
state machine substitutions: the local twin reads them here instead of keeping a second list.
Supports the CloudFormation short tags (``!Ref``, ``!GetAtt``, ``!Sub``, ``!If`` ...), template
``Parameters`` (defaults + overrides), ``Conditions`` and the intrinsic functions a template like
ours uses. :attr:`Template.deployed` is the template after the SAM transform (what CloudFormation
deploys: the generated roles among it); ``Ref``/``GetAtt`` resolve against both. Resources the
twin does not create resolve to stable, plausible local names and ARNs, so resolution never
depends on AWS. :mod:`ecr_replicate_local.stack_spec` reads functions, state machines and
projects out of a template.
"""

from __future__ import annotations

import base64
import json
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import Any

import yaml

from ecr_replicate.errors import ConfigurationError
from ecr_replicate_local import sam

NO_VALUE = object()
"""What ``Ref: AWS::NoValue`` resolves to: the enclosing key or list item is dropped."""

_SHORT_TAGS = (
    "Base64", "Cidr", "Equals", "FindInMap", "GetAZs", "If", "ImportValue", "Join", "Not",
    "And", "Or", "Select", "Split", "Sub", "Transform", "Length", "ToJsonString",
)  # fmt: skip


class _CfnLoader(yaml.SafeLoader):
    """SafeLoader plus CloudFormation's short-form intrinsic tags."""


def _construct(node: yaml.Node, loader: yaml.SafeLoader) -> Any:
    if isinstance(node, yaml.ScalarNode):
        return loader.construct_scalar(node)
    if isinstance(node, yaml.SequenceNode):
        return loader.construct_sequence(node, deep=True)
    if isinstance(node, yaml.MappingNode):
        return loader.construct_mapping(node, deep=True)
    raise ConfigurationError(f"unsupported YAML node {node!r}")  # pragma: no cover


def _fn_tag(name: str) -> Callable[[yaml.SafeLoader, yaml.Node], dict[str, Any]]:
    def construct(loader: yaml.SafeLoader, node: yaml.Node) -> dict[str, Any]:
        return {f"Fn::{name}": _construct(node, loader)}

    return construct


def _ref(loader: yaml.SafeLoader, node: yaml.Node) -> dict[str, Any]:
    return {"Ref": _construct(node, loader)}


def _condition(loader: yaml.SafeLoader, node: yaml.Node) -> dict[str, Any]:
    return {"Condition": _construct(node, loader)}


def _get_att(loader: yaml.SafeLoader, node: yaml.Node) -> dict[str, Any]:
    value = _construct(node, loader)
    if isinstance(value, str):
        resource, _, attribute = value.partition(".")
        value = [resource, attribute]
    return {"Fn::GetAtt": value}


for _tag in _SHORT_TAGS:
    _CfnLoader.add_constructor(f"!{_tag}", _fn_tag(_tag))
_CfnLoader.add_constructor("!Ref", _ref)
_CfnLoader.add_constructor("!Condition", _condition)
_CfnLoader.add_constructor("!GetAtt", _get_att)


def load_template(path: Path) -> dict[str, Any]:
    """Parse a CloudFormation/SAM YAML (or JSON) template, short tags included."""
    try:
        data = yaml.load(path.read_text(), Loader=_CfnLoader)  # noqa: S506 - SafeLoader subclass
    except (OSError, yaml.YAMLError) as exc:
        raise ConfigurationError(f"cannot read template {path}: {exc}") from exc
    if not isinstance(data, dict) or not isinstance(data.get("Resources"), dict):
        raise ConfigurationError(f"{path} is not a CloudFormation template (no Resources)")
    return data


@dataclass
class LocalResource:
    """What ``Ref`` and ``Fn::GetAtt`` of one resource resolve to locally."""

    ref: str
    attributes: dict[str, str] = field(default_factory=dict)


_SUB_VAR = re.compile(r"\$\{([^}!][^}]*)\}")
_SERVICE_OF_TYPE = {
    "AWS::SNS::Topic": "sns",
    "AWS::SQS::Queue": "sqs",
    "AWS::Logs::LogGroup": "logs",
    "AWS::Events::Rule": "events",
    "AWS::Events::EventBus": "events",
    "AWS::IAM::Role": "iam",
    "AWS::KMS::Key": "kms",
    "AWS::KMS::Alias": "kms",
    "AWS::CodeBuild::Project": "codebuild",
    "AWS::Lambda::Function": "lambda",
    "AWS::Serverless::Function": "lambda",
    "AWS::StepFunctions::StateMachine": "states",
    "AWS::Serverless::StateMachine": "states",
}


class Template:
    """A loaded template with a CloudFormation-like resolver for the local stack.

    ``resources`` maps logical ids to what the local stack created (names, ARNs); anything not in it
    resolves to a deterministic local name/ARN derived from the logical id.
    """

    def __init__(
        self,
        path: Path,
        *,
        region: str,
        account: str,
        stack_name: str = "ecr-replicate",
        parameters: Mapping[str, str] | None = None,
    ) -> None:
        self.path = path
        self.root = path.parent
        self.data = load_template(path)
        self.region = region
        self.account = account
        self.stack_name = stack_name
        self.resources: dict[str, LocalResource] = {}
        self.parameters = self._parameter_values(parameters or {})
        self._conditions: dict[str, bool] = {}

    # --- parameters and conditions ----------------------------------------------------------

    def _parameter_values(self, overrides: Mapping[str, str]) -> dict[str, Any]:
        declared: dict[str, Any] = self.data.get("Parameters") or {}
        unknown = sorted(set(overrides) - set(declared))
        if unknown:
            raise ConfigurationError(f"unknown template parameters: {', '.join(unknown)}")
        values: dict[str, Any] = {}
        for name, spec in declared.items():
            raw = overrides.get(name, spec.get("Default"))
            if raw is None:
                raise ConfigurationError(f"template parameter {name} has no Default: pass a value")
            allowed = spec.get("AllowedValues")
            if allowed is not None and str(raw) not in [str(v) for v in allowed]:
                raise ConfigurationError(f"parameter {name}={raw!r} not in {allowed}")
            if str(spec.get("Type", "String")).startswith("CommaDelimitedList") or str(
                spec.get("Type", "")
            ).startswith("List<"):
                values[name] = [item.strip() for item in str(raw).split(",") if item.strip()]
            else:
                values[name] = str(raw)
        return values

    def condition(self, name: str) -> bool:
        if name not in self._conditions:
            spec = (self.data.get("Conditions") or {}).get(name)
            if spec is None:
                raise ConfigurationError(f"template condition {name} is not defined")
            self._conditions[name] = bool(self.resolve(spec))
        return self._conditions[name]

    # --- resources ------------------------------------------------------------------------------

    @cached_property
    def deployed(self) -> dict[str, Any]:
        """The template after the SAM transform (plain CloudFormation, intrinsics unresolved)."""
        values = {k: v for k, v in self.parameters.items()}
        return sam.transform(self.data, region=self.region, parameters=values)

    def resources_of_type(self, *types: str, deployed: bool = False) -> dict[str, dict[str, Any]]:
        """Enabled resources of ``types`` in the template as written (or as deployed)."""
        resources = (self.deployed if deployed else self.data)["Resources"]
        return {
            lid: res
            for lid, res in resources.items()
            if res.get("Type") in types and self.resource_enabled(lid)
        }

    def resource_enabled(self, logical_id: str) -> bool:
        res = self.data["Resources"].get(logical_id) or self.deployed["Resources"][logical_id]
        cond = res.get("Condition")
        return cond is None or self.condition(cond)

    def _resource(self, logical_id: str) -> dict[str, Any] | None:
        found: dict[str, Any] | None = self.data["Resources"].get(logical_id)
        if found is None and sam.uses_sam(self.data):
            found = self.deployed["Resources"].get(logical_id)  # e.g. a function's generated role
        return found

    def local_resource(self, logical_id: str) -> LocalResource:
        if logical_id in self.resources:
            return self.resources[logical_id]
        res = self._resource(logical_id)
        if res is None:
            raise ConfigurationError(f"template has no resource or parameter named {logical_id}")
        service = _SERVICE_OF_TYPE.get(res.get("Type", ""), "cloudformation")
        name = f"{self.stack_name}-{logical_id}"
        arn = f"arn:aws:{service}:{self.region}:{self.account}:{name}"
        if service == "iam":
            arn = f"arn:aws:iam::{self.account}:role/{name}"
        return LocalResource(ref=arn if service in ("sns",) else name, attributes={"Arn": arn})

    def physical_name(self, logical_id: str, name_property: str) -> str:
        """The resource's explicit name property if the template sets one, else stack-LogicalId."""
        props = (self._resource(logical_id) or {}).get("Properties") or {}
        if name_property in props:
            value = self.resolve(props[name_property])
            if value is not NO_VALUE and value:
                return str(value)
        return f"{self.stack_name}-{logical_id}"

    # --- intrinsic functions --------------------------------------------------------------------

    def _pseudo(self, name: str) -> Any:
        pseudo: dict[str, Any] = {
            "AWS::Region": self.region,
            "AWS::AccountId": self.account,
            "AWS::Partition": "aws",
            "AWS::URLSuffix": "amazonaws.com",
            "AWS::StackName": self.stack_name,
            "AWS::StackId": (
                f"arn:aws:cloudformation:{self.region}:{self.account}:stack/{self.stack_name}/local"
            ),
            "AWS::NoValue": NO_VALUE,
            "AWS::NotificationARNs": [],
        }
        if name not in pseudo:
            raise ConfigurationError(f"unknown pseudo parameter {name}")
        return pseudo[name]

    def ref(self, name: str) -> Any:
        if name.startswith("AWS::"):
            return self._pseudo(name)
        if name in self.parameters:
            return self.parameters[name]
        return self.local_resource(name).ref

    def get_att(self, logical_id: str, attribute: str) -> str:
        resource = self.local_resource(logical_id)
        if attribute not in resource.attributes:
            # e.g. TopicName, Name: fall back to the Ref value (a name) for name-like attributes.
            if attribute.endswith("Name"):
                return resource.ref
            raise ConfigurationError(f"no local value for !GetAtt {logical_id}.{attribute}")
        return resource.attributes[attribute]

    def _sub(self, value: Any) -> str:
        if isinstance(value, list):
            text, variables = value[0], {k: self.resolve(v) for k, v in value[1].items()}
        else:
            text, variables = value, {}

        def replace(match: re.Match[str]) -> str:
            key = match.group(1).strip()
            if key in variables:
                return str(variables[key])
            if "." in key and not key.startswith("AWS::"):
                lid, _, attr = key.partition(".")
                return self.get_att(lid, attr)
            resolved = self.ref(key)
            if isinstance(resolved, list):
                return ",".join(resolved)
            return str(resolved)

        return _SUB_VAR.sub(replace, str(text)).replace("${!", "${")

    def resolve(self, value: Any) -> Any:  # noqa: PLR0911, PLR0912 - one branch per intrinsic
        """Resolve intrinsic functions in ``value`` (recursively) to local values."""
        if isinstance(value, list):
            items = [self.resolve(v) for v in value]
            return [v for v in items if v is not NO_VALUE]
        if not isinstance(value, dict):
            return value
        if len(value) == 1:
            ((key, arg),) = value.items()
            if key == "Ref":
                return self.ref(str(arg))
            if key == "Condition":
                return self.condition(str(arg))
            if key == "Fn::GetAtt":
                parts = arg if isinstance(arg, list) else str(arg).split(".", 1)
                return self.get_att(str(parts[0]), str(self.resolve(parts[1])))
            if key == "Fn::Sub":
                return self._sub(arg)
            if key == "Fn::If":
                name, yes, no = arg
                return self.resolve(yes if self.condition(name) else no)
            if key == "Fn::Equals":
                left, right = (self.resolve(v) for v in arg)
                return str(left) == str(right)
            if key == "Fn::Not":
                return not self.resolve(arg[0])
            if key == "Fn::And":
                return all(self.resolve(v) for v in arg)
            if key == "Fn::Or":
                return any(self.resolve(v) for v in arg)
            if key == "Fn::Join":
                sep, items = arg
                return str(sep).join(str(v) for v in self.resolve(items))
            if key == "Fn::Split":
                sep, text = arg
                return str(self.resolve(text)).split(str(sep))
            if key == "Fn::Select":
                index, items = arg
                return self.resolve(items)[int(self.resolve(index))]
            if key == "Fn::Length":
                return len(self.resolve(arg))
            if key == "Fn::ToJsonString":
                return json.dumps(self.resolve(arg), separators=(",", ":"))
            if key == "Fn::Base64":
                return base64.b64encode(str(self.resolve(arg)).encode()).decode()
            if key == "Fn::FindInMap":
                name, top, second = (self.resolve(v) for v in arg)
                return self.data["Mappings"][name][top][second]
            if key == "Fn::GetAZs":
                return [f"{self.region}{suffix}" for suffix in "abc"]
            if key.startswith("Fn::"):
                raise ConfigurationError(f"intrinsic {key} is not supported by the local twin")
        out = {k: self.resolve(v) for k, v in value.items()}
        return {k: v for k, v in out.items() if v is not NO_VALUE}
