"""A small local Lambda service: each function runs in its own worker processes, as on Lambda.

A worker (:mod:`ecr_replicate_local.lambda_worker`) is one execution environment: a
long-lived process (forked from a zygote that preloaded the libraries) with the function's
resolved ``Environment``, its execution role's credentials (a session of that role, assumed as
``lambda.amazonaws.com``), ``AWS_ENDPOINT_URL`` and the local registry settings. It serves one
invocation at a time, over a socket pair; when every
worker of a function is busy, a new one starts (a cold start), up to ``max_workers`` per
function, beyond which Lambda's ``TooManyRequestsException`` answers. An invocation that
outlives the function's ``Timeout`` kills its worker and fails with ``Sandbox.Timedout``; one
whose worker dies fails with ``Runtime.ExitError``.

Lambda's limits apply: a synchronous payload of at most 6 MB each way, environment variables of
at most 4 KB, and no reserved variable (``AWS_REGION``, ``_HANDLER``...) set by the template.
"""

from __future__ import annotations

import json
import logging
import os
import sys
import threading
import time
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from ecr_replicate.errors import ConfigurationError
from ecr_replicate_local.lambda_worker import read_frame, write_frame
from ecr_replicate_local.lambda_workers import PASSED_THROUGH, Worker, Zygote
from ecr_replicate_local.stack_spec import FunctionSpec

logger = logging.getLogger(__name__)

MAX_PAYLOAD = 6 * 1024 * 1024
MAX_ENVIRONMENT = 4 * 1024
#: Lambda gives the init phase 10 s, then re-runs an unfinished init inside the first invocation
#: under the function's timeout; the twin waits as long in all (10 s + the function's timeout).
INIT_TIMEOUT = 10.0
RESERVED = frozenset(
    {
        "_HANDLER", "_X_AMZN_TRACE_ID", "AWS_DEFAULT_REGION", "AWS_REGION", "AWS_EXECUTION_ENV",
        "AWS_LAMBDA_FUNCTION_NAME", "AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "AWS_LAMBDA_FUNCTION_VERSION",
        "AWS_LAMBDA_INITIALIZATION_TYPE", "AWS_LAMBDA_LOG_GROUP_NAME", "AWS_LAMBDA_LOG_STREAM_NAME",
        "AWS_ACCESS_KEY", "AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN",
        "AWS_LAMBDA_RUNTIME_API", "LAMBDA_TASK_ROOT", "LAMBDA_RUNTIME_DIR",
    }
)  # fmt: skip

Credentials = Callable[[], Mapping[str, str]]
"""Returns fresh role credentials (``AWS_ACCESS_KEY_ID``...) for a new execution environment."""


class LambdaRefusal(Exception):  # noqa: N818 - Lambda's own error codes are the names used
    """Lambda refused the invocation itself (the caller sees ``code``, HTTP ``status``)."""

    def __init__(self, code: str, message: str, status: int) -> None:
        super().__init__(message)
        self.code = code
        self.status = status


@dataclass
class Invocation:
    """What an invocation returned: the payload, and the error type when the function failed."""

    payload: bytes
    function_error: str | None = None
    result: Any = None  # the decoded result of a successful invocation


def check_environment(spec: FunctionSpec) -> None:
    """Lambda's checks on a function's variables (reserved names, 4 KB in total)."""
    reserved = sorted(set(spec.environment) & RESERVED)
    if reserved:
        raise ConfigurationError(
            f"function {spec.logical_id}: Lambda reserves the environment variables {', '.join(reserved)}"
        )
    size = sum(len(k.encode()) + len(v.encode()) for k, v in spec.environment.items())
    if size > MAX_ENVIRONMENT:
        raise ConfigurationError(
            f"function {spec.logical_id}: environment variables of {size} bytes exceed Lambda's 4 KB limit"
        )


@dataclass
class _Function:
    spec: FunctionSpec
    arn: str
    environment: dict[str, str]
    credentials: Credentials
    idle: list[Worker] = field(default_factory=list)
    running: int = 0


