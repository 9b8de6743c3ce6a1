"""region_rows() on a recorded execution history (tests/events/history_region_down.json: a run of
the real workflow on the local engine with eu-west-1's registry stopped)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from ecr_replicate_cli.region_rows import region_rows

HISTORY = json.loads((Path(__file__).parent.parent / "events" / "history_region_down.json").read_text())


def first(kind: str, name: str | None = None, region: str | None = None) -> int:
    """Position of the first event of ``kind`` (optionally of state ``name`` / task for ``region``)."""
    for pos, event in enumerate(HISTORY):
        if event["type"] != kind:
            continue
        details: dict[str, Any] = next((v for k, v in event.items() if k.endswith("EventDetails")), {})
        if name is not None and details.get("name") != name:
            continue
        if region is not None and f'"region": "{region}"' not in details.get("parameters", ""):
            continue
        return pos
    raise AssertionError(f"no {kind} {name or ''} {region or ''} in the recorded history")


def by_region(events) -> dict[str, Any]:
    return {row.region: row for row in region_rows(events)}


def test_final_rows_one_per_region_in_map_order():
    rows = region_rows(HISTORY)
    assert [row.region for row in rows] == ["eu-west-1", "ap-southeast-1"]
    down, ok = rows
    assert down.state == "failed" and down.failed and down.status == "FAILED"
    assert down.error == "RegistryUnavailableError"
    assert "Connection refused" in (down.cause or "")
    assert down.attempts == 4  # the first copy and its three retries
    assert ok.state == "done" and ok.status == "SUCCEEDED" and not ok.failed
    assert ok.bytes_copied > 0 and ok.blobs_skipped == 0 and ok.runtime == "lambda"
    assert ok.digest and ok.digest.startswith("sha256:")
    assert 0 < ok.seconds < down.seconds


def test_waiting_until_the_map_starts_an_iteration():
    rows = by_region(HISTORY[: first("MapIterationStarted")])
    assert {r: row.state for r, row in rows.items()} == {"eu-west-1": "waiting", "ap-southeast-1": "waiting"}
    assert region_rows(HISTORY[: first("MapStateEntered")]) == []  # before the plan is known


def test_states_follow_the_iteration_through_its_steps():
    rows = by_region(HISTORY[: first("TaskScheduled", region="eu-west-1") + 1])
    assert rows["eu-west-1"].state == "ensuring repository"
    rows = by_region(HISTORY[: first("TaskStateEntered", name="Copy image (Lambda)") + 1])
    assert "copying" in {row.state for row in rows.values()}
    assert not any(row.finished for row in rows.values())


def test_a_retried_copy_shows_the_error_while_running():
    cut = next(
        pos
        for pos, e in enumerate(HISTORY)
        if e["type"] == "TaskFailed" and e["taskFailedEventDetails"]["error"] == "RegistryUnavailableError"
    )
    rows = by_region(HISTORY[: cut + 1])
    retrying = [row for row in rows.values() if row.error == "RegistryUnavailableError (retrying)"]
    assert len(retrying) == 1 and retrying[0].state == "copying"


def test_order_and_timestamps_as_given_by_boto3_or_json():
    shuffled = list(reversed(HISTORY))
    assert [r.state for r in region_rows(shuffled)] == ["failed", "done"]


def test_codebuild_payload_and_superseded_result():
    item = {"region": "eu-west-1", "repository": "r", "tag": "t"}
    result = {
        "region": "eu-west-1",
        "status": "SUPERSEDED",
        "digest": "sha256:" + "a" * 64,
        "bytesCopied": 10,
        "blobsSkipped": 2,
    }
    events: list[dict[str, Any]] = [
        {
            "id": 1,
            "previousEventId": 0,
            "type": "MapStateEntered",
            "stateEnteredEventDetails": {"name": "Map", "input": json.dumps({"items": [item]})},
        },
        {
            "id": 2,
            "previousEventId": 1,
            "type": "MapStateStarted",
            "mapStateStartedEventDetails": {"length": 1},
        },
        {
            "id": 3,
            "previousEventId": 2,
            "type": "MapIterationStarted",
            "mapIterationStartedEventDetails": {"name": "Map", "index": 0},
            "timestamp": 100.0,
        },
        {
            "id": 4,
            "previousEventId": 3,
            "type": "TaskStateEntered",
            "stateEnteredEventDetails": {"name": "Copy image (CodeBuild)", "input": "{}"},
        },
        {
            "id": 5,
            "previousEventId": 4,
            "type": "TaskScheduled",
            "taskScheduledEventDetails": {
                "parameters": json.dumps(
                    {
                        "EnvironmentVariablesOverride": [
                            {"Name": "REPLICATION_ITEM", "Value": json.dumps(item)}
                        ]
                    }
                )
            },
        },
        {
            "id": 6,
            "previousEventId": 5,
            "type": "TaskStateExited",
            "stateExitedEventDetails": {"name": "Copy image (CodeBuild)", "output": json.dumps(result)},
        },
        {
            "id": 7,
            "previousEventId": 6,
            "type": "MapIterationSucceeded",
            "mapIterationSucceededEventDetails": {"name": "Map", "index": 0},
            "timestamp": 103.5,
        },
        {"id": 8, "previousEventId": 7, "type": "MapStateSucceeded"},
    ]
    (row,) = region_rows(events)
    assert (row.region, row.state, row.runtime) == ("eu-west-1", "superseded", "codebuild")
    assert (row.bytes_copied, row.blobs_skipped, row.seconds) == (10, 2, 3.5)
    events[0]["stateEnteredEventDetails"]["input"] = "{}"  # region from the task payload instead
    assert region_rows(events)[0].region == "eu-west-1"
