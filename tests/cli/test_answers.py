"""What people read: a failed run's reason as text, a summary that says what moved, one line for
each kind of failure of a command (ecr_replicate_cli.exits)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from botocore.exceptions import ClientError, EndpointConnectionError, NoCredentialsError, NoRegionError

from ecr_replicate.errors import InvalidInputError, RegistryUnavailableError
from ecr_replicate.model import RegionResult
from ecr_replicate.workflow import region_line, summarize
from ecr_replicate_cli import exits
from ecr_replicate_cli.history import failure_text, summary_text
from ecr_replicate_cli.region_rows import region_rows
from ecr_replicate_cli.status_table import plain_row

DIGEST = "sha256:" + "ab" * 32


# --- why a run failed -------------------------------------------------------------------------


def test_a_lambda_error_reads_as_type_and_message_never_json() -> None:
    cause = json.dumps(
        {
            "errorMessage": "fetch manifest 127.0.0.1:5000/team/ap:v1:\n  MANIFEST_UNKNOWN manifest unknown",
            "errorType": "ImageNotFoundError",
            "requestId": "a1",
            "stackTrace": ['  File "/var/task/x.py"', "..."],
        }
    )
    text = summary_text({"status": "FAILED", "error": "ImageNotFoundError", "cause": cause})
    assert (
        text
        == "ImageNotFoundError: fetch manifest 127.0.0.1:5000/team/ap:v1: MANIFEST_UNKNOWN manifest unknown"
    )
    assert "{" not in text and "stackTrace" not in text


def test_the_runs_own_summary_is_kept_as_written() -> None:
    summary = (
        "FAILED: team/app:v1 from us-east-1: 1 of 2 regions replicated; failed: eu-west-1\n- eu-west-1: ..."
    )
    assert failure_text("ReplicationFailed", summary) == summary
    assert failure_text("ReplicationFailed", json.dumps({"text": summary})) == summary


@pytest.mark.parametrize(
    ("error", "cause", "expected"),
    [
        ("States.Timeout", "", "States.Timeout"),
        ("States.TaskFailed", "build failed", "States.TaskFailed: build failed"),
        ("", "", ""),
        (None, None, ""),
        ("Lambda.Unknown", json.dumps({"errorMessage": "out of memory"}), "Lambda.Unknown: out of memory"),
    ],
)
def test_other_failures_on_one_line(error: str | None, cause: str | None, expected: str) -> None:
    assert failure_text(error, cause) == expected


def test_an_aborted_run_says_so() -> None:
    assert summary_text({"status": "ABORTED"}) == "ABORTED"


# --- what a region moved ----------------------------------------------------------------------


def result(**fields: Any) -> RegionResult:
    base: dict[str, Any] = {"region": "eu-west-1", "status": "SUCCEEDED", "digest": DIGEST, "seconds": 0.2}
    return RegionResult.model_validate({**base, **fields})


def test_a_push_that_only_moved_a_tag_says_so() -> None:
    assert region_line(result()) == "- eu-west-1: SUCCEEDED, tag set, image already there, 0.2 s"


def test_copied_bytes_blobs_and_what_was_there() -> None:
    line = region_line(result(bytesCopied=3 * 1024 * 1024, blobsCopied=1, blobsSkipped=2, blobsMounted=1))
    assert line == "- eu-west-1: SUCCEEDED, 3.0 MiB copied (1 blob), 3 blobs already there, 0.2 s"


def test_superseded_is_explained() -> None:
    assert "newer push" in region_line(result(status="SUPERSEDED"))


def state(regions: list[str], results: list[dict[str, Any]]) -> dict[str, Any]:
    item = {"repository": "team/app", "tag": "v1", "digest": DIGEST, "mediaType": "m", "sizeBytes": 1}
    item |= {"sourceRegion": "us-east-1", "sourceRegistry": "s", "targetRegistry": "t", "runtime": "lambda"}
    return {
        "status": "PLANNED",
        "maxConcurrency": 10,
        "request": {"repository": "team/app", "tag": "v1", "sourceRegion": "us-east-1", "trigger": "manual"},
        "image": {"digest": DIGEST, "mediaType": "m", "sizeBytes": 1},
        "items": [{**item, "region": region} for region in regions],
        "regions": results,
    }


def test_one_region_is_one_region() -> None:
    done = {"region": "eu-west-1", "status": "SUCCEEDED", "digest": DIGEST}
    assert summarize(state(["eu-west-1"], [done])).text.splitlines()[0].endswith("to 1 region")
    two = summarize(state(["eu-west-1", "ap-southeast-1"], [done, {**done, "region": "ap-southeast-1"}]))
    assert two.text.splitlines()[0].endswith("to 2 regions")


# --- how a command ends -----------------------------------------------------------------------


def client_error(code: str, message: str = "no") -> ClientError:
    return ClientError({"Error": {"Code": code, "Message": message}}, "DescribeExecution")


@pytest.mark.parametrize(
    ("exc", "expected"),
    [
        (InvalidInputError("give a tag"), "give a tag"),
        (RegistryUnavailableError("connection\n  refused"), "RegistryUnavailableError: connection refused"),
        (NoCredentialsError(), "no usable AWS credentials: set AWS_PROFILE"),
        (NoRegionError(), "no AWS region: set AWS_REGION"),
        (EndpointConnectionError(endpoint_url="http://127.0.0.1:9"), "cannot reach http://127.0.0.1:9"),
        (client_error("UnrecognizedClientException", "bad token"), "AWS rejected the credentials"),
        (
            client_error("AccessDeniedException", "not you"),
            "AWS refused DescribeExecution: AccessDeniedException: not you",
        ),
    ],
)
def test_each_known_failure_is_one_line(exc: Exception, expected: str) -> None:
    line = exits.describe(exc)
    assert line is not None and expected in line and "\n" not in line


def test_a_bug_is_one_line_naming_the_file_with_its_traceback(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("ECR_REPLICATE_LOG_DIR", str(tmp_path))
    try:
        raise ZeroDivisionError("division by zero")
    except ZeroDivisionError as exc:
        code = exits.ended_by(exc, "ecr-replicate status")
    assert code == exits.EXIT_INTERNAL
    err = capsys.readouterr().err
    assert err.startswith(
        "ecr-replicate status: internal error: ZeroDivisionError: division by zero (traceback in "
    )
    (log,) = tmp_path.glob("error-*.log")
    assert "Traceback" in log.read_text() and str(log) in err and err.count("\n") == 1


def test_a_region_retrying_shows_the_message_not_the_lambda_json() -> None:
    history = json.loads((Path(__file__).parents[1] / "events" / "history_region_down.json").read_text())
    cut = next(
        pos
        for pos, event in enumerate(history)
        if event["type"] == "TaskFailed"
        and event["taskFailedEventDetails"]["error"] == "RegistryUnavailableError"
    )
    (retrying,) = [row for row in region_rows(history[: cut + 1]) if row.error]
    assert retrying.cause is not None and "Connection refused" in retrying.cause
    assert "{" not in retrying.cause and "stackTrace" not in retrying.cause
    line = plain_row(retrying)
    assert "RegistryUnavailableError (retrying): check manifest" in line and "errorType" not in line
