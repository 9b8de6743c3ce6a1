"""Which execution ``status`` shows: an ARN, a name within the deployment, or the latest."""

from __future__ import annotations

from typing import Any

import pytest

from ecr_replicate.errors import InvalidInputError
from ecr_replicate_cli.executions import resolve_execution, stack_state_machine

MACHINE = "arn:aws:states:eu-central-1:123456789012:stateMachine:ecr-replicate-ReplicateStateMachine"
EXECUTION = MACHINE.replace(":stateMachine:", ":execution:") + ":ecr-push-1"


class Sfn:
    def __init__(self, answers: list[list[dict[str, Any]]]) -> None:
        self.answers = answers
        self.calls: list[dict[str, Any]] = []

    def list_executions(self, **kwargs: Any) -> dict[str, Any]:
        self.calls.append(kwargs)
        return {"executions": self.answers.pop(0) if self.answers else []}


def test_an_arn_is_taken_as_it_is_and_a_name_within_the_machine() -> None:
    assert resolve_execution(EXECUTION, None) == EXECUTION
    assert resolve_execution("ecr-push-1", MACHINE) == EXECUTION
    with pytest.raises(InvalidInputError, match="not an execution ARN"):
        resolve_execution(MACHINE, None)
    with pytest.raises(InvalidInputError, match="is not an execution ARN or name: give the execution ARN"):
        resolve_execution("ecr-push-1", None)


def test_nothing_given_is_the_latest_execution_of_the_machines_region() -> None:
    sfn = Sfn([[{"executionArn": EXECUTION}]])
    regions: list[str | None] = []

    def factory(region: str | None) -> Sfn:
        regions.append(region)
        return sfn

    assert resolve_execution(None, MACHINE, sfn_factory=factory) == EXECUTION
    assert regions == ["eu-central-1"] and sfn.calls == [{"stateMachineArn": MACHINE, "maxResults": 1}]


def test_no_execution_yet_is_an_error_or_a_wait() -> None:
    with pytest.raises(InvalidInputError, match="has no executions yet"):
        resolve_execution(None, MACHINE, sfn_factory=lambda region: Sfn([]))
    waits: list[int] = []

    def wait() -> bool:
        waits.append(1)
        return True

    sfn = Sfn([[], [], [{"executionArn": EXECUTION}]])
    found = resolve_execution(None, MACHINE, sfn_factory=lambda region: sfn, wait=wait)
    assert found == EXECUTION and len(waits) == 2


def test_the_stacks_replication_machine_not_the_backfill_one() -> None:
    outputs = {
        "BackfillStateMachineArn": MACHINE.replace("ReplicateStateMachine", "backfill"),
        "StateMachineArn": MACHINE,
        "TopicArn": "arn:aws:sns:eu-central-1:123456789012:t",
    }
    assert stack_state_machine(outputs, "ecr-replicate") == MACHINE
    with pytest.raises(InvalidInputError, match="no state machine ARN"):
        stack_state_machine({"TopicArn": "x"}, "other")
