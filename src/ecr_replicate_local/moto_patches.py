"""Where the local twin changes moto 5.2.5, each patch with why (installed between start and stop).

* the request path (``BaseResponse.call_action``, S3's ``_authenticate_and_authorize_s3_action``):
  IAM enforcement (:mod:`ecr_replicate_local.iam.enforcement`) and injected faults;
* the interpreter's AWS clients (``boto_client_for`` in every module that imported it): signed
  with the executing state machine's role, as Step Functions calls services with that role, and
  made once per role session (not once per task);
* the definition is parsed once per text, not once per execution (``ExecutionWorker``: parsing
  in pure Python takes tens of milliseconds, before the execution's first state);
* Lambda ``Invoke`` (``LambdaSimpleBackend.invoke``): the local Lambda runtime;
* ``codebuild`` service integrations (``state_task_service_for``): :mod:`ecr_replicate_local.codebuild`;
* Retry intervals scaled and the ``.sync`` poll shortened (tests do not wait for real backoff);
* a Lambda task's AWS error named as Step Functions names it (``Lambda.AWSLambdaException``
  for an error Lambda's model does not declare, e.g. AccessDeniedException);
* definite JSONPaths and ``states:startExecution`` parameters as Step Functions handles them;
* ECR's ``DescribeImages``: its ``tagStatus`` filter and referrers' ``subjectManifestDigest``.
"""

from __future__ import annotations

import functools
import importlib
import threading
import time
from collections.abc import Callable
from typing import Any
from unittest import mock

import boto3
from botocore.config import Config
from werkzeug.exceptions import HTTPException
from werkzeug.wrappers import Response as WerkzeugResponse

from ecr_replicate_local.client_cache import ClientCache

Patches = list[Any]


class ScaledTime:
    """Stands in for the ``time`` module in moto's retrier: sleeps ``scale`` times as long."""

    def __init__(self, scale: float) -> None:
        self.scale = scale

    def sleep(self, seconds: float) -> None:
        time.sleep(max(0.0, seconds * self.scale))

    def __getattr__(self, name: str) -> Any:
        return getattr(time, name)


def timing_patches(retry_time_scale: float, sync_poll_seconds: float) -> Patches:
    from moto.stepfunctions.parser.asl.component.common.retry import retrier_decl  # noqa: PLC0415
    from moto.stepfunctions.parser.asl.component.state.exec.state_task.service import (  # noqa: PLC0415
        state_task_service_callback,
    )

    return [
        mock.patch.object(retrier_decl, "time", ScaledTime(retry_time_scale)),
        mock.patch.object(
            state_task_service_callback, "_DELAY_SECONDS_SYNC_CONDITION_CHECK", sync_poll_seconds
        ),
    ]


# --- the request path --------------------------------------------------------------------------

Check = Callable[[Any], "tuple[int, dict[str, str], str] | None"]
S3Check = Callable[[Any, "str | None", "str | None"], "tuple[int, dict[str, str], str] | None"]


def request_path_patches(checks: list[Check], s3_check: S3Check) -> Patches:
    """Every request moto serves asks ``checks`` first (the first answer wins); S3 asks ``s3_check``."""
    from moto.core.authorization import ActionAuthenticatorMixin  # noqa: PLC0415
    from moto.core.responses import BaseResponse  # noqa: PLC0415

    original = BaseResponse.call_action

    def call_action(response: Any) -> Any:
        for check in checks:
            answer = check(response)
            if answer is not None:
                return answer
        return original(response)

    def s3_authorize(response: Any, bucket_name: str | None = None, key_name: str | None = None) -> None:
        answer = s3_check(response, bucket_name, key_name)
        if answer is not None:
            status, headers, body = answer
            raise HTTPException(response=WerkzeugResponse(body, status=status, headers=headers))

    return [
        mock.patch.object(BaseResponse, "call_action", call_action),
        mock.patch.object(ActionAuthenticatorMixin, "_authenticate_and_authorize_s3_action", s3_authorize),
    ]


# --- the interpreter's clients -----------------------------------------------------------------

