"""One local Lambda execution environment: ``python -m ecr_replicate_local.lambda_worker REQ RESP``.

Started by :mod:`ecr_replicate_local.lambda_runtime` with the function's environment (its
template variables, its role's credentials, ``_HANDLER``, ``LAMBDA_TASK_ROOT``...), it does
what Lambda's Python runtime does: imports the handler once (the init phase), then serves
invocations one at a time -- each with a real context object (request id, ARN, memory, the
remaining time) -- until its parent closes the pipe. Requests arrive on file descriptor REQ and
answers leave on RESP as length-prefixed JSON frames; stdout is the function's log stream and
goes where stderr goes, so a handler's prints never mix with the parent's output.

This module imports nothing of the local twin (no moto): the environment holds only what the
function would have on AWS.
"""

from __future__ import annotations

import importlib
import json
import os
import sys
import time
import traceback
from typing import Any

_HEADER = 8
MAX_FRAME = 64 * 1024 * 1024


def read_frame(fd: int) -> bytes | None:
    """One frame from ``fd``; None at end of file."""
    header = _read_exactly(fd, _HEADER)
    if header is None:
        return None
    size = int.from_bytes(header, "big")
    if size > MAX_FRAME:
        raise ValueError(f"frame of {size} bytes")
    body = _read_exactly(fd, size)
    if body is None:
        raise EOFError("frame cut short")
    return body


def write_frame(fd: int, data: bytes) -> None:
    view = memoryview(len(data).to_bytes(_HEADER, "big") + data)
    while view:
        written = os.write(fd, view)
        view = view[written:]


def _read_exactly(fd: int, size: int) -> bytes | None:
    chunks: list[bytes] = []
    left = size
    while left:
        chunk = os.read(fd, min(left, 1 << 20))
        if not chunk:
            if left == size and not chunks:
                return None
            raise EOFError("pipe closed mid-frame")
        chunks.append(chunk)
        left -= len(chunk)
    return b"".join(chunks)


class LambdaContext:
    """The context object Lambda's Python runtime passes to a handler."""

    def __init__(self, request: dict[str, Any]) -> None:
        self.function_name = os.environ["AWS_LAMBDA_FUNCTION_NAME"]
        self.function_version = os.environ.get("AWS_LAMBDA_FUNCTION_VERSION", "$LATEST")
        self.memory_limit_in_mb = int(os.environ["AWS_LAMBDA_FUNCTION_MEMORY_SIZE"])
        self.log_group_name = os.environ.get("AWS_LAMBDA_LOG_GROUP_NAME", "")
        self.log_stream_name = os.environ.get("AWS_LAMBDA_LOG_STREAM_NAME", "")
        self.invoked_function_arn = str(request["invokedFunctionArn"])
        self.aws_request_id = str(request["requestId"])
        self.identity = None
        self.client_context = None
        self._deadline_ms = int(request["deadlineMs"])

    def get_remaining_time_in_millis(self) -> int:
        return max(0, self._deadline_ms - int(time.time() * 1000))


def _error(error_type: str, message: str, trace: list[str] | None = None) -> dict[str, Any]:
    """What Lambda's Python runtime answers for a failed invocation (requestId added per call)."""
    return {"errorMessage": message, "errorType": error_type, "stackTrace": trace or []}


def _load_handler() -> tuple[Any, dict[str, Any] | None]:
    handler = os.environ["_HANDLER"]
    module_name, _, attribute = handler.rpartition(".")
    sys.path.insert(0, os.environ["LAMBDA_TASK_ROOT"])
    try:
        module = importlib.import_module(module_name)
    except Exception as exc:
        return None, _error("Runtime.ImportModuleError", f"Unable to import module '{module_name}': {exc}")
    function = getattr(module, attribute, None)
    if not callable(function):
        return None, _error(
            "Runtime.HandlerNotFound", f"Handler '{attribute}' missing on module '{module_name}'"
        )
    return function, None


def _invoke(function: Any, request: dict[str, Any]) -> dict[str, Any]:
    try:
        event = json.loads(request["payload"]) if request["payload"].strip() else None
    except ValueError as exc:
        return {"error": _error("Runtime.UnmarshalError", f"Unable to unmarshal input: {exc}")}
    try:
        result = function(event, LambdaContext(request))
    except Exception as exc:
        # the handler's frames, as Lambda's runtime lists them (Step Functions puts them in Cause)
        trace = traceback.format_list(traceback.extract_tb(exc.__traceback__))
        print(f"[ERROR] {type(exc).__name__}: {exc}", file=sys.stderr, flush=True)
        return {"error": _error(type(exc).__name__, str(exc), trace)}
    try:
        return {"payload": json.dumps(result)}
    except (TypeError, ValueError) as exc:
        return {"error": _error("Runtime.MarshalError", f"Unable to marshal response: {exc}")}


def main(argv: list[str]) -> int:
    requests, answers = int(argv[0]), int(argv[1])
    os.dup2(sys.stderr.fileno(), sys.stdout.fileno())  # the log stream, not the parent's stdout
    function, init_error = _load_handler()
    write_frame(answers, json.dumps({"ready": init_error is None, "error": init_error}).encode())
    while True:
        frame = read_frame(requests)
        if frame is None:
            return 0
        request = json.loads(frame)
        answer = {"error": init_error} if init_error is not None else _invoke(function, request)
        if answer.get("error") is not None:
            answer["error"] = {**answer["error"], "requestId": request["requestId"]}
        sys.stdout.flush()
        sys.stderr.flush()
        write_frame(answers, json.dumps(answer).encode())


if __name__ == "__main__":  # pragma: no cover - runs as a child process
    sys.exit(main(sys.argv[1:]))
