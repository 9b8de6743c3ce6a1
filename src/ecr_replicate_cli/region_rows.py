"""Per-region progress of one execution, from its Step Functions history (local or AWS alike).

``region_rows(events)`` turns ``GetExecutionHistory`` events into one :class:`RegionRow` per Map
iteration (= per target region). ``MapIteration*`` events carry the iteration ``index``; the events
inside an iteration do not, so each is attributed by following ``previousEventId`` back to its
iteration's ``MapIterationStarted``. The region comes from the iteration's state input (the Map's
ItemSelector puts it first) or from ``TaskScheduled.parameters`` (the task payload); rows for
iterations not started yet come from the Map's input items (``$.items``) and read ``waiting``.

Stdlib only: the ``status`` command imports this on every refresh.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

WAITING = "waiting"
ENSURING = "ensuring repository"
COPYING = "copying"
DONE = "done"
FAILED = "failed"
SUPERSEDED = "superseded"
SKIPPED = "skipped"  # a referrer whose subject is not in the region yet (RegionResult.reason)
STATES = (WAITING, ENSURING, COPYING, DONE, FAILED, SUPERSEDED, SKIPPED)

#: Iteration state names (statemachine/replicate.asl.json) -> the row state they mean.
STATE_PHASES: Mapping[str, str] = {
    "Ensure repository": ENSURING,
    "Lambda or CodeBuild?": COPYING,
    "Copy image (Lambda)": COPYING,
    "Copy image (CodeBuild)": COPYING,
}
_RESULT_STATES = {"SUCCEEDED": DONE, "SUPERSEDED": SUPERSEDED, "SKIPPED": SKIPPED, "FAILED": FAILED}
_ITERATION_END = {"MapIterationSucceeded", "MapIterationFailed", "MapIterationAborted"}
_OUTSIDE = {"ExecutionStarted", "MapStateEntered", "MapStateStarted", "MapStateSucceeded", "MapStateFailed",
            "MapStateAborted", "MapStateExited"}  # fmt: skip
_EXECUTION_END = {"ExecutionSucceeded", "ExecutionFailed", "ExecutionAborted", "ExecutionTimedOut"}


@dataclass
class RegionRow:
    """One region (Map iteration) of a run, as the status table shows it."""

    index: int
    region: str
    state: str = WAITING
    bytes_copied: int = 0
    blobs_skipped: int = 0  # already in the target (skipped) or mounted there
    blobs_copied: int = 0
    seconds: float = 0.0
    error: str | None = None
    cause: str | None = None
    status: str | None = None  # the RegionResult status once the iteration ended
    digest: str | None = None
    runtime: str | None = None  # "lambda" | "codebuild" once the copy started
    attempts: int = 0  # task attempts in the current step (> 1: it was retried)
    lag_seconds: float | None = None  # push event -> the region holds the image (RegionResult)

    @property
    def failed(self) -> bool:
        return self.state == FAILED

    @property
    def finished(self) -> bool:
        return self.state in (DONE, FAILED, SUPERSEDED, SKIPPED)


def _json(text: Any) -> Any:
    if not isinstance(text, str):
        return text
    try:
        return json.loads(text)
    except ValueError:
        return None


def cause_message(cause: Any, limit: int = 600) -> str | None:
    """A Step Functions cause for people: a Lambda's JSON cause is reduced to its ``errorMessage``
    (no ``stackTrace``); anything else is kept, on one line."""
    if not cause:
        return None
    parsed = _json(cause)
    text = str(parsed.get("errorMessage") or "") if isinstance(parsed, dict) else str(cause)
    flat = " ".join(text.split())
    return flat if len(flat) <= limit else flat[: limit - 1] + "…"


def _time(value: Any) -> datetime | None:
    if isinstance(value, datetime):
        return value if value.tzinfo else value.replace(tzinfo=UTC)
    if isinstance(value, int | float):
        return datetime.fromtimestamp(value, UTC)
    if isinstance(value, str):
        try:
            parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
        except ValueError:
            return None
        return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)
    return None


def _details(event: Mapping[str, Any]) -> dict[str, Any]:
    for key, value in event.items():
        if key.endswith("EventDetails") and isinstance(value, dict):
            return value
    return {}


def _payload_region(parameters: Any) -> str | None:
    """The region in a TaskScheduled payload: Lambda ``Payload`` or CodeBuild's REPLICATION_ITEM."""
    params = _json(parameters)
    if not isinstance(params, dict):
        return None
    payload = params.get("Payload")
    if isinstance(payload, dict) and isinstance(payload.get("region"), str):
        return str(payload["region"])
    for var in params.get("EnvironmentVariablesOverride") or []:
        item = _json(var.get("Value")) if isinstance(var, dict) else None
        if isinstance(item, dict) and isinstance(item.get("region"), str):
            return str(item["region"])
    return None


def _owners(events: list[Mapping[str, Any]]) -> dict[int, int]:
    """Event id -> Map iteration index, for every event inside an iteration."""
    by_id = {int(e["id"]): e for e in events}
    owner: dict[int, int | None] = {}
    for event in events:
        chain: list[int] = []
        current: Mapping[str, Any] | None = event
        found: int | None = None
        while current is not None:
            eid = int(current["id"])
            if eid in owner:
                found = owner[eid]
                break
            chain.append(eid)
            kind = current.get("type", "")
            if kind == "MapIterationStarted" or kind in _ITERATION_END:
                found = int(_details(current).get("index", -1))
                break
            if kind in _OUTSIDE:
                break
            prev = by_id.get(int(current.get("previousEventId") or 0))
            if prev is not None and prev.get("type") in _ITERATION_END:
                break  # the first event after an iteration ended is outside it
            current = prev
        for eid in chain:
            owner[eid] = found
    return {eid: idx for eid, idx in owner.items() if idx is not None and idx >= 0}


