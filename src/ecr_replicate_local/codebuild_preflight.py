"""What a local build needs from its service role before its own commands run.

A local build does not run the buildspec's shell commands: it runs the CodeBuild step's entry
point directly (:mod:`ecr_replicate_local.codebuild`). What those commands and CodeBuild itself
ask AWS for is checked here instead, with the build's role session, so a template that forgets
one of these permissions fails its builds locally as it would on AWS:

* CodeBuild writes the build's log to CloudWatch Logs (``LogsConfig``):
  ``logs:CreateLogStream`` and ``logs:PutLogEvents`` on the build's log stream;
* the buildspec's ``aws lambda get-function --function-name "$VAR"`` (how the project fetches
  the copy function's package): ``lambda:GetFunction`` on that function.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping

from ecr_replicate_local.codebuild import PhaseFailure
from ecr_replicate_local.stack_spec import CodeBuildSpec

Authorize = Callable[[str, str], str | None]
"""(IAM action, resource ARN) -> None if the build's role may, else AWS's AccessDenied message."""

_GET_FUNCTION = re.compile(
    r"aws\s+lambda\s+get-function\s+--function-name\s+\"?\$\{?([A-Za-z_][A-Za-z0-9_]*)\}?\"?"
)


def build_preflight(
    spec: CodeBuildSpec,
    environment: Mapping[str, str],
    authorize: Authorize,
    *,
    region: str,
    account: str,
    role_arn: str,
) -> PhaseFailure | None:
    """Why the build fails before its commands (as its phases report it), or None."""
    build_id = environment.get("CODEBUILD_BUILD_ID", "")
    build_arn = f"arn:aws:codebuild:{region}:{account}:build/{build_id}"
    if spec.log_group:
        stream = build_id.split(":", 1)[-1]
        resource = f"arn:aws:logs:{region}:{account}:log-group:{spec.log_group}:log-stream:{stream}"
        for action in ("logs:CreateLogStream", "logs:PutLogEvents"):
            denied = authorize(action, resource)
            if denied:
                return PhaseFailure(
                    "PROVISIONING",
                    "ACCESS_DENIED",
                    f"Service role {role_arn} does not allow AWS CodeBuild to create Amazon CloudWatch "
                    f"Logs log streams for build {build_arn}. Error message: {denied}",
                )
    for variable in _GET_FUNCTION.findall(spec.buildspec):
        name = environment.get(variable, "")
        arn = name if name.startswith("arn:") else f"arn:aws:lambda:{region}:{account}:function:{name}"
        denied = authorize("lambda:GetFunction", arn)
        if denied:
            return PhaseFailure(
                "INSTALL",
                "COMMAND_EXECUTION_ERROR",
                "Error while executing command: aws lambda get-function. Reason: exit status 254 (An "
                f"error occurred (AccessDeniedException) when calling the GetFunction operation: {denied})",
            )
    return None
