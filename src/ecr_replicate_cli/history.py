"""One execution as ``status`` shows it: ``DescribeExecution`` + its history (+ copy heartbeats).

:func:`snapshot` reads the execution and its history; the rows come from
:func:`ecr_replicate_cli.region_rows.region_rows`, so they read the same for a local execution
(``AWS_ENDPOINT_URL`` pointing at ``ecr-replicate local up``) and a real one. Regions still
copying get their heartbeat (bytes and rate, :mod:`ecr_replicate.heartbeat`) when a reader is
given. How a run ended is text for people: ``ErrorType: message``, never the raw JSON cause.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from ecr_replicate.errors import InvalidInputError
from ecr_replicate.heartbeat import Heartbeat
from ecr_replicate_cli.region_rows import COPYING, RegionRow, cause_message, region_rows

TERMINAL = frozenset({"SUCCEEDED", "FAILED", "TIMED_OUT", "ABORTED"})
MAX_MESSAGE = 600
MAX_TEXT = 8000
SUMMARY_ERROR = "ReplicationFailed"  # the Fail state's error; its cause is the run's summary text

#: (execution name, regions copying now) -> region -> its last heartbeat
ProgressReader = Callable[[str, Sequence[str]], dict[str, Heartbeat]]


@dataclass
class ExecutionView:
    """What ``status`` shows: the execution's state and one row per region."""

    arn: str
    name: str
    status: str
    state_machine_arn: str
    input: Any
    rows: list[RegionRow] = field(default_factory=list)
    text: str = ""  # the aggregate summary text (or why the run failed) once it has ended
    progress: dict[str, Heartbeat] = field(default_factory=dict)  # region -> heartbeat, while copying

    @property
    def done(self) -> bool:
        return self.status in TERMINAL

    @property
    def failed_regions(self) -> list[str]:
        return [row.region for row in self.rows if row.failed]


def history(sfn: Any, execution_arn: str) -> list[dict[str, Any]]:
    """Every event of the execution, oldest first."""
    events: list[dict[str, Any]] = []
    for page in sfn.get_paginator("get_execution_history").paginate(executionArn=execution_arn):
        events.extend(page["events"])
    return events


def _json(text: Any) -> Any:
    try:
        return json.loads(text) if isinstance(text, str) else None
    except ValueError:
        return None


def _flat(text: Any, limit: int = MAX_MESSAGE) -> str:
    flat = " ".join(str(text).split())
    return flat if len(flat) <= limit else flat[: limit - 1] + "…"


def failure_text(error: str | None, cause: str | None) -> str:
    """``ErrorType: message`` from a Step Functions error and cause.

    A Lambda's cause is JSON (``errorType``, ``errorMessage``, ``stackTrace``...); ours at the end
    of a run is the summary JSON (``text``). Anything else is shown as it is, on one line."""
    error, cause = (error or "").strip(), (cause or "").strip()
    parsed = _json(cause)
    if isinstance(parsed, dict):
        if parsed.get("text"):
            return str(parsed["text"])
        if parsed.get("errorType") or parsed.get("errorMessage"):
            kind = str(parsed.get("errorType") or error or "Error")
            return f"{kind}: {cause_message(cause, MAX_MESSAGE) or ''}".rstrip(": ")
    if error == SUMMARY_ERROR or not error:
        return cause[:MAX_TEXT]  # our summary text (the Fail state's cause), lines kept
    return f"{error}: {_flat(cause)}" if cause else error


def summary_text(desc: dict[str, Any]) -> str:
    """The run's summary (SUCCEEDED: the output's ``text``) or why it failed, for people."""
    if desc.get("status") == "SUCCEEDED":
        output = _json(desc.get("output") or "null")
        return str(output.get("text") or "") if isinstance(output, dict) else ""
    text = failure_text(desc.get("error"), desc.get("cause"))
    return text or str(desc.get("status") or "")


def snapshot(sfn: Any, execution_arn: str, progress: ProgressReader | None = None) -> ExecutionView:
    """The execution now: its state, one row per region, and heartbeats of the regions copying."""
    from botocore.exceptions import ClientError  # noqa: PLC0415

    try:
        desc: dict[str, Any] = sfn.describe_execution(executionArn=execution_arn)
    except ClientError as exc:
        error = exc.response["Error"]
        if error.get("Code") in ("ExecutionDoesNotExist", "InvalidArn"):
            message = error.get("Message", "not found")
            raise InvalidInputError(f"execution {execution_arn}: {message}") from None
        raise
    original_input = _json(desc.get("input") or "null")
    running = str(desc["status"]) not in TERMINAL
    view = ExecutionView(
        arn=execution_arn,
        name=str(desc.get("name") or execution_arn.rsplit(":", 1)[-1]),
        status=str(desc["status"]),
        state_machine_arn=str(desc.get("stateMachineArn") or ""),
        input=original_input if original_input is not None else desc.get("input"),
        # while it runs, a region's seconds count to now, not to its last event
        rows=region_rows(history(sfn, execution_arn), now=datetime.now(UTC) if running else None),
    )
    if view.done:
        view.text = summary_text(desc)
    copying = [row.region for row in view.rows if row.state == COPYING and row.region]
    if progress is not None and copying and not view.done:
        view.progress = progress(view.name, copying)
    return view
