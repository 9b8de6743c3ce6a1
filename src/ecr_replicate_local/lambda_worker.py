"""Local Lambda execution environments, forked from a zygote: ``python -m
ecr_replicate_local.lambda_worker --zygote FD``.

The zygote (started by :mod:`ecr_replicate_local.lambda_runtime`) imports the libraries every
function uses (boto3, botocore, Powertools, pydantic) once, then forks an execution environment
for each request on its control socket ``FD``: the child takes the function's environment (its
template variables, its role's credentials, ``_HANDLER``, ``LAMBDA_TASK_ROOT``...) and does what
Lambda's Python runtime does: imports the handler (the init phase, in the child), then serves
invocations one at a time -- each with a real context object (request id, ARN, memory, the
remaining time) -- until the runtime closes its socket. Requests and answers are length-prefixed
JSON frames; stdout is the function's log stream and goes where stderr goes, so a handler's
prints never mix with the parent's output. Sharing the preloaded libraries is what makes a cold
start cheap here; nothing of one environment (variables, credentials, module state of the
function's code) reaches another.

This module imports nothing of the local twin (no moto).
"""

from __future__ import annotations

import contextlib
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


PRELOADED = (
    "boto3",
    "botocore.session",
    "botocore.client",
    "aws_lambda_powertools",
    "aws_lambda_powertools.logging",
    "aws_lambda_powertools.tracing",
    "aws_lambda_powertools.metrics",
    "aws_lambda_powertools.utilities.parser",
    "pydantic",
)


def zygote(control: int) -> int:
    """Preload, then fork one execution environment per request frame ``{"env": {...}}`` and
    answer each with ``{"pid"}`` and the runtime's end of a socket pair; EOF ends the zygote."""
    import signal  # noqa: PLC0415
    import socket  # noqa: PLC0415

    os.dup2(sys.stderr.fileno(), sys.stdout.fileno())
    for name in PRELOADED:
        with contextlib.suppress(ImportError):  # a function that needs it imports it itself
            importlib.import_module(name)
    signal.signal(signal.SIGCHLD, signal.SIG_IGN)  # environments are reaped as they end
    channel = socket.socket(fileno=control)
    while True:
        frame = read_frame(control)
        if frame is None:
            return 0
        env = json.loads(frame)["env"]
        ours, theirs = socket.socketpair()
        pid = os.fork()
        if pid == 0:  # the execution environment
            channel.close()
            ours.close()
            signal.signal(signal.SIGCHLD, signal.SIG_DFL)
            os.environ.clear()
            os.environ.update(env)
            fd = theirs.detach()
            os._exit(serve(fd, fd))
        theirs.close()
        socket.send_fds(channel, [json.dumps({"pid": pid}).encode()], [ours.fileno()])
        ours.close()


def serve(requests: int, answers: int) -> int:
    """One execution environment: init (import the handler), then invocations until EOF."""
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


def main(argv: list[str]) -> int:
    """``--zygote FD`` (see :func:`zygote`), or ``REQ RESP``: one execution environment."""
    if argv and argv[0] == "--zygote":
        return zygote(int(argv[1]))
    os.dup2(sys.stderr.fileno(), sys.stdout.fileno())  # the log stream, not the parent's stdout
    return serve(int(argv[0]), int(argv[1]))


if __name__ == "__main__":  # pragma: no cover - runs as a child process
    sys.exit(main(sys.argv[1:]))
