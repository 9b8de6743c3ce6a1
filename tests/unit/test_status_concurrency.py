"""MaxConcurrency in `status`: the Map's ``maxConcurrency`` (from Plan, the template's parameter)
is read from the history, and a run whose regions it holds back says so (plain lines and the
table's headline). The run through `local up`: tests/e2e/test_parameters_tuned.py."""

from __future__ import annotations

import io
import json
from typing import Any

import pytest

from ecr_replicate_cli import follow
from ecr_replicate_cli.history import ExecutionView
from ecr_replicate_cli.region_rows import RegionRow, max_concurrency
from ecr_replicate_cli.status_table import concurrency_text, headline


def map_entered(limit: Any) -> dict[str, Any]:
    items = [{"region": region} for region in ("eu-west-1", "ap-southeast-1", "us-west-2")]
    return {
        "id": 3,
        "type": "MapStateEntered",
        "stateEnteredEventDetails": {
            "name": "Per region",
            "input": json.dumps({"items": items, "maxConcurrency": limit}),
        },
    }


@pytest.mark.parametrize(("limit", "read"), [(1, 1), (10, 10), (0, None), ("2", None), (None, None)])
def test_max_concurrency_from_the_maps_input(limit: Any, read: int | None) -> None:
    events = [{"id": 1, "type": "ExecutionStarted"}, map_entered(limit)]
    assert max_concurrency(events) == read
    assert max_concurrency(events[:1]) is None  # before the Map


def view(limit: int | None, states: tuple[str, ...] = ("copying", "waiting", "waiting")) -> ExecutionView:
    rows = [RegionRow(index=i, region=f"r{i}", state=state) for i, state in enumerate(states)]
    return ExecutionView("arn", "run", "RUNNING", "", None, rows=rows, max_concurrency=limit)


def test_the_headline_says_when_regions_wait_their_turn() -> None:
    assert headline(view(1)) == "run: RUNNING (0/3 regions done, at most 1 region at a time)"
    assert headline(view(2)) == "run: RUNNING (0/3 regions done, at most 2 regions at a time)"
    assert concurrency_text(view(3)) == concurrency_text(view(10)) == concurrency_text(view(None)) == ""
    assert headline(view(10)) == "run: RUNNING (0/3 regions done)"


def test_plain_status_says_it_too() -> None:
    out = io.StringIO()
    follow.Renderer(out, tty=False).final(view(1))
    assert out.getvalue().splitlines()[0] == "execution run: RUNNING (at most 1 region at a time)"
    out = io.StringIO()
    follow.Renderer(out, tty=False).final(view(None))
    assert out.getvalue().splitlines()[0] == "execution run: RUNNING"