class LambdaRuntime:
    """Worker pools of the stack's functions (thread-safe: moto serves invokes on many threads)."""

    def __init__(
        self, *, max_workers: int = 40, python: str = sys.executable, log: int | None = None
    ) -> None:
        """``log``: a file descriptor for the functions' output (their JSON log lines), else stderr."""
        self.max_workers = max_workers
        self.python = python
        self._functions: dict[str, _Function] = {}
        self._zygote = Zygote(python, log)
        self._workers: set[Worker] = set()  # every live execution environment, idle or busy
        self._lock = threading.Lock()
        self._stopped = False

    def add(
        self, spec: FunctionSpec, *, arn: str, environment: Mapping[str, str], credentials: Credentials
    ) -> None:
        """Register a function: ``environment`` = everything but the role's credentials."""
        check_environment(spec)
        base = {k: os.environ[k] for k in PASSED_THROUGH if k in os.environ}
        env = {
            **base,
            **spec.environment,
            **environment,
            "_HANDLER": spec.handler,
            "LAMBDA_TASK_ROOT": str(spec.code_uri),
            "AWS_EXECUTION_ENV": "AWS_Lambda_python3.12",
            "AWS_LAMBDA_FUNCTION_NAME": spec.name,
            "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": str(spec.memory),
            "AWS_LAMBDA_FUNCTION_VERSION": "$LATEST",
            "AWS_LAMBDA_LOG_GROUP_NAME": f"/aws/lambda/{spec.name}",
            "AWS_LAMBDA_INITIALIZATION_TYPE": "on-demand",
        }
        self._functions[spec.name] = _Function(spec, arn, env, credentials)

    def function(self, name_or_arn: str) -> FunctionSpec | None:
        """The registered function a FunctionName (name, ARN, name:qualifier) designates."""
        name = name_or_arn
        if name.startswith("arn:"):
            parts = name.split(":")
            name = parts[6] if len(parts) > 6 else name
        else:
            name = name.split(":")[0]
        found = self._functions.get(name)
        return found.spec if found else None

    def prewarm(self) -> None:
        """Start one execution environment per function now (their imports run in parallel)."""
        for fn in list(self._functions.values()):
            worker = self._spawn(fn)
            with self._lock:
                fn.idle.append(worker)

    # --- invoking -------------------------------------------------------------------------------

    def invoke(self, name: str, payload: bytes) -> Invocation:
        """Run one synchronous invocation (``RequestResponse``)."""
        fn = self._functions[self.function(name).name]  # type: ignore[union-attr]
        if len(payload) > MAX_PAYLOAD:
            raise LambdaRefusal(
                "RequestEntityTooLargeException",
                f"{len(payload)} byte payload is too large for the RequestResponse invocation type "
                f"(limit {MAX_PAYLOAD} bytes)",
                413,
            )
        worker = self._acquire(fn)
        request_id = str(uuid.uuid4())
        deadline = time.time() + fn.spec.timeout
        try:
            answer = self._call(fn, worker, request_id, payload, deadline)
        except BaseException:
            self._discard(fn, worker)
            raise
        if answer.get("_dead"):
            self._discard(fn, worker)
            return _failure(answer["error"])
        self._release(fn, worker)
        if "error" in answer and answer["error"] is not None:
            return _failure(answer["error"])
        text = str(answer["payload"])
        if len(text.encode()) > MAX_PAYLOAD:
            return _failure(
                {
                    "errorType": "Function.ResponseSizeTooLarge",
                    "errorMessage": (
                        f"Response payload size exceeded maximum allowed payload size ({MAX_PAYLOAD} bytes)."
                    ),
                }
            )
        return Invocation(text.encode(), None, json.loads(text))

    def _call(
        self, fn: _Function, worker: Worker, request_id: str, payload: bytes, deadline: float
    ) -> dict[str, Any]:
        if not worker.ready:
            init = self._read(worker, time.time() + INIT_TIMEOUT + fn.spec.timeout)
            if init is None:
                return {
                    "_dead": True,
                    "error": _runtime_error(request_id, "Runtime.InitError", "init did not finish"),
                }
            worker.ready = True
            worker.init_error = init.get("error")
        request = {
            "requestId": request_id,
            "invokedFunctionArn": fn.arn,
            "deadlineMs": int(deadline * 1000),
            "payload": payload.decode(),
        }
        try:
            write_frame(worker.requests, json.dumps(request).encode())
        except OSError:
            return {"_dead": True, "error": _runtime_error(request_id, "Runtime.ExitError", "Runtime exited")}
        answer = self._read(worker, deadline)
        if answer is None:
            if time.time() >= deadline:
                message = f"RequestId: {request_id} Error: Task timed out after {fn.spec.timeout:.2f} seconds"
                return {"_dead": True, "error": {"errorType": "Sandbox.Timedout", "errorMessage": message}}
            return {"_dead": True, "error": _runtime_error(request_id, "Runtime.ExitError", "Runtime exited")}
        return answer

    @staticmethod
    def _read(worker: Worker, deadline: float) -> dict[str, Any] | None:
        """The worker's next frame, or None if it died or the deadline passed first."""
        import select  # noqa: PLC0415

        while True:
            left = deadline - time.time()
            if left <= 0:
                return None
            try:
                ready, _, _ = select.select([worker.answers], [], [], min(left, 0.5))
            except (OSError, ValueError):  # closed by stop()
                return None
            if ready:
                try:
                    frame = read_frame(worker.answers)
                except (OSError, EOFError, ValueError):
                    return None
                return None if frame is None else dict(json.loads(frame))
            if not worker.alive():
                return None

    # --- the pool -------------------------------------------------------------------------------

    def _acquire(self, fn: _Function) -> Worker:
        with self._lock:
            if self._stopped:
                raise LambdaRefusal("ServiceException", "the local Lambda service is stopping", 500)
            while fn.idle:
                worker = fn.idle.pop()
                if worker.alive():
                    fn.running += 1
                    return worker
                self._workers.discard(worker)
                worker.close()
            if fn.running >= self.max_workers:
                raise LambdaRefusal("TooManyRequestsException", "Rate Exceeded.", 429)
            fn.running += 1
        try:
            return self._spawn(fn)
        except BaseException:
            with self._lock:
                fn.running -= 1
            raise

    def _release(self, fn: _Function, worker: Worker) -> None:
        with self._lock:
            fn.running -= 1
            if not self._stopped:
                fn.idle.append(worker)
                return
        self._close(worker)

    def _discard(self, fn: _Function, worker: Worker) -> None:
        with self._lock:
            fn.running -= 1
        self._close(worker)

    def _close(self, worker: Worker) -> None:
        with self._lock:
            self._workers.discard(worker)
        worker.close()

    def _spawn(self, fn: _Function) -> Worker:
        env = {**fn.environment, **fn.credentials()}
        env["AWS_LAMBDA_LOG_STREAM_NAME"] = f"{time.strftime('%Y/%m/%d')}/[$LATEST]{uuid.uuid4().hex}"
        worker = self._zygote.fork(env)
        logger.debug("function %s: execution environment pid %s", fn.spec.name, worker.pid)
        with self._lock:
            self._workers.add(worker)
        return worker

    def stop(self) -> None:
        """Stop every execution environment (by PID). Safe to call twice."""
        with self._lock:
            self._stopped = True
            workers = list(self._workers)
            self._workers.clear()
            for fn in self._functions.values():
                fn.idle.clear()
        for worker in workers:
            worker.close()
        self._zygote.stop()


def _runtime_error(request_id: str, error_type: str, detail: str) -> dict[str, Any]:
    return {"errorType": error_type, "errorMessage": f"RequestId: {request_id} Error: {detail}"}


def _failure(error: Mapping[str, Any]) -> Invocation:
    """A failed invocation's payload: errorMessage, errorType, requestId, stackTrace (as Lambda)."""
    body = {"errorMessage": error.get("errorMessage", ""), "errorType": error.get("errorType", "Unknown")}
    body.update({key: error[key] for key in ("requestId", "stackTrace") if key in error})
    return Invocation(json.dumps(body).encode(), "Unhandled")