#: Interpreter modules that imported ``boto_client_for`` by name (moto 5.2.5).
_CLIENT_USERS = (
    "moto.stepfunctions.parser.asl.component.state.exec.state_map.result_writer.resource_eval.resource_eval_s3",
    "moto.stepfunctions.parser.asl.component.state.exec.state_map.item_reader.eval.resource_eval_s3",
    "moto.stepfunctions.parser.asl.component.state.exec.state_task.lambda_eval_utils",
    "moto.stepfunctions.parser.asl.component.state.exec.state_task.service.state_task_service_unsupported",
    "moto.stepfunctions.parser.asl.component.state.exec.state_task.service.state_task_service_events",
    "moto.stepfunctions.parser.asl.component.state.exec.state_task.service.state_task_service_sqs",
    "moto.stepfunctions.parser.asl.component.state.exec.state_task.service.state_task_service_sfn",
    "moto.stepfunctions.parser.asl.component.state.exec.state_task.service.state_task_service_sns",
    "moto.stepfunctions.parser.asl.component.state.exec.state_task.service.state_task_service_aws_sdk",
    "moto.stepfunctions.parser.asl.component.state.exec.state_task.service.state_task_service_dynamodb",
    "moto.stepfunctions.parser.asl.component.state.exec.state_task.service.state_task_service_batch",
    "moto.stepfunctions.parser.asl.component.state.exec.state_task.service.state_task_service_ecs",
    "moto.stepfunctions.parser.asl.component.state.exec.state_task.service.state_task_service_glue",
)

RoleCredentials = Callable[["str | None"], "dict[str, str | None]"]
"""role ARN (None: not known) -> boto3 client credential arguments of a session of that role."""


def interpreter_client_patches(endpoint_url: Callable[[], str], credentials: RoleCredentials) -> Patches:
    """The interpreter's clients call the local AWS as the state machine's role."""
    from moto.stepfunctions.parser.asl.component.common.timeouts.timeout import TimeoutSeconds  # noqa: PLC0415
    from moto.stepfunctions.parser.asl.utils import boto_client  # noqa: PLC0415

    original = boto_client.boto_client_for
    clients = ClientCache()

    def boto_client_for(region: str, service: str, state_credentials: Any = None) -> Any:
        role_arn = getattr(state_credentials, "role_arn", None)
        signed_as = credentials(role_arn)
        url = endpoint_url()

        def make() -> Any:
            return boto3.client(
                service,  # type: ignore[call-overload]
                region_name=region,
                endpoint_url=url,
                config=Config(
                    parameter_validation=False,
                    retries={"max_attempts": 0, "total_max_attempts": 1},
                    connect_timeout=TimeoutSeconds.DEFAULT_TIMEOUT_SECONDS,
                    read_timeout=TimeoutSeconds.DEFAULT_TIMEOUT_SECONDS,
                ),
                **signed_as,
            )

        return clients.get((region, service, url, tuple(sorted(signed_as.items()))), make)

    patches = []
    for name in (*_CLIENT_USERS, boto_client.__name__):
        module = importlib.import_module(name)
        if getattr(module, "boto_client_for", None) is original:
            patches.append(mock.patch.object(module, "boto_client_for", boto_client_for))
    return patches


def server_dispatch_patches() -> Patches:
    """moto 5.2.5's server finds a request's service by asking, for every request, whether its
    host is one of moto's module names, listing moto's package directory (a ``stat`` per entry:
    about a quarter of the twin's CPU per AWS call, measured with yappi). The modules do not
    change while the server runs: listed once."""
    from moto import backends  # noqa: PLC0415

    modules = frozenset(backends.list_of_moto_modules())
    return [mock.patch.object(backends, "list_of_moto_modules", lambda: modules)]


PARSED_DEFINITIONS_KEPT = 16


def definition_parse_patches() -> Patches:
    """An execution evaluates the program parsed from its definition's text, parsed once per
    text. The parsed components hold no execution state (a Map's iterations already share
    them at once); each execution has its own environment."""
    from moto.stepfunctions.parser.asl.parse.asl_parser import AmazonStateLanguageParser  # noqa: PLC0415
    from moto.stepfunctions.parser.backend.execution_worker import ExecutionWorker  # noqa: PLC0415

    parsed: dict[str, Any] = {}
    lock = threading.Lock()

    def entrypoint(worker: Any) -> Any:
        definition = worker._evaluation_details.state_machine_details.definition
        with lock:
            program = parsed.get(definition)
        if program is None:
            program = AmazonStateLanguageParser.parse(definition)[0]
            with lock:
                while len(parsed) >= PARSED_DEFINITIONS_KEPT:
                    parsed.pop(next(iter(parsed)))
                parsed[definition] = program
        return program

    return [mock.patch.object(ExecutionWorker, "_get_evaluation_entrypoint", entrypoint)]


