"""The local AWS side: moto's Step Functions interpreter running the real ASL with the real handlers.

:class:`LocalAws` starts moto (pinned 5.2.5) as a ``ThreadedMotoServer`` on a free 127.0.0.1
port *in this process*, so other processes (``ecr-replicate status --follow``, a user's
terminal) can reach it through ``AWS_ENDPOINT_URL``, while the hooks below run here:

* Lambda ``Invoke`` -> the handler the template names (``CodeUri`` + ``Handler``, ``Globals``
  merged), called in-process with the function's ``Environment`` resolved to local values plus
  ``REGISTRY_ENDPOINTS``; an exception becomes ``{"errorType": <class name>, "errorMessage"}``
  with ``x-amz-function-error`` so ``ErrorEquals`` on our class names matches as on AWS.
* ``codebuild:startBuild.sync`` -> the CodeBuild step's entry point in a subprocess
  (:mod:`ecr_replicate_local.codebuild`).
* ``Retry`` intervals scaled by ``retry_time_scale``; the interpreter's logger quieted.
* Faults injected into AWS control planes on request (:meth:`LocalAws.inject_aws_error`).

Resources (SNS topic, Lambda functions, CodeBuild project, state machines, a dummy IAM role)
are created from ``template.yaml``; ``DefinitionSubstitutions`` are resolved from it. moto's
EventBridge does not deliver to Step Functions targets: the webhook bridge calls
:meth:`LocalAws.start_execution` with the EventBridge envelope, which is what the rule target
receives on AWS.

moto 5.2.5 patch points (installed in this process between start() and stop()):
``moto.awslambda_simple.models.LambdaSimpleBackend.invoke``,
``moto.stepfunctions.parser.asl.component.state.exec.state_task.state_task_factory.state_task_service_for``,
``moto.stepfunctions.parser.asl.component.common.retry.retrier_decl.time``,
``...state_task.service.state_task_service_callback._DELAY_SECONDS_SYNC_CONDITION_CHECK``,
``moto.core.responses.BaseResponse.call_action`` (fault injection),
``moto.core.config.default_user_config`` (``execute_state_machine``, Lambda without docker).
"""

from __future__ import annotations

import contextlib
import importlib
import io
import json
import logging
import os
import sys
import threading
import time
import traceback
import uuid
import zipfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import Any, ClassVar
from unittest import mock

import boto3
import yaml
from botocore.exceptions import ClientError
from moto.awslambda_simple.models import LambdaSimpleBackend
from moto.core.base_backend import BackendDict
from moto.core.config import default_user_config
from moto.core.responses import BaseResponse
from moto.server import ThreadedMotoServer
from moto.stepfunctions.parser.asl.component.common.retry import retrier_decl
from moto.stepfunctions.parser.asl.component.state.exec.state_task import state_task_factory
from moto.stepfunctions.parser.asl.component.state.exec.state_task.service import (
    state_task_service_callback,
)
from moto.stepfunctions.parser.asl.utils import json_path

from ecr_replicate.errors import ConfigurationError
from ecr_replicate_cli import deployment
from ecr_replicate_local.codebuild import CodeBuildRunner, codebuild_task_class
from ecr_replicate_local.template import (
    FunctionSpec,
    LocalResource,
    StateMachineSpec,
    Template,
    load_template,
    substitute_definition,
)

logger = logging.getLogger(__name__)

