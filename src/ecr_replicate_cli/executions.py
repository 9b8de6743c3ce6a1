"""Which execution ``status`` (and ``rerun``) act on, and the AWS clients to read it.

An execution is named by its ARN; or by its name within the deployment's replication state
machine; or not at all: the state machine's latest execution. The deployment is ``--stack NAME``
(its outputs) or the environment ``ecr-replicate local up`` prints
(``ECR_REPLICATE_STATE_MACHINE_ARN``, see :mod:`ecr_replicate_cli.deployment`).
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable, Mapping
from typing import Any

from ecr_replicate.errors import InvalidInputError
from ecr_replicate_cli.deployment import ENV_REPLICATE_ARN, describe_stack, stack_outputs

NO_DEPLOYMENT = (
    "no execution given and no deployment to take the latest one from: pass EXECUTION_ARN, "
    f"or --stack NAME, or export what `ecr-replicate local up` prints ({ENV_REPLICATE_ARN} and the rest)"
)


#: what Step Functions refuses in an execution name: whitespace, brackets, wildcards, the
#: characters it reserves, control characters; and more than 80 characters
_NOT_IN_A_NAME = re.compile(r"[\s<>{}\[\]?*\"#%\\^|~`$&,;:/\x00-\x1f\x7f-\x9f]")
MAX_NAME = 80


def is_execution_name(text: str) -> bool:
    return 0 < len(text) <= MAX_NAME and not _NOT_IN_A_NAME.search(text)


def arn_region(arn: str) -> str | None:
    parts = arn.split(":")
    return parts[3] if len(parts) > 5 and parts[0] == "arn" and parts[3] else None


def stepfunctions_client(region: str | None = None) -> Any:
    """A Step Functions client; boto3 reads ``AWS_ENDPOINT_URL`` and credentials from the environment."""
    import boto3  # noqa: PLC0415 - keep --help fast

    return boto3.client("stepfunctions", region_name=region)  # type: ignore[call-overload]


def cloudformation_client(region: str | None = None) -> Any:
    import boto3  # noqa: PLC0415

    return boto3.client("cloudformation", region_name=region)  # type: ignore[call-overload]


def stack_state_machine(outputs: Mapping[str, str], stack: str) -> str:
    """The replication state machine's ARN among the stack's outputs (not the backfill one)."""
    machines = [(key, value) for key, value in outputs.items() if ":stateMachine:" in value]
    if not machines:
        raise InvalidInputError(f"stack {stack!r} has no state machine ARN among its outputs")
    machines.sort(key=lambda kv: ("backfill" in kv[0].lower(), "replicat" not in kv[0].lower()))
    return machines[0][1]


def is_execution_arn(text: str) -> bool:
    return text.startswith("arn:") and ":execution:" in text and len(text.split(":")) >= 8


def check_execution(text: str) -> str:
    """``text`` if it can name an execution (an execution ARN, or a name Step Functions allows),
    else an InvalidInputError: refused before any call."""
    if text.startswith("arn:"):
        if not is_execution_arn(text):
            raise InvalidInputError(f"not an execution ARN: {text[:120]!r}")
    elif not is_execution_name(text):
        raise InvalidInputError(f"{text[:80]!r} is not an execution ARN or name")
    return text


def resolve_execution(
    execution: str | None,
    machine: str | None,
    *,
    sfn_factory: Callable[[str | None], Any] = stepfunctions_client,
    wait: Callable[[], bool] | None = None,
) -> str:
    """An execution ARN from an ARN, a name within ``machine``, or ``machine``'s latest execution.

    ``wait``: when the state machine has no execution yet, called before asking again (``status
    --follow`` waits for the first push); returning False gives up."""
    if execution is not None:
        check_execution(execution)
        if execution.startswith("arn:"):
            return execution
    if not machine:
        if execution:
            raise InvalidInputError(
                f"{execution[:80]!r} is not an execution ARN or name: give the execution ARN, or the "
                f"deployment (--stack NAME, or {ENV_REPLICATE_ARN}) whose execution it names"
            )
        raise InvalidInputError(NO_DEPLOYMENT)
    if execution:
        return machine.replace(":stateMachine:", ":execution:", 1) + ":" + execution
    sfn = sfn_factory(arn_region(machine))
    while True:
        # newest first
        newest = sfn.list_executions(stateMachineArn=machine, maxResults=1).get("executions", [])
        if newest:
            return str(newest[0]["executionArn"])
        if wait is None or not wait():
            raise InvalidInputError(f"state machine {machine} has no executions yet")


def deployment_machine(
    stack: str | None, region: str | None, cfn_factory: Callable[[str | None], Any] = cloudformation_client
) -> tuple[str | None, dict[str, str]]:
    """The replication state machine and the outputs of ``--stack`` (else of the environment)."""
    if stack:
        outputs = stack_outputs(describe_stack(cfn_factory(region), stack))
        return stack_state_machine(outputs, stack), outputs
    return os.environ.get(ENV_REPLICATE_ARN, "").strip() or None, {}
