"""Wire a :class:`~ecr_replicate_local.local_aws.LocalAws` into moto: the patches of
:mod:`ecr_replicate_local.moto_patches` bound to its IAM, Lambda runtime, CodeBuild and faults."""

from __future__ import annotations

import datetime
import json
import logging
import sys
import threading
from collections.abc import Callable
from typing import TYPE_CHECKING, Any
from unittest import mock

from moto.core.exceptions import ServiceException

from ecr_replicate.errors import ConfigurationError
from ecr_replicate_local import moto_patches
from ecr_replicate_local.codebuild import CodeBuildRunner, PhaseFailure
from ecr_replicate_local.codebuild_preflight import build_preflight
from ecr_replicate_local.codebuild_task import codebuild_task_class
from ecr_replicate_local.lambda_runtime import LambdaRefusal

if TYPE_CHECKING:
    from ecr_replicate_local.local_aws import LocalAws

logger = logging.getLogger(__name__)

SYNC_POLL_SECONDS = 0.05
STATES = "states.amazonaws.com"
CODEBUILD = "codebuild.amazonaws.com"


class _LambdaRefused(ServiceException):
    """Lambda's own refusal of an Invoke (throttled, payload too large), serialised by moto
    with the status Lambda's model gives the code."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(code, message)


def install_hooks(aws: LocalAws) -> Callable[[], None]:
    """Start every patch; returns the function that stops them."""
    from moto.awslambda_simple.models import LambdaSimpleBackend  # noqa: PLC0415
    from moto.stepfunctions.parser.asl.component.state.exec.state_task import state_task_factory  # noqa: PLC0415

    original_invoke = LambdaSimpleBackend.invoke
    original_factory = vars(state_task_factory)["state_task_service_for"]

    def authorize(role_arn: str | None, action: str, resource: str) -> str | None:
        decision = aws.authorize_role(role_arn, action, resource, STATES, "StepFunctions")
        return None if decision.allowed else decision.message()

    codebuild_cls = codebuild_task_class(lambda: aws.codebuild, SYNC_POLL_SECONDS, authorize)

    def invoke(  # noqa: PLR0917 - moto's positional signature
        backend: Any,
        function_name: str,
        qualifier: str | None,
        body: Any,
        headers: Any,
        response_headers: Any,
    ) -> Any:
        spec = aws.lambdas.function(function_name)
        if spec is None:
            return original_invoke(backend, function_name, qualifier, body, headers, response_headers)
        payload = body if isinstance(body, bytes) else str(body or "").encode()
        if str(headers.get("X-Amz-Invocation-Type", "")) == "Event":
            threading.Thread(target=_run_async, args=(aws, spec.name, payload), daemon=True).start()
            return b""
        try:
            outcome = aws.lambdas.invoke(spec.name, payload)
        except LambdaRefusal as refusal:
            raise _LambdaRefused(refusal.code, str(refusal)) from None
        if outcome.function_error is None:
            try:
                event = json.loads(payload) if payload.strip() else None
                for hook in aws.invoke_hooks:
                    hook(spec.logical_id, event, outcome.result)
            except Exception as exc:  # a test hook failing fails the invocation, visibly
                response_headers["x-amz-function-error"] = "Unhandled"
                return json.dumps({"errorType": type(exc).__name__, "errorMessage": str(exc)}).encode()
        else:
            response_headers["x-amz-function-error"] = outcome.function_error
        return outcome.payload

    def service_for(service_name: str) -> Any:
        if service_name == "codebuild":
            return codebuild_cls()
        return original_factory(service_name)

    def authorization_token(response: Any) -> tuple[int, dict[str, str], str] | None:
        """ecr:GetAuthorizationToken (IAM already allowed it): a token of the caller, for the
        region the request was signed for, bounded by the caller's session."""
        if response.service_name != "ecr" or response._get_action() != "GetAuthorizationToken":
            return None
        found = aws.enforcer.caller_of(response)
        if found is None:  # the enforcer refused it already; never reached
            return None
        caller, region = found
        not_after = caller.expiration.replace(tzinfo=datetime.UTC).timestamp() if caller.expiration else None
        token, expires_at = aws.tokens.issue(caller.principal, region, not_after=not_after)
        data = {
            "authorizationToken": token,
            "expiresAt": expires_at,
            "proxyEndpoint": aws.registry_url(region),
        }
        return 200, {"content-type": "application/x-amz-json-1.1"}, json.dumps({"authorizationData": [data]})

    def role_credentials(role_arn: str | None) -> dict[str, str | None]:
        if not role_arn:
            raise ConfigurationError("a state machine task has no role to call AWS with")
        return aws.session(role_arn, STATES, "StepFunctions").client_kwargs()

    patches = [
        *moto_patches.request_path_patches(
            [aws.enforcer.check, aws.faults.take, authorization_token], aws.enforcer.check_s3
        ),
        *moto_patches.interpreter_client_patches(lambda: aws.endpoint_url, role_credentials),
        *moto_patches.definition_parse_patches(),
        *moto_patches.server_dispatch_patches(),
        *moto_patches.lambda_error_name_patches(),
        *moto_patches.timing_patches(aws.retry_time_scale, 0.01),
        *moto_patches.definite_json_path_patches(),
        *moto_patches.sfn_integration_patches(),
        *moto_patches.ecr_describe_images_patches(),
        mock.patch.object(LambdaSimpleBackend, "invoke", invoke),
        mock.patch.object(state_task_factory, "state_task_service_for", service_for),
    ]
    for patcher in patches:
        patcher.start()

    def uninstall() -> None:
        for patcher in reversed(patches):
            patcher.stop()

    return uninstall


def _run_async(aws: LocalAws, name: str, payload: bytes) -> None:
    try:
        aws.lambdas.invoke(name, payload)
    except Exception as exc:  # an asynchronous invocation's failure is only logged, as on Lambda
        logger.warning("asynchronous invocation of %s failed: %s", name, exc)


def codebuild_runner(aws: LocalAws) -> CodeBuildRunner:
    """The local CodeBuild of ``aws``'s stack: builds run as the project's service role."""
    stack = aws.stack
    assert stack is not None
    projects = stack.projects
    root = stack.template.root

    def session_name(build_id: str) -> str:
        return f"AWSCodeBuild-{build_id.split(':', 1)[-1]}"

    def credentials(project: str, build_id: str) -> dict[str, str]:
        role_arn = stack.role_arn(projects[project].role)
        return aws.session(role_arn, CODEBUILD, session_name(build_id)).environment()

    def preflight(project: str, environment: Any) -> PhaseFailure | None:
        spec = projects[project]
        role_arn = stack.role_arn(spec.role)
        session = session_name(str(environment.get("CODEBUILD_BUILD_ID", "")))

        def authorize(action: str, resource: str) -> str | None:
            decision = aws.authorize_role(role_arn, action, resource, CODEBUILD, session)
            return None if decision.allowed else decision.message()

        return build_preflight(
            spec, environment, authorize, region=stack.region, account=stack.account, role_arn=role_arn
        )

    def base_environment() -> dict[str, str]:
        import os  # noqa: PLC0415

        env = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "MOTO_", "POWERTOOLS_"))}
        env.update(aws.function_environment())
        return env

    return CodeBuildRunner(
        projects={name: spec.environment for name, spec in projects.items()},
        base_environment=base_environment,
        exported_variables={name: spec.exported_variables(root) for name, spec in projects.items()},
        region=stack.region,
        account=stack.account,
        argv=[sys.executable, "-m", "ecr_replicate.codebuild_step"],
        credentials=credentials,
        preflight=preflight,
    )