REPO_ROOT = Path(__file__).resolve().parents[2]
DEFAULT_TEMPLATE = REPO_ROOT / "template.yaml"
LOOPBACK = "127.0.0.1"
MOTO_ACCOUNT = "123456789012"  # moto's default account: the interpreter's own clients use it
DUMMY_CREDENTIALS = {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing"}
_QUIET_LOGGERS = ("moto.stepfunctions.parser", "werkzeug")
_SYNC_POLL_SECONDS = 0.05
PRIMARY_DEFINITION = "replicate.asl.json"
InvokeHook = Callable[[str, Any, Any], None]
_TERMINAL = frozenset({"SUCCEEDED", "FAILED", "TIMED_OUT", "ABORTED"})


@dataclass
class LambdaContext:
    """The part of the Lambda context object the handlers (and Powertools) read."""

    function_name: str
    invoked_function_arn: str
    memory_limit_in_mb: int
    aws_request_id: str
    timeout_seconds: int
    function_version: str = "$LATEST"
    log_group_name: str = ""
    log_stream_name: str = "local"

    def __post_init__(self) -> None:
        self._deadline = time.monotonic() + self.timeout_seconds
        self.log_group_name = self.log_group_name or f"/aws/lambda/{self.function_name}"

    def get_remaining_time_in_millis(self) -> int:
        return max(0, int((self._deadline - time.monotonic()) * 1000))


@dataclass
class _Fault:
    service: str
    action: str
    code: str
    message: str
    status: int
    remaining: int
    region: str | None
    fired: int = 0


class _ScaledTime:
    """Stands in for the ``time`` module in moto's retrier: sleeps ``scale`` times as long."""

    def __init__(self, scale: float) -> None:
        self.scale = scale

    def sleep(self, seconds: float) -> None:
        time.sleep(max(0.0, seconds * self.scale))

    def __getattr__(self, name: str) -> Any:
        return getattr(time, name)


class LocalAws:
    """moto server + hooks + the stack from ``template.yaml``. One active instance per process."""

    _active: ClassVar[LocalAws | None] = None
    _active_lock: ClassVar[threading.Lock] = threading.Lock()

    def __init__(
        self,
        *,
        regions: dict[str, str],
        source_region: str,
        template: Path = DEFAULT_TEMPLATE,
        account: str = MOTO_ACCOUNT,
        parameters: dict[str, str] | None = None,
        retry_time_scale: float = 0.01,
    ) -> None:
        if source_region not in regions:
            raise ConfigurationError(f"source region {source_region} has no registry in regions")
        if account != MOTO_ACCOUNT:
            raise ConfigurationError(f"the local engine runs as moto's account {MOTO_ACCOUNT}, not {account}")
        if retry_time_scale < 0:
            raise ConfigurationError("retry_time_scale must be >= 0")
        self.regions = dict(regions)
        self.source_region = source_region
        self.template_path = Path(template)
        self.account = account
        self.parameters = dict(parameters or {})
        self.retry_time_scale = retry_time_scale
        self.endpoint_url = ""
        self.state_machine_arn = ""
        self.state_machine_arns: dict[str, str] = {}
        self.buckets: dict[str, str] = {}  # logical id -> bucket name (e.g. the backfill item lists)
        self.queues: dict[str, str] = {}  # logical id -> queue URL (the trigger rules' dead letters)
        self.topic_arn = ""
        self.functions: dict[str, FunctionSpec] = {}
        self.template: Template | None = None
        self.codebuild: CodeBuildRunner | None = None
        self._server: Any = None
        self._patches: list[Any] = []
        self._saved_env: dict[str, str | None] = {}
        self._saved_levels: dict[str, int] = {}
        self._saved_config: dict[str, Any] = {}
        self._handler_env: dict[str, dict[str, str]] = {}  # function name -> its own variables
        self._env_lock: threading.Lock | None = None
        self._handlers: dict[str, Callable[[Any, Any], Any]] = {}
        self._invoke_hooks: list[InvokeHook] = []
        self._faults: list[_Fault] = []
        self._faults_lock = threading.Lock()
        self._queue_url = ""
        self._notifications: list[dict[str, Any]] = []
        self._started = False

    # --- lifecycle ------------------------------------------------------------------------------

    def __enter__(self) -> LocalAws:
        return self.start()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()

    def start(self) -> LocalAws:
        if self._started:
            return self
        with LocalAws._active_lock:
            if LocalAws._active is not None:
                raise ConfigurationError("another LocalAws is running in this process: stop it first")
            LocalAws._active = self
        try:
            _cold_start()
            self._start_server()
            self._install_hooks()
            self._create_stack()
        except BaseException:
            self.stop()
            raise
        self._started = True
        return self

    def stop(self) -> None:
        """Stop builds, the server and every hook; restore the environment. Safe to call twice."""
        if self.codebuild is not None:
            self.codebuild.stop_all()
        if self._server is not None:
            try:
                self._server.stop()
            except Exception as exc:  # keep undoing the rest
                logger.warning("moto server did not stop cleanly: %s", exc)
            self._server = None
        for patcher in reversed(self._patches):
            patcher.stop()
        self._patches.clear()
        for name, value in self._saved_env.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value
        self._saved_env.clear()
        for name, level in self._saved_levels.items():
            logging.getLogger(name).setLevel(level)
        self._saved_levels.clear()
        if self._saved_config:
            default_user_config.update(self._saved_config)  # type: ignore[typeddict-item]
            self._saved_config = {}
            BackendDict.reset()
        _cold_start()
        self._started = False
        with LocalAws._active_lock:
            if LocalAws._active is self:
                LocalAws._active = None

    def _set_env(self, values: dict[str, str]) -> None:
        for name, value in values.items():
            if name not in self._saved_env:
                self._saved_env[name] = os.environ.get(name)
            os.environ[name] = value

    def _unset_env(self, names: list[str]) -> None:
        for name in names:
            if name not in self._saved_env:
                self._saved_env[name] = os.environ.get(name)
            os.environ.pop(name, None)

    def _start_server(self) -> None:
        self._saved_config = {
            "stepfunctions": dict(default_user_config.get("stepfunctions", {})),
            "lambda": dict(default_user_config.get("lambda", {})),
        }
        default_user_config["stepfunctions"] = {"execute_state_machine": True}
        default_user_config["lambda"] = {"use_docker": False}
        BackendDict.reset()  # a clean account: no state left by an earlier engine or mock
        for name in _QUIET_LOGGERS:
            lg = logging.getLogger(name)
            self._saved_levels[name] = lg.level
            lg.setLevel(logging.CRITICAL)
        self._server = ThreadedMotoServer(ip_address=LOOPBACK, port=0, verbose=False)
        self._server.start()
        _, port = self._server.get_host_and_port()
        self.endpoint_url = f"http://{LOOPBACK}:{port}"
        # The interpreter's own boto3 clients (Lambda invoke, SNS publish) call localhost:MOTO_PORT.
        self._set_env({"MOTO_PORT": str(port)})

    # --- what clients need ----------------------------------------------------------------------

    def environment(self) -> dict[str, str]:
        """The environment a client process needs to talk to this local AWS.

        Besides boto3's variables, what the operator commands (``replicate``, ``backfill``,
        ``verify``) read instead of a stack's outputs: see ``ecr_replicate_cli.deployment``.
        """
        env = {
            "AWS_ENDPOINT_URL": self.endpoint_url,
            "AWS_REGION": self.source_region,
            "AWS_DEFAULT_REGION": self.source_region,
            **DUMMY_CREDENTIALS,
        }
        if self.state_machine_arn:
            env.update(self._deployment_environment())
        return env

    def _deployment_environment(self) -> dict[str, str]:
        """What the operator commands read instead of a stack's outputs (``ecr_replicate_cli.deployment``)."""
        targets = self.parameters.get("TargetRegions") or ",".join(
            region for region in self.regions if region != self.source_region
        )
        env = {
            deployment.ENV_REPLICATE_ARN: self.state_machine_arn,
            "TARGET_REGIONS": targets,
            "REGISTRY_ENDPOINTS": json.dumps(self.regions, separators=(",", ":"), sort_keys=True),
            "REGISTRY_PLAIN_HTTP": "true",  # the bare local registries, until the https ECR front
        }
        backfill = self.state_machine_arns.get("BackfillStateMachine")
        if backfill:
            env[deployment.ENV_BACKFILL_ARN] = backfill
        bucket = self.buckets.get("BackfillItemsBucket")
        if bucket:
            env[deployment.ENV_BACKFILL_BUCKET] = bucket
        rules = ("EcrPushRule", "CloudTrailPutImageRule")
        dead_letters = [url for url in map(self.dead_letter_queue, rules) if url]
        if dead_letters:
            env[deployment.ENV_DEAD_LETTER_QUEUES] = ",".join(dead_letters)
        for name, var in deployment.PARAMETER_ENV.items():
            if name != "TargetRegions" and self.parameters.get(name):
                env[var] = self.parameters[name]
        return env

    def dead_letter_queue(self, rule: str) -> str | None:
        """URL of the local queue the template names as ``rule``'s target DeadLetterConfig."""
        if self.template is None or not self.template.data["Resources"].get(rule):
            return None
        if not self.template.resource_enabled(rule):
            return None
        for target in self.template.data["Resources"][rule].get("Properties", {}).get("Targets", []):
            arn = (target.get("DeadLetterConfig") or {}).get("Arn")
            if isinstance(arn, dict) and "Fn::GetAtt" in arn:
                return self.queues.get(str(arn["Fn::GetAtt"][0]))
        return None

    def client(self, service: str, region: str | None = None) -> Any:
        """A boto3 client of this local AWS (source region by default)."""
        return boto3.client(
            service,  # type: ignore[call-overload]
            region_name=region or self.source_region,
            endpoint_url=self.endpoint_url,
            aws_access_key_id=DUMMY_CREDENTIALS["AWS_ACCESS_KEY_ID"],
            aws_secret_access_key=DUMMY_CREDENTIALS["AWS_SECRET_ACCESS_KEY"],
        )

    # --- the stack --------------------------------------------------------------------------------

    def _create_stack(self) -> None:
        declared = load_template(self.template_path).get("Parameters") or {}
        parameters = dict(self.parameters)
        if "TargetRegions" in declared and "TargetRegions" not in parameters:
            # the local regions are the deployment's regions
            parameters["TargetRegions"] = ",".join(r for r in self.regions if r != self.source_region)
        tpl = Template(
            self.template_path, region=self.source_region, account=self.account, parameters=parameters
        )
        self.template = tpl
        arn_prefix = f"{self.source_region}:{self.account}"
        role_arn = f"arn:aws:iam::{self.account}:role/ecr-replicate-local"
        iam = self.client("iam")
        iam.create_role(
            RoleName="ecr-replicate-local",
            AssumeRolePolicyDocument=json.dumps({"Version": "2012-10-17", "Statement": []}),
        )
        # Register every resource's local identity first: environments and substitutions refer
        # to each other (a function's TOPIC_ARN, the state machine's function ARNs...).
        for lid in tpl.resources_of_type("AWS::Serverless::Function", "AWS::Lambda::Function"):
            name = tpl.physical_name(lid, "FunctionName")
            tpl.resources[lid] = LocalResource(
                ref=name, attributes={"Arn": f"arn:aws:lambda:{arn_prefix}:function:{name}"}
            )
        for lid in tpl.resources_of_type("AWS::SNS::Topic"):
            name = tpl.physical_name(lid, "TopicName")
            arn = f"arn:aws:sns:{arn_prefix}:{name}"
            tpl.resources[lid] = LocalResource(ref=arn, attributes={"TopicName": name, "TopicArn": arn})
        for lid in tpl.resources_of_type("AWS::CodeBuild::Project"):
            name = tpl.physical_name(lid, "Name")
            tpl.resources[lid] = LocalResource(
                ref=name, attributes={"Arn": f"arn:aws:codebuild:{arn_prefix}:project/{name}"}
            )
        machines = tpl.state_machines()
        for lid, sm in machines.items():
            arn = f"arn:aws:states:{arn_prefix}:stateMachine:{sm.name}"
            tpl.resources[lid] = LocalResource(ref=arn, attributes={"Arn": arn, "Name": sm.name})
        for lid in tpl.resources_of_type("AWS::IAM::Role"):
            name = tpl.physical_name(lid, "RoleName")
            tpl.resources[lid] = LocalResource(
                ref=name, attributes={"Arn": f"arn:aws:iam::{self.account}:role/{name}"}
            )
        for lid in tpl.resources_of_type("AWS::S3::Bucket"):
            name = tpl.physical_name(lid, "BucketName").lower()  # S3 names are lower case
            tpl.resources[lid] = LocalResource(ref=name, attributes={"Arn": f"arn:aws:s3:::{name}"})
            self.buckets[lid] = name

        sqs = self.client("sqs")
        for lid in tpl.resources_of_type("AWS::SQS::Queue"):
            name = tpl.physical_name(lid, "QueueName")
            url = sqs.create_queue(QueueName=name)["QueueUrl"]
            arn = f"arn:aws:sqs:{self.source_region}:{self.account}:{name}"
            tpl.resources[lid] = LocalResource(ref=url, attributes={"Arn": arn, "QueueName": name})
            self.queues[lid] = url

        self._create_topics(tpl)
        for name in self.buckets.values():
            self.client("s3").create_bucket(
                Bucket=name,
                **(
                    {}
                    if self.source_region == "us-east-1"
                    else {"CreateBucketConfiguration": {"LocationConstraint": self.source_region}}
                ),
            )
        self.functions = {spec.name: spec for spec in tpl.functions().values()}
        self._create_functions(role_arn)
        self._configure_handler_env()
        self._create_codebuild(tpl)
        self._create_state_machines(tpl, machines, role_arn)

    def _create_state_machines(
        self, tpl: Template, machines: dict[str, StateMachineSpec], role_arn: str
    ) -> None:
        sfn = self.client("stepfunctions")
        primary = next(
            (lid for lid, sm in machines.items() if sm.definition_path.name == PRIMARY_DEFINITION),
            next(iter(machines), None),
        )
        if primary is None:
            raise ConfigurationError(f"{self.template_path} defines no state machine with a DefinitionUri")
        for lid, sm in machines.items():
            definition = substitute_definition(sm.definition_path.read_text(), tpl.substitutions(lid))
            try:
                arn = sfn.create_state_machine(
                    name=sm.name, definition=definition, roleArn=role_arn, type="STANDARD"
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

    def _create_topics(self, tpl: Template) -> None:
        sns, sqs = self.client("sns"), self.client("sqs")
        topics = tpl.resources_of_type("AWS::SNS::Topic")
        for lid in topics:
            tpl.resources[lid].ref = sns.create_topic(Name=tpl.physical_name(lid, "TopicName"))["TopicArn"]
        if not topics:
            return
        self.topic_arn = tpl.resources[next(iter(topics))].ref
        self._queue_url = sqs.create_queue(QueueName="ecr-replicate-local-notifications")["QueueUrl"]
        queue_arn = sqs.get_queue_attributes(QueueUrl=self._queue_url, AttributeNames=["QueueArn"])[
            "Attributes"
        ]["QueueArn"]
        sns.subscribe(
            TopicArn=self.topic_arn,
            Protocol="sqs",
            Endpoint=queue_arn,
            Attributes={"RawMessageDelivery": "true"},
        )

    def _create_functions(self, role_arn: str) -> None:
        lam = self.client("lambda")
        code = io.BytesIO()
        with zipfile.ZipFile(code, "w") as zf:
            zf.writestr("README.txt", "local stand-in: invocations run the handler in the engine's process\n")
        for spec in self.functions.values():
            if not (spec.code_uri / Path(*spec.module.split("."))).with_suffix(".py").exists():
                raise ConfigurationError(
                    f"function {spec.logical_id}: handler {spec.handler} not found under {spec.code_uri}"
                )
            lam.create_function(
                FunctionName=spec.name,
                Runtime="python3.12",
                Role=role_arn,
                Handler=spec.handler,
                Code={"ZipFile": code.getvalue()},
                Timeout=spec.timeout,
                MemorySize=spec.memory,
                Environment={"Variables": spec.environment},
            )

    def _common_env(self) -> dict[str, str]:
        return {
            "AWS_ENDPOINT_URL": self.endpoint_url,
            "AWS_REGION": self.source_region,
            "AWS_DEFAULT_REGION": self.source_region,
            **DUMMY_CREDENTIALS,
            "REGISTRY_ENDPOINTS": json.dumps(self.regions, sort_keys=True),
            "REGISTRY_PLAIN_HTTP": "true",  # the bare local registries, until the https ECR front
            "POWERTOOLS_TRACE_DISABLED": "true",  # no X-Ray daemon here
            "POWERTOOLS_METRICS_DISABLED": "true",  # no EMF lines on stdout
            "POWERTOOLS_LOG_LEVEL": "WARNING",  # handlers log to stderr here: warnings and errors only
        }

    def _configure_handler_env(self) -> None:
        """Apply the handlers' environment to this process.

        When every function's variables agree (the usual case: Globals), they are set once and
        handlers run concurrently. If two functions give one name different values, each call
        swaps its own values in under a lock (handlers then run one at a time).
        """
        merged: dict[str, str] = {}
        conflict = False
        for spec in self.functions.values():
            for name, value in spec.environment.items():
                if name in merged and merged[name] != value:
                    conflict = True
                merged.setdefault(name, value)
        common = self._common_env()
        # no real credentials, profiles or endpoints leak into local handlers
        self._unset_env([n for n in os.environ if n.startswith("AWS_") and n not in common])
        if conflict:
            self._env_lock = threading.Lock()
            self._handler_env = {s.name: {**s.environment, **common} for s in self.functions.values()}
            self._set_env(common)
        else:
            self._set_env({**merged, **common})

    def _create_codebuild(self, tpl: Template) -> None:
        projects = tpl.codebuild_projects()
        exported: dict[str, list[str]] = {}
        for spec in projects.values():
            exported[spec.name] = _exported_variables(spec.buildspec, tpl.root)
        self.codebuild = CodeBuildRunner(
            projects={spec.name: spec.environment for spec in projects.values()},
            base_environment=self._build_base_env,
            exported_variables=exported,
            region=self.source_region,
            account=self.account,
        )

    def _build_base_env(self) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "MOTO_", "POWERTOOLS_"))}
        env.update(self._common_env())
        return env

    # --- hooks ----------------------------------------------------------------------------------

    def _install_hooks(self) -> None:
        engine = self
        original_invoke = LambdaSimpleBackend.invoke
        original_factory = vars(state_task_factory)["state_task_service_for"]
        original_call_action = BaseResponse.call_action
        codebuild_cls = codebuild_task_class(lambda: engine.codebuild, _SYNC_POLL_SECONDS)

        def invoke(  # noqa: PLR0917 - moto's positional signature
            backend: Any,
            function_name: str,
            qualifier: str | None,
            body: Any,
            headers: Any,
            response_headers: Any,
        ) -> Any:
            spec = engine._function_for(function_name)
            if spec is None:
                return original_invoke(backend, function_name, qualifier, body, headers, response_headers)
            return engine._invoke(spec, body, response_headers)

        def service_for(service_name: str) -> Any:
            if service_name == "codebuild":
                return codebuild_cls()
            return original_factory(service_name)

        def call_action(response: Any) -> Any:
            fault = engine._take_fault(response)
            if fault is not None:
                body = json.dumps({"__type": fault.code, "message": fault.message})
                return fault.status, {"content-type": "application/x-amz-json-1.1"}, body
            return original_call_action(response)

        self._patches = [
            *_definite_json_path_patches(),
            *_sfn_integration_patches(),
            mock.patch.object(LambdaSimpleBackend, "invoke", invoke),
            mock.patch.object(state_task_factory, "state_task_service_for", service_for),
            mock.patch.object(retrier_decl, "time", _ScaledTime(self.retry_time_scale)),
            mock.patch.object(state_task_service_callback, "_DELAY_SECONDS_SYNC_CONDITION_CHECK", 0.01),
            mock.patch.object(BaseResponse, "call_action", call_action),
        ]
        for patcher in self._patches:
            patcher.start()

    def _function_for(self, name_or_arn: str) -> FunctionSpec | None:
        name = name_or_arn
        if name.startswith("arn:"):
            parts = name.split(":")
            name = parts[6] if len(parts) > 6 else name
        else:
            name = name.split(":")[0]
        return self.functions.get(name)

    def _handler(self, spec: FunctionSpec) -> Callable[[Any, Any], Any]:
        if spec.name not in self._handlers:
            code_uri = str(spec.code_uri)
            if code_uri not in sys.path:
                sys.path.append(code_uri)
            module = importlib.import_module(spec.module)
            handler = getattr(module, spec.attribute, None)
            if not callable(handler):
                raise ConfigurationError(f"{spec.handler} is not a callable handler")
            # On AWS a function's logs go to CloudWatch Logs, not to whoever watches the run:
            # locally they go to stderr, so a CLI's stdout (the demo's table) stays its own.
            for value in vars(module).values():
                registered = getattr(value, "registered_handler", None)
                if isinstance(registered, logging.StreamHandler) and registered.stream is sys.stdout:
                    registered.setStream(sys.stderr)
            self._handlers[spec.name] = handler
        return self._handlers[spec.name]

    def _invoke(self, spec: FunctionSpec, body: Any, response_headers: dict[str, str]) -> bytes:
        context = LambdaContext(
            function_name=spec.name,
            invoked_function_arn=f"arn:aws:lambda:{self.source_region}:{self.account}:function:{spec.name}",
            memory_limit_in_mb=spec.memory,
            aws_request_id=str(uuid.uuid4()),
            timeout_seconds=spec.timeout,
        )
        try:
            raw = body.decode() if isinstance(body, bytes) else (body or "")
            event = json.loads(raw) if raw.strip() else {}
            with self._function_env(spec):
                result = self._handler(spec)(event, context)
            for hook in list(self._invoke_hooks):
                hook(spec.logical_id, event, result)
            return json.dumps(result).encode()
        except Exception as exc:
            logger.debug("function %s raised %s", spec.name, type(exc).__name__, exc_info=True)
            response_headers["x-amz-function-error"] = "Unhandled"
            error_type = (
                "Runtime.MarshalError"
                if isinstance(exc, TypeError) and "JSON" in str(exc)
                else (type(exc).__name__)
            )
            # What Lambda's Python runtime answers: the message, the class name and the stack of
            # the handler's frames (traceback.format_list), which Step Functions puts in Cause.
            stack = traceback.format_list(traceback.extract_tb(exc.__traceback__))
            error = {"errorMessage": str(exc), "errorType": error_type, "stackTrace": stack}
            return json.dumps({**error, "requestId": context.aws_request_id}).encode()

    @contextlib.contextmanager
    def _function_env(self, spec: FunctionSpec) -> Iterator[None]:
        if self._env_lock is None:
            yield
            return
        with self._env_lock:
            own = self._handler_env[spec.name]
            saved = {k: os.environ.get(k) for k in own}
            os.environ.update(own)
            try:
                yield
            finally:
                for k, v in saved.items():
                    if v is None:
                        os.environ.pop(k, None)
                    else:
                        os.environ[k] = v

    def add_invoke_hook(self, hook: InvokeHook) -> None:
        """Call ``hook(logical_id, event, result)`` after each successful handler invocation
        (before Step Functions sees the result): tests use it to act "between two steps"."""
        self._invoke_hooks.append(hook)

    # --- fault injection ------------------------------------------------------------------------

    def inject_aws_error(
        self,
        service: str,
        action: str,
        *,
        code: str = "ThrottlingException",
        message: str = "Rate exceeded",
        status: int = 400,
        times: int = 1,
        region: str | None = None,
    ) -> None:
        """Make the next ``times`` calls of ``service``'s ``action`` (e.g. ``"ecr"``,
        ``"CreateRepository"``), optionally only in ``region``, fail with ``code``."""
        with self._faults_lock:
            self._faults.append(_Fault(service, action, code, message, status, times, region))

    def faults_fired(self, service: str, action: str) -> int:
        with self._faults_lock:
            return sum(f.fired for f in self._faults if f.service == service and f.action == action)

    def _take_fault(self, response: Any) -> _Fault | None:
        if not self._faults:
            return None
        with self._faults_lock:
            for fault in self._faults:
                if fault.remaining <= 0 or getattr(response, "service_name", None) != fault.service:
                    continue
                if fault.region is not None and getattr(response, "region", None) != fault.region:
                    continue
                if response._get_action() != fault.action:
                    continue
                fault.remaining -= 1
                fault.fired += 1
                return fault
        return None

    # --- executions -----------------------------------------------------------------------------

    def start_execution(self, input: dict[str, Any], name: str | None = None) -> str:
        """Start the replication state machine; returns the execution ARN."""
        response = self.client("stepfunctions").start_execution(
            stateMachineArn=self.state_machine_arn,
            name=name or uuid.uuid4().hex,
            input=json.dumps(input),
        )
        return str(response["executionArn"])

    def wait(self, execution_arn: str, timeout: float = 120) -> dict[str, Any]:
        """Wait for the execution to end; returns ``DescribeExecution``'s answer."""
        sfn = self.client("stepfunctions")
        deadline = time.monotonic() + timeout
        while True:
            desc: dict[str, Any] = sfn.describe_execution(executionArn=execution_arn)
            if desc["status"] in _TERMINAL:
                desc.pop("ResponseMetadata", None)
                return desc
            if time.monotonic() > deadline:
                raise TimeoutError(f"execution {execution_arn} still {desc['status']} after {timeout}s")
            time.sleep(0.05)

    def history(self, execution_arn: str) -> list[dict[str, Any]]:
        """The execution's events, oldest first (all pages)."""
        sfn = self.client("stepfunctions")
        events: list[dict[str, Any]] = []
        for page in sfn.get_paginator("get_execution_history").paginate(executionArn=execution_arn):
            events.extend(page["events"])
        return events

    def notifications(self) -> list[dict[str, Any]]:
        """Every message published to the topic so far (JSON-decoded), oldest first."""
        if not self._queue_url:
            return list(self._notifications)
        sqs = self.client("sqs")
        while True:
            got = sqs.receive_message(QueueUrl=self._queue_url, MaxNumberOfMessages=10, WaitTimeSeconds=0)
            messages = got.get("Messages", [])
            if not messages:
                break
            for msg in messages:
                try:
                    decoded = json.loads(msg["Body"])
                except json.JSONDecodeError:
                    decoded = {"message": msg["Body"]}
                self._notifications.append(decoded if isinstance(decoded, dict) else {"message": decoded})
                sqs.delete_message(QueueUrl=self._queue_url, ReceiptHandle=msg["ReceiptHandle"])
        return list(self._notifications)


