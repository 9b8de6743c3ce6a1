"""Record failure: whatever Step Functions caught, a region's record is small and readable."""

from __future__ import annotations

import json
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ecr_replicate.errors import InvalidInputError
from ecr_replicate.failures import MAX_RECORD_BYTES, failed_region, from_caught_error, record_bytes
from ecr_replicate.handlers import record_failure
from tests.unit.handlers.conftest import DIGEST
from tests.unit.handlers.test_copy_image import item

STACK = [f'  File "/var/task/ecr_replicate/oci/blobs.py", line {n}, in copy_blob\n' for n in range(3000)]
LAMBDA_CAUSE = json.dumps(
    {
        "errorMessage": "connection reset by 127.0.0.1:5003",
        "errorType": "RegistryUnavailableError",
        "requestId": "r-1",
        "stackTrace": STACK,
    }
)
BUILD_CAUSE = json.dumps(
    {
        "Id": "ecr-replicate-copy:5f0c",
        "BuildStatus": "FAILED",
        "Phases": [
            {"PhaseType": "INSTALL", "PhaseStatus": "SUCCEEDED"},
            {
                "PhaseType": "BUILD",
                "PhaseStatus": "FAILED",
                "Contexts": [
                    {
                        "StatusCode": "COMMAND_EXECUTION_ERROR",
                        "Message": "Error while executing command: ... Reason: exit status 1",
                    }
                ],
            },
        ],
        "Logs": {"DeepLink": "https://console.aws.amazon.com/cloudwatch/home?region=us-east-1#logEvent:x"},
        "Environment": {"EnvironmentVariables": [{"Name": "REPLICATION_ITEM", "Value": "x" * 30_000}]},
    }
)


def caught(error: str, cause: str | None) -> dict[str, Any]:
    failure = {"Error": error} if cause is None else {"Error": error, "Cause": cause}
    return {**item(), "ensured": None, "failure": failure}


def test_a_lambda_error_keeps_its_name_and_message_not_its_stack(lambda_env, context):
    out = record_failure.handler(caught("RegistryUnavailableError", LAMBDA_CAUSE), context)
    assert len(LAMBDA_CAUSE) > 200_000
    assert out["region"] == "eu-west-1" and out["digest"] == DIGEST and out["status"] == "FAILED"
    assert (out["error"], out["cause"]) == ("RegistryUnavailableError", "connection reset by 127.0.0.1:5003")
    assert (out["bytesCopied"], out["blobsCopied"], out["seconds"]) == (0, 0, 0.0)


def test_a_failed_build_says_which_phase_failed_and_where_its_log_is(lambda_env, context):
    out = record_failure.handler(caught("States.TaskFailed", BUILD_CAUSE), context)
    assert out["error"] == "States.TaskFailed"
    assert out["cause"].startswith("CodeBuild build ecr-replicate-copy:5f0c ended FAILED in phase BUILD: ")
    assert "exit status 1" in out["cause"] and "(log: https://console.aws.amazon.com/" in out["cause"]
    assert len(json.dumps(out)) <= MAX_RECORD_BYTES


@pytest.mark.parametrize(
    "error, cause, message",
    [
        ("States.Timeout", "Task timed out after 7200.00 seconds", "Task timed out after 7200.00 seconds"),
        ("States.TaskFailed", None, None),
        ("Lambda.Unknown", "[1, 2]", "[1, 2]"),
        ("E" * 300, "é\x00\n" * 10_000, None),
    ],
)
def test_any_cause_gives_a_bounded_record(lambda_env, context, error, cause, message):
    out = record_failure.handler(caught(error, cause), context)
    assert len(json.dumps(out)) <= MAX_RECORD_BYTES
    assert out["error"] == (error if len(error) <= 160 else error[:157] + "...")
    if message is not None:
        assert out["cause"] == message


def test_a_state_without_failure_or_region_is_still_recorded(lambda_env, context):
    assert record_failure.handler({}, context)["region"] == "unknown"
    with pytest.raises(InvalidInputError):
        record_failure.handler(["not", "an", "object"], context)


@settings(max_examples=200, deadline=None)
@given(region=st.text(max_size=300), error=st.text(max_size=600), message=st.text(max_size=5000))
def test_the_record_bound_holds_for_any_text(region: str, error: str, message: str) -> None:
    record = failed_region(region, DIGEST, error, message)
    assert record_bytes(record) <= MAX_RECORD_BYTES
    assert len(json.dumps(record.to_json(), ensure_ascii=False).encode()) <= MAX_RECORD_BYTES


def test_from_caught_error_is_what_the_handler_returns(lambda_env, context):
    state = caught("RegistryUnavailableError", LAMBDA_CAUSE)
    assert record_failure.handler(state, context) == from_caught_error(state).to_json()
