"""The local AWS: moto's server running the stack of ``template.yaml`` with IAM enforced.

:class:`LocalAws` starts moto (pinned 5.2.5) as a ``ThreadedMotoServer`` on a free 127.0.0.1
port *in this process*, so other processes (``ecr-replicate status --follow``, a user's
terminal, the functions' workers) reach it through ``AWS_ENDPOINT_URL``, and creates the stack
(:mod:`ecr_replicate_local.stack`). Every request is signed by an identity the twin issued and
authorised against that identity's IAM policies (:mod:`ecr_replicate_local.iam`):

* each Lambda function runs in its own worker processes as its execution role
  (:mod:`ecr_replicate_local.lambda_runtime`);
* the state machines' service integrations (``lambda:invoke``, ``sns:publish``,
  ``states:startExecution.sync``, ``s3:getObject``, ``codebuild:startBuild.sync``) run as the
  state machine's role; the CodeBuild step runs as the project's service role
  (:mod:`ecr_replicate_local.codebuild`);
* an event delivered to a rule (:meth:`LocalAws.deliver_event`) starts its target as the
  target's role, as EventBridge does;
* the operator (this process's own calls, :meth:`environment` for other processes) is an IAM
  user allowed everything.

moto's patch points: :mod:`ecr_replicate_local.moto_patches`.
"""

from __future__ import annotations

import json
import logging
import threading
import time
import uuid
from collections.abc import Callable, Mapping
from pathlib import Path
from types import TracebackType
from typing import Any, ClassVar

import boto3

from ecr_replicate.errors import ConfigurationError
from ecr_replicate_cli.history import history as execution_history
from ecr_replicate_local import local_aws_env
from ecr_replicate_local.client_cache import ClientCache
from ecr_replicate_local.faults import Fault, Faults
from ecr_replicate_local.iam.enforcement import Enforcer
from ecr_replicate_local.iam.identities import Credentials, Identities
from ecr_replicate_local.iam.policy import Decision
from ecr_replicate_local.iam.tokens import RegistryTokens
from ecr_replicate_local.lambda_runtime import LambdaRuntime
from ecr_replicate_local.moto_server import MotoServer
from ecr_replicate_local.stack import LocalStack
from ecr_replicate_local.stack_spec import FunctionSpec
from ecr_replicate_local.twin_hooks import install_hooks

logger = logging.getLogger(__name__)

REPO_ROOT = Path(__file__).resolve().parents[2]
DEFAULT_TEMPLATE = REPO_ROOT / "template.yaml"
MOTO_ACCOUNT = "123456789012"  # moto's default account: its backends are keyed by it
InvokeHook = Callable[[str, Any, Any], None]
_TERMINAL = frozenset({"SUCCEEDED", "FAILED", "TIMED_OUT", "ABORTED"})
_SESSION_MARGIN = 300.0