#: Interpreter modules that imported ``extract_json`` by name (moto 5.2.5).
_JSON_PATH_USERS = (
    "moto.stepfunctions.parser.asl.component.common.string.string_expression",
    "moto.stepfunctions.parser.asl.component.intrinsic.argument.argument",
    "moto.stepfunctions.parser.asl.component.state.choice.comparison.operator.implementations.timestamp_operators",
    "moto.stepfunctions.parser.asl.component.state.choice.comparison.operator.implementations.boolean_equals",
    "moto.stepfunctions.parser.asl.component.state.choice.comparison.operator.implementations.numeric",
    "moto.stepfunctions.parser.asl.component.state.choice.comparison.operator.implementations.string_operators",
    "moto.stepfunctions.parser.asl.eval.states",
)
_INDEFINITE = ("*", "?", "@", ",", ":", "..")


def _definite_json_path_patches() -> list[Any]:
    """moto 5.2.5 wraps a definite path through an array index (``$.a[0].b``) in a list (its fix
    for filter queries, moto #7825, is too broad); Step Functions returns the single value. A
    definite path (no filter, wildcard, slice, union or descent) with one match -> that value."""
    original = json_path.extract_json

    def extract_json(path: str, data: Any) -> Any:
        if path.startswith(("$.", "$[")) and not any(token in path[1:] for token in _INDEFINITE):
            matches = vars(json_path)["parse"](path).find(data)
            if len(matches) == 1:
                return matches[0].value
        return original(path, data)

    patches = []
    for name in _JSON_PATH_USERS:
        module = importlib.import_module(name)
        if getattr(module, "extract_json", None) is original:
            patches.append(mock.patch.object(module, "extract_json", extract_json))
    return patches