def lambda_error_name_patches() -> Patches:
    """A ClientError of Lambda that its ``Invoke`` model does not declare reaches Step Functions
    as ``Lambda.AWSLambdaException`` (the SDK's generic exception), e.g. AccessDeniedException;
    declared ones (``Lambda.TooManyRequestsException``...) keep their names. (moto names every
    one ``Lambda.<code>``, which would let an AccessDenied slip past the ASL's Retry lists.)"""
    import botocore.session  # noqa: PLC0415
    from moto.stepfunctions.parser.asl.component.state.exec.state_task.service import (  # noqa: PLC0415
        state_task_service_lambda,
    )

    cls = state_task_service_lambda.StateTaskServiceLambda
    model = botocore.session.get_session().get_service_model("lambda").operation_model("Invoke")
    declared = {shape.name for shape in model.error_shapes}
    original = cls._error_cause_from_client_error

    def error_cause(client_error: Any) -> tuple[str, str]:
        error, cause = original(client_error)
        code = str(client_error.response["Error"]["Code"])
        return (error if code in declared else "Lambda.AWSLambdaException"), cause

    return [mock.patch.object(cls, "_error_cause_from_client_error", staticmethod(error_cause))]


# --- interpreter corrections --------------------------------------------------------------------

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


def definite_json_path_patches() -> Patches:
    """moto 5.2.5 wraps a definite path through an array index (``$.a[0].b``) in a list (its fix
    for filter queries, moto #7825, is too broad); Step Functions returns the single value. A
    definite path (no filter, wildcard, slice, union or descent) with one match -> that value."""
    from moto.stepfunctions.parser.asl.utils import json_path  # noqa: PLC0415

    original = json_path.extract_json
    # a path is parsed once (jsonpath_ng builds its parser on every parse: about 0.5 ms each,
    # tens of times per execution); a parsed path is only read by find()
    parsed = functools.lru_cache(maxsize=1024)(vars(json_path)["parse"])

    def extract_json(path: str, data: Any) -> Any:
        if path.startswith(("$.", "$[")) and not any(token in path[1:] for token in _INDEFINITE):
            matches = parsed(path).find(data)
            if len(matches) == 1:
                return matches[0].value
        return original(path, data)

    patches = []
    for name in _JSON_PATH_USERS:
        module = importlib.import_module(name)
        if getattr(module, "extract_json", None) is original:
            patches.append(mock.patch.object(module, "extract_json", extract_json))
    return patches


def sfn_integration_patches() -> Patches:
    """moto 5.2.5 ports the ``states:startExecution(.sync:2)`` integration without its request and
    response normalisation (the base ``_normalise_parameters``/``_normalise_response`` are no-ops):
    ``StateMachineArn`` reaches boto3 as is (KeyError) and ``ExecutionArn``/``Status`` are read
    from boto3's camelCase answer. Step Functions maps between the two casings; so do these
    patches, for this one integration, with botocore's own shapes (used by the backfill machine)."""
    import botocore.session  # noqa: PLC0415
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
        self: Any,
        parameters: dict[str, Any],
        boto_service_name: str | None = None,
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


def ecr_describe_images_patches() -> Patches:
    """moto 5.2.5's ``DescribeImages`` ignores ``filter.tagStatus`` (TAGGED, UNTAGGED, ANY) and
    never names ``subjectManifestDigest``, which ECR gives for a referrer (a manifest with an OCI
    1.1 ``subject``; botocore's ImageDetail). The twin answers both as ECR does: the reconcile and
    ``verify`` listings read them (``ecr_replicate.inventory.list_images``)."""
    import json  # noqa: PLC0415

    from moto.ecr.models import Image  # noqa: PLC0415
    from moto.ecr.responses import ECRResponse  # noqa: PLC0415

    original = ECRResponse.describe_images

    def subject_manifest_digest(image: Any) -> str | None:
        try:
            subject = json.loads(image.image_manifest).get("subject")
        except (ValueError, AttributeError):
            return None
        digest = subject.get("digest") if isinstance(subject, dict) else None
        return digest if isinstance(digest, str) else None

    def describe_images(response: Any) -> Any:
        result = original(response)
        status = (response._get_param("filter") or {}).get("tagStatus", "ANY")
        if status in ("TAGGED", "UNTAGGED"):
            answer: Any = result.result  # {"imageDetails": [...]}, untagged ones without image_tags
            answer["imageDetails"] = [
                image
                for image in answer["imageDetails"]
                if bool(getattr(image, "image_tags", None)) == (status == "TAGGED")
            ]
        return result

    return [
        mock.patch.object(Image, "subject_manifest_digest", property(subject_manifest_digest), create=True),
        mock.patch.object(ECRResponse, "describe_images", describe_images),
    ]
