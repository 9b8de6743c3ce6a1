"""`backfill` follows its run through transient failures to read the Map Run's counts."""

from __future__ import annotations

import io
from typing import Any

import pytest
from botocore.exceptions import ClientError

from ecr_replicate_cli import backfill


class FlakySfn:
    """A Step Functions client whose DescribeMapRun answers 500 on the calls listed in `fail_on`."""

    def __init__(self, statuses: list[str], fail_on: set[int]) -> None:
        self.statuses = statuses
        self.fail_on = fail_on
        self.describe_calls = 0
        self.polls = 0

    def describe_execution(self, executionArn: str) -> dict[str, Any]:
        status = self.statuses[min(self.polls, len(self.statuses) - 1)]
        self.polls += 1
        return {"status": status}

    def list_map_runs(self, executionArn: str) -> dict[str, Any]:
        return {"mapRuns": [{"mapRunArn": "arn:map-run"}]}

    def describe_map_run(self, mapRunArn: str) -> dict[str, Any]:
        self.describe_calls += 1
        if self.describe_calls in self.fail_on:
            raise ClientError({"Error": {"Code": "500", "Message": "Internal"}}, "DescribeMapRun")
        done = self.describe_calls
        return {"itemCounts": {"succeeded": min(done, 3), "failed": 0, "total": 3}}


@pytest.fixture(autouse=True)
def no_sleep(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("ecr_replicate_cli.backfill.time.sleep", lambda _s: None)


def test_a_failed_read_of_the_counts_keeps_following() -> None:
    sfn = FlakySfn(["RUNNING", "RUNNING", "RUNNING", "SUCCEEDED"], fail_on={2})
    out = io.StringIO()
    status, counts = backfill.follow(sfn, "arn:exec", 3, out, tty=False)
    assert status == "SUCCEEDED"
    assert counts["succeeded"] == 3
    assert "3/3 images done" in out.getvalue()


def test_final_counts_are_asked_again_when_unreadable_at_the_end() -> None:
    sfn = FlakySfn(["SUCCEEDED"], fail_on={1, 2})
    status, counts = backfill.follow(sfn, "arn:exec", 3, io.StringIO(), tty=False)
    assert status == "SUCCEEDED"
    assert sfn.describe_calls == 3
    assert counts["succeeded"] == 3