def _sfn_integration_patches() -> list[Any]:
    """moto 5.2.5 ports the ``states:startExecution(.sync:2)`` integration without its request and
    response normalisation (the base ``_normalise_parameters``/``_normalise_response`` are no-ops):
    ``StateMachineArn`` reaches boto3 as is (KeyError) and ``ExecutionArn``/``Status`` are read
    from boto3's camelCase answer. Step Functions maps between the two casings; so do these
    patches, for this one integration, with botocore's own shapes (used by the backfill machine)."""
    import botocore.session  # noqa: PLC0415 - moto and botocore load with the engine only
    from moto.stepfunctions.parser.asl.component.state.exec.state_task.service import (  # noqa: PLC0415
        state_task_service_sfn,
    )

    cls = state_task_service_sfn.StateTaskServiceSfn
    model = botocore.session.get_session().get_service_model("stepfunctions")
    original_parameters = cls._normalise_parameters
    original_eval = cls._eval_service_task

    def operation(self: Any, action: str | None) -> Any:
        name = action or self._get_boto_service_action()
        return model.operation_model("".join(part.capitalize() for part in name.split("_")))

    def normalise_parameters(
        self: Any, parameters: dict[str, Any], boto_service_name: str | None = None,
        service_action_name: str | None = None,
    ) -> None:
        original_parameters(self, parameters, boto_service_name, service_action_name)
        self._to_boto_request(parameters, operation(self, service_action_name).input_shape)

    def normalise_response(
        self: Any, response: Any, boto_service_name: str | None = None, service_action_name: str | None = None
    ) -> None:
        self._from_boto_response(response, operation(self, service_action_name).output_shape)

    def eval_service_task(self: Any, env: Any, *args: Any, **kwargs: Any) -> None:
        original_eval(self, env, *args, **kwargs)
        normalise_response(self, env.stack[-1])

    return [
        mock.patch.object(cls, "_normalise_parameters", normalise_parameters),
        mock.patch.object(cls, "_normalise_response", normalise_response),
        mock.patch.object(cls, "_eval_service_task", eval_service_task),
    ]


def _cold_start() -> None:
    """Forget what ``ecr_replicate`` modules cached from an earlier environment (``lru_cache``d
    boto3 clients, parsed settings), as a Lambda cold start would: clients made before the engine
    set ``AWS_ENDPOINT_URL`` must not be reused, nor clients pointing at a stopped engine after."""
    for name, module in list(sys.modules.items()):
        if module is None or not name.startswith("ecr_replicate."):
            continue
        for value in list(vars(module).values()):
            clear = getattr(value, "cache_clear", None)
            if callable(clear) and getattr(value, "__module__", None) == name:
                clear()


def _exported_variables(buildspec: str, root: Path) -> list[str]:
    """``env.exported-variables`` of a buildspec (inline YAML or a file path in the repo)."""
    text = buildspec
    if buildspec and "\n" not in buildspec and (root / buildspec).is_file():
        text = (root / buildspec).read_text()
    elif not buildspec and (root / "buildspec.yml").is_file():
        text = (root / "buildspec.yml").read_text()
    if not text:
        return []
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise ConfigurationError(f"buildspec is not YAML: {exc}") from exc
    names = ((data or {}).get("env") or {}).get("exported-variables") or []
    return [str(n) for n in names]
