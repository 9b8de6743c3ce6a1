"""The template's stack in the local AWS: what CloudFormation would create, created in moto.

:class:`LocalStack` registers every resource's local name and ARN (so ``!Ref``/``!GetAtt``
resolve), then creates, with the operator's credentials: the IAM roles of the SAM-transformed
template (trust, inline and managed policies), the SNS topics (each with a queue subscribed, so
tests and the demo can read what was published), the S3 buckets, the Lambda functions (each
with its role), and the state machines (each with its role). CodeBuild projects and the Lambda
code are run by the twin itself (:mod:`ecr_replicate_local.codebuild`,
:mod:`ecr_replicate_local.lambda_runtime`).
"""

from __future__ import annotations

import io
import json
import logging
import zipfile
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from botocore.exceptions import ClientError

from ecr_replicate.errors import ConfigurationError
from ecr_replicate_local import stack_spec
from ecr_replicate_local.iam.identities import Identities
from ecr_replicate_local.iam.roles import RoleSpec, template_managed_policies, template_roles
from ecr_replicate_local.stack_spec import CodeBuildSpec, FunctionSpec, RuleTarget, StateMachineSpec
from ecr_replicate_local.template import LocalResource, Template

logger = logging.getLogger(__name__)

PRIMARY_DEFINITION = "replicate.asl.json"
NOTIFICATION_QUEUE = "ecr-replicate-local-notifications"
ClientOf = Callable[[str], Any]


