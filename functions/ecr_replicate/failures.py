"""The record of a failed region: one bounded RegionResult, whoever saw the failure.

Both copy runtimes end a failed region here: the state machine's ``Record failure`` step (a
Catch after Lambda or CodeBuild steps, see :func:`from_caught_error`) and the CodeBuild step
itself for errors retrying cannot fix (:func:`failed_region`). Step Functions' error causes are
large (a Lambda stack trace, a whole CodeBuild build object, up to 32 KiB); the Map collects one
record per region into one state (256 KiB at most, else ``States.DataLimitExceeded``, which no
Catch handles), so a record keeps the error name and a short message, and its JSON never
exceeds :data:`MAX_RECORD_BYTES`.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from ecr_replicate.model import RegionResult

MAX_RECORD_BYTES = 1024
"""A failed region's record, as JSON: 40 regions stay far below the 256 KiB state limit."""
MAX_ERROR_BYTES = 160
MAX_MESSAGE_CHARS = 600
_MAX_NAME_BYTES = 80
_ELLIPSIS = "..."


def _clip(text: str, limit: int) -> str:
    """At most ``limit`` characters, "..." marking a cut."""
    return text if len(text) <= limit else text[: max(0, limit - len(_ELLIPSIS))] + _ELLIPSIS


def _escaped_size(char: str) -> int:
    return len(json.dumps(char)) - 2


def _clip_bytes(text: str, limit: int) -> str:
    """At most ``limit`` bytes once JSON-escaped (ASCII), "..." marking a cut."""
    sizes = [_escaped_size(char) for char in text]
    if sum(sizes) <= limit:
        return text
    budget, kept = limit - len(_ELLIPSIS), 0
    for size in sizes:
        if budget < size:
            break
        budget -= size
        kept += 1
    return text[:kept] + _ELLIPSIS


def record_bytes(result: RegionResult) -> int:
    """Size of the record as JSON with ASCII escapes and spaces after separators: an upper bound
    of its size in UTF-8 (what Step Functions counts), compact or not, escaped or not."""
    return len(json.dumps(result.to_json()))


def failed_region(region: str, digest: str | None, error: str, message: str | None) -> RegionResult:
    """A FAILED RegionResult with the error name and a message, at most MAX_RECORD_BYTES."""
    result = RegionResult(
        region=_clip_bytes(str(region), _MAX_NAME_BYTES),
        status="FAILED",
        digest=_clip_bytes(digest, _MAX_NAME_BYTES) if digest else None,
        error=_clip_bytes(error or "Error", MAX_ERROR_BYTES),
    )
    if message:
        room = MAX_RECORD_BYTES - record_bytes(result) - len(', "cause": ""')
        result = result.model_copy(update={"cause": _clip_bytes(_clip(message, MAX_MESSAGE_CHARS), room)})
    return result


def readable_cause(cause: str | None) -> str | None:
    """The message inside a Step Functions error cause: a Lambda error's ``errorMessage``, a
    CodeBuild build's status, failed phase and log link, else the text itself (clipped)."""
    if not cause:
        return None
    try:
        data = json.loads(cause)
    except ValueError:
        return _clip(cause, MAX_MESSAGE_CHARS)
    if isinstance(data, dict):
        if "errorMessage" in data:
            return _clip(str(data["errorMessage"]), MAX_MESSAGE_CHARS)
        build = data.get("Build", data)
        if isinstance(build, dict) and "BuildStatus" in build:
            return _clip(_build_summary(build), MAX_MESSAGE_CHARS)
    return _clip(cause, MAX_MESSAGE_CHARS)


def _build_summary(build: Mapping[str, Any]) -> str:
    text = f"CodeBuild build {build.get('Id', '?')} ended {build['BuildStatus']}"
    for phase in build.get("Phases") or []:
        if isinstance(phase, dict) and phase.get("PhaseStatus") not in (None, "SUCCEEDED"):
            contexts = [c.get("Message", "") for c in phase.get("Contexts") or [] if isinstance(c, dict)]
            detail = "; ".join(str(message) for message in contexts if message)
            text += f" in phase {phase.get('PhaseType', '?')}" + (f": {detail}" if detail else "")
            break
    link = (build.get("Logs") or {}).get("DeepLink") if isinstance(build.get("Logs"), dict) else None
    if link:
        text += f" (log: {link})"
    return text


def from_caught_error(state: Mapping[str, Any]) -> RegionResult:
    """The record of a region whose step failed: ``state`` is the Map iteration's state with the
    Catch's ``failure`` (``{"Error", "Cause"}``). Lenient: a record is always produced."""
    failure = state.get("failure")
    failure = failure if isinstance(failure, Mapping) else {}
    error = str(failure.get("Error") or "Error")
    cause = failure.get("Cause")
    cause = cause if isinstance(cause, str) else None
    region = state.get("region")
    digest = state.get("digest")
    return failed_region(
        str(region) if isinstance(region, str) else "unknown",
        digest if isinstance(digest, str) else None,
        error,
        readable_cause(cause),
    )
