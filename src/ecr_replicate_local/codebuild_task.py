"""The Step Functions task of ``arn:aws:states:::codebuild:startBuild(.sync)`` for moto's
interpreter: it starts a local build (:class:`ecr_replicate_local.codebuild.CodeBuildRunner`)
as the state machine's role allows, and waits for it with the output AWS gives.

Permissions, as on AWS: ``codebuild:StartBuild`` on the project (else the task fails with
``CodeBuild.AWSCodeBuildException`` and AWS's AccessDenied message) and
``codebuild:BatchGetBuilds`` to see the build end (without it the task never learns the result
and runs into its timeout, as reported for AWS in aws-cdk#10081). A failed build fails the task
with ``States.TaskFailed`` and the Build JSON as cause.
"""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Callable
from typing import Any

from moto.stepfunctions.parser.api import HistoryEventType, TaskFailedEventDetails
from moto.stepfunctions.parser.asl.component.common.error_name.custom_error_name import CustomErrorName
from moto.stepfunctions.parser.asl.component.common.error_name.failure_event import (
    FailureEvent,
    FailureEventException,
)
from moto.stepfunctions.parser.asl.component.common.error_name.states_error_name import StatesErrorName
from moto.stepfunctions.parser.asl.component.common.error_name.states_error_name_type import (
    StatesErrorNameType,
)
from moto.stepfunctions.parser.asl.component.state.exec.state_task.service import (
    state_task_service_callback as callback_tasks,
)
from moto.stepfunctions.parser.asl.component.state.exec.state_task.service.resource import ResourceCondition
from moto.stepfunctions.parser.asl.eval.event import event_detail

from ecr_replicate.errors import ConfigurationError
from ecr_replicate_local.codebuild import CodeBuildRunner

# moto's TypedDict of every event detail kind, built with the one kind we set
EventDetails: Any = event_detail.EventDetails

_SUPPORTED_PARAMETERS = {
    "startbuild": {
        "ProjectName",
        "EnvironmentVariablesOverride",
        "SourceVersion",
        "TimeoutInMinutesOverride",
        "BuildspecOverride",
        "ComputeTypeOverride",
    }
}


Authorize = Callable[[str | None, str, str], str | None]
"""(role ARN, IAM action, resource ARN) -> None if allowed, else AWS's AccessDenied message."""


class CodeBuildAccessDenied(Exception):  # noqa: N818 - AWS's error code is the name
    """The state machine's role may not call CodeBuild."""


def codebuild_task_class(
    runner: Callable[[], CodeBuildRunner | None], poll_seconds: float, authorize: Authorize | None = None
) -> type[Any]:
    """A ``StateTaskServiceCallback`` subclass for ``arn:aws:states:::codebuild:startBuild(.sync)``.

    ``runner`` returns the active :class:`CodeBuildRunner`, looked up per call; ``authorize``
    decides the state machine role's CodeBuild calls (None: everything is allowed).
    """

    def denied(credentials: Any, action: str, active: CodeBuildRunner, project: str) -> str | None:
        if authorize is None:
            return None
        arn = f"arn:aws:codebuild:{active.region}:{active.account}:project/{project}"
        return authorize(getattr(credentials, "role_arn", None), action, arn)

    class StateTaskServiceCodeBuild(callback_tasks.StateTaskServiceCallback):  # type: ignore[misc]
        def __init__(self) -> None:
            # WaitForTaskToken must be listed: the base class's ``finally`` uses its endpoint.
            patterns: set[Any] = {ResourceCondition.Sync, ResourceCondition.WaitForTaskToken}
            super().__init__(supported_integration_patterns=patterns)

        def _eval_sync(
            self,
            env: Any,
            sync_resolver: Any,
            timeout_seconds: Any,
            callback_endpoint: Any,
            heartbeat_endpoint: Any,
        ) -> Any:
            # Poll the build only: no task-token listener. (moto keeps the interrupted token
            # endpoint of a failed attempt, so on a Retry that listener would end the new attempt
            # at once with States.Timeout.)
            return super()._eval_sync(
                env=env,
                sync_resolver=sync_resolver,
                timeout_seconds=timeout_seconds,
                callback_endpoint=None,
                heartbeat_endpoint=heartbeat_endpoint,
            )

        def _get_supported_parameters(self) -> set[str] | None:
            return _SUPPORTED_PARAMETERS.get(self.resource.api_action.lower())

        def _runner(self) -> CodeBuildRunner:
            active = runner()
            if active is None:
                raise ConfigurationError("no local CodeBuild runner is active")
            return active

        def _from_error(self, env: Any, ex: Exception) -> Any:
            if isinstance(ex, ConfigurationError | CodeBuildAccessDenied):
                # how Step Functions reports a refused StartBuild
                name = "CodeBuild.AWSCodeBuildException"
                cause = str(ex)
                if isinstance(ex, CodeBuildAccessDenied):
                    cause += (
                        f" (Service: AWSCodeBuild; Status Code: 400; Error Code: AccessDeniedException; "
                        f"Request ID: {uuid.uuid4()}; Proxy: null)"
                    )
                return FailureEvent(
                    env=env,
                    error_name=CustomErrorName(name),
                    event_type=HistoryEventType.TaskFailed,
                    event_details=EventDetails(
                        taskFailedEventDetails=TaskFailedEventDetails(
                            error=name,
                            cause=cause,
                            resource=self._get_sfn_resource(),
                            resourceType=self._get_sfn_resource_type(),
                        )
                    ),
                )
            return super()._from_error(env=env, ex=ex)

        def _eval_service_task(
            self,
            env: Any,
            resource_runtime_part: Any,
            normalised_parameters: dict[str, Any],
            state_credentials: Any,
        ) -> None:
            if self.resource.api_action.lower() != "startbuild":
                raise ConfigurationError(f"unsupported CodeBuild action {self.resource.api_action}")
            active = self._runner()
            project = str(normalised_parameters.get("ProjectName", ""))
            refusal = denied(state_credentials, "codebuild:StartBuild", active, project)
            if refusal is not None:
                raise CodeBuildAccessDenied(refusal)
            build = active.start_build(normalised_parameters)
            env.stack.append({"Build": active.describe(build)})

        def _build_sync_resolver(
            self,
            env: Any,
            resource_runtime_part: Any,
            normalised_parameters: dict[str, Any],
            state_credentials: Any,
        ) -> Callable[[], Any]:
            started: dict[str, Any] = env.stack.pop()
            active = self._runner()
            build = active.builds[started["Build"]["Id"]]
            # without BatchGetBuilds Step Functions never sees the build end (aws-cdk#10081)
            blind = denied(state_credentials, "codebuild:BatchGetBuilds", active, build.project) is not None

            def resolve() -> Any:
                if blind:
                    time.sleep(poll_seconds)
                    return None
                if not active.wait(build, poll_seconds):
                    return None
                output = {"Build": active.describe(build)}
                if build.status == "SUCCEEDED":
                    return output
                error = StatesErrorNameType.StatesTaskFailed.to_name()
                raise FailureEventException(
                    FailureEvent(
                        env=env,
                        error_name=StatesErrorName(typ=StatesErrorNameType.StatesTaskFailed),
                        event_type=HistoryEventType.TaskFailed,
                        event_details=EventDetails(
                            taskFailedEventDetails=TaskFailedEventDetails(
                                resource=self._get_sfn_resource(),
                                resourceType=self._get_sfn_resource_type(),
                                error=error,
                                cause=json.dumps(output["Build"], separators=(",", ":")),
                            )
                        ),
                    )
                )

            return resolve

    return StateTaskServiceCodeBuild