def _planned_regions(events: list[Mapping[str, Any]]) -> list[str]:
    """Regions of the Map's items (the input of the last MapStateEntered), in index order."""
    for event in reversed(events):
        if event.get("type") == "MapStateEntered":
            data = _json(_details(event).get("input"))
            items = data.get("items") if isinstance(data, dict) else None
            if isinstance(items, list):
                return [str(i.get("region", "")) if isinstance(i, dict) else "" for i in items]
            return []
    return []


def _apply_result(row: RegionRow, result: Any) -> None:
    if not isinstance(result, dict) or result.get("status") not in _RESULT_STATES:
        return
    row.status = str(result["status"])
    row.state = _RESULT_STATES[row.status]
    row.bytes_copied = int(result.get("bytesCopied") or 0)
    row.blobs_skipped = int(result.get("blobsSkipped") or 0) + int(result.get("blobsMounted") or 0)
    row.blobs_copied = int(result.get("blobsCopied") or 0)
    row.digest = result.get("digest") or row.digest
    lag = result.get("lagSeconds")
    row.lag_seconds = float(lag) if isinstance(lag, int | float) else None
    if row.status == "FAILED":
        row.error = result.get("error") or row.error
        row.cause = result.get("cause") or row.cause
    elif row.status == "SKIPPED":
        row.error, row.cause = None, result.get("reason")
    else:
        row.error = row.cause = None


class _Iterations:
    """Accumulates the rows while walking the events in order."""

    def __init__(self, events: list[Mapping[str, Any]]) -> None:
        self.owners = _owners(events)
        self.rows = {
            i: RegionRow(index=i, region=region) for i, region in enumerate(_planned_regions(events))
        }
        self.started: dict[int, datetime] = {}
        self.ended: dict[int, datetime] = {}
        self.last_output: dict[int, Any] = {}
        self.execution_end: str | None = None

    def add(self, event: Mapping[str, Any]) -> None:
        kind = str(event.get("type", ""))
        if kind in _EXECUTION_END:
            self.execution_end = kind
        idx = self.owners.get(int(event["id"]))
        if idx is None:
            return
        row = self.rows.setdefault(idx, RegionRow(index=idx, region=""))
        details = _details(event)
        stamp = _time(event.get("timestamp"))
        if kind == "MapIterationStarted" and stamp is not None:
            self.started[idx] = stamp
        elif kind.endswith("StateEntered"):
            _entered(row, details)
        elif kind == "TaskScheduled":
            row.attempts += 1
            row.region = row.region or _payload_region(details.get("parameters")) or ""
        elif kind == "TaskFailed" and not row.finished:
            row.error = f"{details.get('error', 'error')} (retrying)"
            row.cause = cause_message(details.get("cause"))
        elif kind == "TaskSucceeded" and not row.finished:
            row.error = row.cause = None
        elif kind.endswith("StateExited"):
            self.last_output[idx] = _json(details.get("output"))
        elif kind in _ITERATION_END:
            if stamp is not None:
                self.ended[idx] = stamp
            if kind == "MapIterationSucceeded":
                _apply_result(row, self.last_output.get(idx))
                row.state = row.state if row.finished else DONE
            else:
                row.state, row.status = FAILED, "FAILED"
                row.error = (row.error or kind).removesuffix(" (retrying)")

    def finish(self, clock: datetime | None) -> list[RegionRow]:
        for idx, row in self.rows.items():
            if self.execution_end is not None and not row.finished and idx in self.started:
                row.state = FAILED
                row.error = row.error or f"execution ended ({self.execution_end})"
            begin, end = self.started.get(idx), self.ended.get(idx) or (None if row.finished else clock)
            if begin is not None and end is not None:
                row.seconds = max(0.0, (end - begin).total_seconds())
        return [self.rows[i] for i in sorted(self.rows)]


def _entered(row: RegionRow, details: Mapping[str, Any]) -> None:
    data = _json(details.get("input"))
    if not row.region and isinstance(data, dict) and isinstance(data.get("region"), str):
        row.region = str(data["region"])
    name = str(details.get("name", ""))
    phase = STATE_PHASES.get(name) or (COPYING if name.startswith("Copy") else None)
    if phase is not None and not row.finished:
        if phase != row.state:
            row.attempts = 0
        row.state = phase
    if name.startswith("Copy"):
        row.runtime = "codebuild" if "CodeBuild" in name else "lambda"


def region_rows(history_events: Iterable[Mapping[str, Any]], now: datetime | None = None) -> list[RegionRow]:
    """One row per target region, in Map index order. ``now`` (default: the last event's time)
    is the clock for the ``seconds`` of iterations still running."""
    events = sorted(history_events, key=lambda e: int(e["id"]))
    if not events:
        return []
    iterations = _Iterations(events)
    for event in events:
        iterations.add(event)
    return iterations.finish(now or _time(events[-1].get("timestamp")))