class LocalAws:
    """moto server + IAM + the stack from ``template.yaml``. One active instance per process."""

    _active: ClassVar[LocalAws | None] = None
    _active_lock: ClassVar[threading.Lock] = threading.Lock()

    def __init__(
        self,
        *,
        regions: Mapping[str, str],
        source_region: str,
        template: Path = DEFAULT_TEMPLATE,
        account: str = MOTO_ACCOUNT,
        parameters: Mapping[str, str] | None = None,
        retry_time_scale: float = 0.01,
        registry_ca_file: Path | None = None,
        prewarm: bool = True,
        function_overrides: Mapping[str, str] | None = None,
        log: int | None = None,
    ) -> None:
        """``prewarm``: start one execution environment per function at once (their cold starts
        overlap the rest of the start-up) rather than at each function's first invocation.
        ``function_overrides``: variables added to every function's and build's environment (a
        local knob such as ``COPY_JOBS`` for a benchmark; the template's own values otherwise).
        ``log``: a file descriptor for the functions' output (their log lines), else stderr."""
        if source_region not in regions:
            raise ConfigurationError(f"source region {source_region} has no registry in regions")
        if account != MOTO_ACCOUNT:
            raise ConfigurationError(f"the local AWS runs as moto's account {MOTO_ACCOUNT}, not {account}")
        if retry_time_scale < 0:
            raise ConfigurationError("retry_time_scale must be >= 0")
        self.regions = dict(regions)
        self.source_region = source_region
        self.template_path = Path(template)
        self.account = account
        self.parameters = dict(parameters or {})
        self.retry_time_scale = retry_time_scale
        self.registry_ca_file = registry_ca_file
        self.prewarm = prewarm
        self.function_overrides = dict(function_overrides or {})
        self.server = MotoServer()
        self.identities = Identities(account)
        self.enforcer = Enforcer(self.identities)
        self.tokens = RegistryTokens()  # what the local ecr:GetAuthorizationToken issues
        self.faults = Faults()
        self.log = log
        self.lambdas = LambdaRuntime(log=log)
        self.stack: LocalStack | None = None
        self.codebuild: Any = None
        self._invoke_hooks: list[InvokeHook] = []
        self._sessions: dict[tuple[str, str], Credentials] = {}
        self._sessions_lock = threading.Lock()
        self._clients = ClientCache()
        self._notifications: list[dict[str, Any]] = []
        self._uninstall: Callable[[], None] | None = None
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
            self.server.start()
            self._uninstall = install_hooks(self)
            self._create_stack()
            if self.prewarm:
                self.lambdas.prewarm()
        except BaseException:
            self.stop()
            raise
        self._started = True
        return self

    def stop(self) -> None:
        """Stop functions, builds, the server and every hook. Safe to call twice."""
        self.lambdas.stop()
        if self.codebuild is not None:
            self.codebuild.stop_all()
        self.server.stop()
        self._clients.clear()
        if self._uninstall is not None:
            self._uninstall()
            self._uninstall = None
        self._started = False
        with LocalAws._active_lock:
            if LocalAws._active is self:
                LocalAws._active = None

    @property
    def endpoint_url(self) -> str:
        return self.server.endpoint_url

    def use_registries(self, endpoints: Mapping[str, str], ca_file: Path) -> None:
        """Before :meth:`start`: the regions' registries are these https hosts (the ECR fronts),
        trusted through ``ca_file`` (``REGISTRY_ENDPOINTS``, ``REGISTRY_CA_FILE``)."""
        if self._started:
            raise ConfigurationError("the registries of a running local AWS cannot change")
        if set(endpoints) != set(self.regions):
            raise ConfigurationError(f"registries for {sorted(endpoints)}, regions {sorted(self.regions)}")
        self.regions = dict(endpoints)
        self.registry_ca_file = ca_file

    # --- the stack ------------------------------------------------------------------------------

    def _create_stack(self) -> None:
        from ecr_replicate_local.template import load_template  # noqa: PLC0415

        declared = load_template(self.template_path).get("Parameters") or {}
        parameters = dict(self.parameters)
        if "TargetRegions" in declared and "TargetRegions" not in parameters:
            # the local regions are the deployment's regions
            parameters["TargetRegions"] = ",".join(r for r in self.regions if r != self.source_region)
        stack = LocalStack(
            self.template_path, region=self.source_region, account=self.account, parameters=parameters
        )
        self.stack = stack
        stack.create(self.client, self.identities)
        for spec in stack.functions.values():
            self._add_function(spec)
        from ecr_replicate_local.twin_hooks import codebuild_runner  # noqa: PLC0415

        self.codebuild = codebuild_runner(self)

    def _add_function(self, spec: FunctionSpec) -> None:
        assert self.stack is not None
        role_arn = self.stack.role_arn(spec.role)

        def credentials() -> dict[str, str]:
            return self.session(role_arn, "lambda.amazonaws.com", spec.name).environment()

        self.lambdas.add(
            spec,
            arn=self.stack.arn("lambda", f"function:{spec.name}"),
            environment=self.function_environment(),
            credentials=credentials,
        )

    def function_environment(self) -> dict[str, str]:
        """What the twin adds to every function's (and build's) environment."""
        return local_aws_env.function_environment(self)

    @property
    def functions(self) -> dict[str, FunctionSpec]:
        return self.stack.functions if self.stack else {}

    @property
    def state_machine_arn(self) -> str:
        return self.stack.state_machine_arn if self.stack else ""

    @property
    def state_machine_arns(self) -> dict[str, str]:
        return self.stack.state_machine_arns if self.stack else {}

    @property
    def topic_arn(self) -> str:
        return self.stack.topic_arn if self.stack else ""

    # --- identities -----------------------------------------------------------------------------

    def session(self, role_arn: str, service: str, session_name: str) -> Credentials:
        """A session of ``role_arn`` as ``service`` assumes it (reused until near its expiry)."""
        key = (role_arn, f"{service}/{session_name}")
        with self._sessions_lock:
            found = self._sessions.get(key)
            fresh = found is not None and (
                found.expiration is None or found.expiration.timestamp() - time.time() > _SESSION_MARGIN
            )
            if not fresh:
                found = self.identities.for_service(role_arn, service, session_name)
                self._sessions[key] = found
            assert found is not None
            return found

    def authorize_role(
        self, role_arn: str | None, action: str, resource: str, service: str, session_name: str = ""
    ) -> Decision:
        """Decide one call ``service`` makes as ``role_arn`` without an HTTP request (CodeBuild)."""
        if not role_arn:
            raise ConfigurationError(f"{service} has no role to call {action} with")
        credentials = self.session(role_arn, service, session_name or service.split(".", 1)[0])
        caller = self.identities.caller(credentials.access_key_id)
        assert caller is not None
        return self.enforcer.authorize(caller, action, resource, self.source_region)

    def registry_url(self, region: str) -> str:
        """The registry endpoint of ``region`` as ``GetAuthorizationToken`` names it (proxyEndpoint)."""
        host = self.regions.get(region)
        return f"https://{host}" if host else f"https://{self.account}.dkr.ecr.{region}.amazonaws.com"

    def denials(self) -> list[Decision]:
        """Every request the local AWS denied so far (oldest first; the last 200)."""
        return list(self.enforcer.denials)

    # --- what clients need ----------------------------------------------------------------------

    def environment(self) -> dict[str, str]:
        """The environment an operator's process needs to talk to this local AWS
        (:func:`ecr_replicate_local.local_aws_env.operator_environment`)."""
        return local_aws_env.operator_environment(self)

    def client(self, service: str, region: str | None = None, credentials: Credentials | None = None) -> Any:
        """A boto3 client of this local AWS (the operator's, source region by default), made once
        per service, region and credentials (:mod:`ecr_replicate_local.client_cache`)."""
        creds = credentials or self.identities.operator()
        signed_as = creds.client_kwargs()
        region_name = region or self.source_region
        endpoint_url = self.endpoint_url

        def make() -> Any:
            return boto3.client(
                service,  # type: ignore[call-overload]
                region_name=region_name,
                endpoint_url=endpoint_url,
                **signed_as,
            )

        return self._clients.get((service, region_name, endpoint_url, tuple(sorted(signed_as.items()))), make)

    # --- test hooks -----------------------------------------------------------------------------

    def add_invoke_hook(self, hook: InvokeHook) -> None:
        """Call ``hook(logical_id, event, result)`` after each successful handler invocation
        (before Step Functions sees the result): tests use it to act "between two steps"."""
        self._invoke_hooks.append(hook)

    @property
    def invoke_hooks(self) -> list[InvokeHook]:
        return list(self._invoke_hooks)

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
        self.faults.add(Fault(service, action, code, message, status, times, region))

    def faults_fired(self, service: str, action: str) -> int:
        return self.faults.fired(service, action)

    # --- executions -----------------------------------------------------------------------------

    def start_execution(self, input: dict[str, Any], name: str | None = None) -> str:
        """Start the replication state machine as the operator; returns the execution ARN."""
        response = self.client("stepfunctions").start_execution(
            stateMachineArn=self.state_machine_arn, name=name or uuid.uuid4().hex, input=json.dumps(input)
        )
        return str(response["executionArn"])

    def deliver_event(self, event: Mapping[str, Any], name: str | None = None) -> list[str]:
        """Deliver an event to the default bus: every rule whose pattern matches starts its
        target as the target's role, retried, then dead-lettered (:mod:`ecr_replicate_local.eventbridge`);
        returns the execution ARNs started."""
        from ecr_replicate_local.eventbridge import deliver  # noqa: PLC0415

        return deliver(self, event, name)

    def dead_letter_queue(self, rule: str) -> str | None:
        """URL of the local queue the template names as ``rule``'s target DeadLetterConfig."""
        return self.stack.dead_letter_queue(rule) if self.stack else None

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
        return execution_history(self.client("stepfunctions"), execution_arn)

    def notifications(self) -> list[dict[str, Any]]:
        """Every message published to the topic so far (JSON-decoded), oldest first."""
        queue = self.stack.queue_url if self.stack else ""
        if not queue:
            return list(self._notifications)
        sqs = self.client("sqs")
        while True:
            got = sqs.receive_message(QueueUrl=queue, MaxNumberOfMessages=10, WaitTimeSeconds=0)
            messages = got.get("Messages", [])
            if not messages:
                break
            for msg in messages:
                try:
                    decoded = json.loads(msg["Body"])
                except json.JSONDecodeError:
                    decoded = {"message": msg["Body"]}
                self._notifications.append(decoded if isinstance(decoded, dict) else {"message": decoded})
                sqs.delete_message(QueueUrl=queue, ReceiptHandle=msg["ReceiptHandle"])
        return list(self._notifications)