class LocalStack:
    """The resources of one template in the local account and region."""

    def __init__(
        self, template_path: Path, *, region: str, account: str, parameters: Mapping[str, str]
    ) -> None:
        self.template_path = template_path
        self.region = region
        self.account = account
        self.parameters = dict(parameters)
        self.template = Template(template_path, region=region, account=account, parameters=self.parameters)
        self.roles: dict[str, RoleSpec] = {}
        self.functions: dict[str, FunctionSpec] = {}  # by function name
        self.machines: dict[str, StateMachineSpec] = {}
        self.projects: dict[str, CodeBuildSpec] = {}  # by project name
        self.rule_targets: list[RuleTarget] = []
        self.state_machine_arns: dict[str, str] = {}  # logical id -> ARN
        self.state_machine_arn = ""  # the replication workflow
        self.buckets: dict[str, str] = {}  # logical id -> bucket name
        self.queues: dict[str, str] = {}  # logical id -> queue URL (e.g. the trigger rules' dead letters)
        self.topic_arn = ""
        self.queue_url = ""

    def arn(self, service: str, resource: str) -> str:
        return f"arn:aws:{service}:{self.region}:{self.account}:{resource}"

    def role_arn(self, logical_id: str) -> str:
        return self.roles[logical_id].arn

    # --- creation -------------------------------------------------------------------------------

    def create(self, client: ClientOf, identities: Identities) -> None:
        """Create everything (``client(service)``: an operator's client of the local AWS)."""
        tpl = self.template
        self._register(tpl)
        for policy in template_managed_policies(tpl).values():
            identities.create_managed_policy(policy)
        self.roles = template_roles(tpl)
        for role in self.roles.values():
            identities.create_role(role)
        self.machines = stack_spec.state_machines(tpl)
        self.functions = {spec.name: spec for spec in stack_spec.functions(tpl).values()}
        self.projects = {spec.name: spec for spec in stack_spec.codebuild_projects(tpl).values()}
        self.rule_targets = stack_spec.rule_targets(tpl)
        for lid in tpl.resources_of_type("AWS::SQS::Queue"):
            url = client("sqs").create_queue(QueueName=tpl.physical_name(lid, "QueueName"))["QueueUrl"]
            tpl.resources[lid].ref = url
            self.queues[lid] = url
        self._create_topics(tpl, client)
        for name in self.buckets.values():
            location = {} if self.region == "us-east-1" else {"LocationConstraint": self.region}
            client("s3").create_bucket(
                Bucket=name, **({"CreateBucketConfiguration": location} if location else {})
            )
        self._create_functions(client)
        self._create_state_machines(tpl, client)

    def _register(self, tpl: Template) -> None:
        """Every resource's local identity first: environments, policies and substitutions refer
        to each other (a function's TOPIC_ARN, a role's function ARNs...)."""
        for lid in tpl.resources_of_type("AWS::Serverless::Function", "AWS::Lambda::Function"):
            name = tpl.physical_name(lid, "FunctionName")
            tpl.resources[lid] = LocalResource(
                ref=name, attributes={"Arn": self.arn("lambda", f"function:{name}")}
            )
        for lid in tpl.resources_of_type("AWS::SNS::Topic"):
            name = tpl.physical_name(lid, "TopicName")
            arn = self.arn("sns", name)
            tpl.resources[lid] = LocalResource(ref=arn, attributes={"TopicName": name, "TopicArn": arn})
        for lid in tpl.resources_of_type("AWS::CodeBuild::Project"):
            name = tpl.physical_name(lid, "Name")
            tpl.resources[lid] = LocalResource(
                ref=name, attributes={"Arn": self.arn("codebuild", f"project/{name}")}
            )
        for lid in tpl.resources_of_type("AWS::Serverless::StateMachine", "AWS::StepFunctions::StateMachine"):
            name = tpl.physical_name(lid, "Name" if lid in tpl.data["Resources"] else "StateMachineName")
            arn = self.arn("states", f"stateMachine:{name}")
            tpl.resources[lid] = LocalResource(ref=arn, attributes={"Arn": arn, "Name": name})
        for lid in tpl.resources_of_type("AWS::IAM::Role", deployed=True):
            name = tpl.physical_name(lid, "RoleName")[:64]
            tpl.resources[lid] = LocalResource(
                ref=name, attributes={"Arn": f"arn:aws:iam::{self.account}:role/{name}"}
            )
        for lid in tpl.resources_of_type("AWS::IAM::ManagedPolicy", deployed=True):
            name = tpl.physical_name(lid, "ManagedPolicyName")[:128]
            path = str(
                tpl.resolve(((tpl.deployed["Resources"][lid].get("Properties") or {}).get("Path")) or "/")
            )
            tpl.resources[lid] = LocalResource(ref=f"arn:aws:iam::{self.account}:policy{path}{name}")
        for lid in tpl.resources_of_type("AWS::S3::Bucket"):
            name = tpl.physical_name(lid, "BucketName").lower()  # S3 names are lower case
            tpl.resources[lid] = LocalResource(ref=name, attributes={"Arn": f"arn:aws:s3:::{name}"})
            self.buckets[lid] = name
        for lid in tpl.resources_of_type("AWS::SQS::Queue"):
            name = tpl.physical_name(lid, "QueueName")
            arn = self.arn("sqs", name)
            url = f"queue:{name}"  # the URL once created (create() replaces it)
            tpl.resources[lid] = LocalResource(ref=url, attributes={"Arn": arn, "QueueName": name})
        for lid in tpl.resources_of_type("AWS::Logs::LogGroup"):
            name = tpl.physical_name(lid, "LogGroupName")
            tpl.resources[lid] = LocalResource(
                ref=name, attributes={"Arn": self.arn("logs", f"log-group:{name}:*")}
            )

    def _create_topics(self, tpl: Template, client: ClientOf) -> None:
        sns, sqs = client("sns"), client("sqs")
        topics = tpl.resources_of_type("AWS::SNS::Topic")
        for lid in topics:
            tpl.resources[lid].ref = sns.create_topic(Name=tpl.physical_name(lid, "TopicName"))["TopicArn"]
        if not topics:
            return
        self.topic_arn = tpl.resources[next(iter(topics))].ref
        self.queue_url = sqs.create_queue(QueueName=NOTIFICATION_QUEUE)["QueueUrl"]
        attributes = sqs.get_queue_attributes(QueueUrl=self.queue_url, AttributeNames=["QueueArn"])
        sns.subscribe(
            TopicArn=self.topic_arn,
            Protocol="sqs",
            Endpoint=attributes["Attributes"]["QueueArn"],
            Attributes={"RawMessageDelivery": "true"},
        )

    def _create_functions(self, client: ClientOf) -> None:
        lam = client("lambda")
        code = io.BytesIO()
        with zipfile.ZipFile(code, "w") as zf:
            zf.writestr("README.txt", "local stand-in: the local Lambda runtime runs the code from CodeUri\n")
        for spec in self.functions.values():
            if not (spec.code_uri / Path(*spec.module.split("."))).with_suffix(".py").exists():
                raise ConfigurationError(
                    f"function {spec.logical_id}: handler {spec.handler} not found under {spec.code_uri}"
                )
            lam.create_function(
                FunctionName=spec.name,
                Runtime="python3.12",
                Role=self.role_arn(spec.role),
                Handler=spec.handler,
                Code={"ZipFile": code.getvalue()},
                Timeout=spec.timeout,
                MemorySize=spec.memory,
                Environment={"Variables": spec.environment},
            )

    def _create_state_machines(self, tpl: Template, client: ClientOf) -> None:
        sfn = client("stepfunctions")
        primary = next(
            (lid for lid, sm in self.machines.items() if sm.definition_path.name == PRIMARY_DEFINITION),
            next(iter(self.machines), None),
        )
        if primary is None:
            raise ConfigurationError(f"{self.template_path} defines no state machine with a DefinitionUri")
        for lid, sm in self.machines.items():
            values = stack_spec.substitutions(tpl, lid)
            definition = stack_spec.substitute_definition(sm.definition_path.read_text(), values)
            try:
                arn = sfn.create_state_machine(
                    name=sm.name, definition=definition, roleArn=self.role_arn(sm.role), type="STANDARD"
                )["stateMachineArn"]
            except ClientError as exc:
                if lid == primary:
                    raise
                # moto's ASL parser lacks some Distributed Map fields (ToleratedFailurePercentage):
                # the replication workflow itself must load, the others are optional locally.
                logger.warning("state machine %s not created locally: %s", lid, exc)
                continue
            self.state_machine_arns[lid] = arn
            if lid == primary:
                self.state_machine_arn = arn

    # --- EventBridge --------------------------------------------------------------------------

    def targets_for(self, event: Mapping[str, Any]) -> list[RuleTarget]:
        """Every rule target whose rule's pattern matches ``event``, its ARNs resolved."""
        from moto.events.models import EventPattern  # noqa: PLC0415

        found = []
        for target in self.rule_targets:
            rule = self.template.data["Resources"][target.rule].get("Properties") or {}
            pattern = self.template.resolve(rule.get("EventPattern") or {})
            if not EventPattern.load(json.dumps(pattern)).matches_event(dict(event)):  # type: ignore[arg-type]
                continue
            found.append(self.resolved(target))
        return found

    def resolved(self, target: RuleTarget) -> RuleTarget:
        resolve = self.template.resolve
        dead_letter = str(resolve(target.dead_letter)) if target.dead_letter is not None else None
        return RuleTarget(target.rule, target.target_id, str(resolve(target.arn)), target.role, dead_letter)

    def dead_letter_queue(self, rule: str) -> str | None:
        """URL of the queue ``rule``'s target names as its ``DeadLetterConfig`` (None if none)."""
        for target in self.rule_targets:
            if target.rule != rule or target.dead_letter is None:
                continue
            arn = str(self.template.resolve(target.dead_letter))
            for lid, url in self.queues.items():
                if self.template.local_resource(lid).attributes.get("Arn") == arn:
                    return url
        return None
