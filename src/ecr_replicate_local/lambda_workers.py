"""The processes behind the local Lambda service (:mod:`ecr_replicate_local.lambda_runtime`).

:class:`Zygote` is one long-lived process that imported the functions' libraries once
(:mod:`ecr_replicate_local.lambda_worker` ``--zygote``, in a session of its own); each
execution environment is a :class:`Worker` forked from it with the function's environment,
reached over a socket pair whose end the zygote passes back. Workers are stopped by PID.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import socket
import subprocess
import sys
import threading
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from ecr_replicate.errors import ConfigurationError
from ecr_replicate_local.lambda_worker import write_frame
from ecr_replicate_local.registry import stop_process

WORKER_MODULE = "ecr_replicate_local.lambda_worker"
PASSED_THROUGH = ("PATH", "LANG", "LC_ALL", "HOME", "TMPDIR", "SYSTEMROOT")


@dataclass(eq=False)
class Worker:
    """One execution environment: a process forked by the zygote, and the runtime's socket to it."""

    pid: int
    channel: int  # our end of its socket pair: requests out, answers in
    ready: bool = False
    init_error: dict[str, Any] | None = None

    @property
    def requests(self) -> int:
        return self.channel

    @property
    def answers(self) -> int:
        return self.channel

    def alive(self) -> bool:
        try:
            os.kill(self.pid, 0)
        except ProcessLookupError:
            return False
        except PermissionError:  # pragma: no cover - a recycled pid of another user
            return False
        return True

    def close(self) -> None:
        """Close its socket (an idle environment then ends by itself) and kill it, by PID."""
        with contextlib.suppress(OSError):
            os.close(self.channel)
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.kill(self.pid, signal.SIGKILL)


class Zygote:
    """The process execution environments are forked from (libraries imported once).

    ``log``: the file descriptor their stdout and stderr go to (the functions' log lines);
    None: this process's stderr."""

    def __init__(self, python: str, log: int | None = None) -> None:
        self.python = python
        self.log = log
        self._lock = threading.Lock()
        self._process: subprocess.Popen[bytes] | None = None
        self._control: socket.socket | None = None

    def _start(self) -> socket.socket:
        ours, theirs = socket.socketpair()
        base = {k: os.environ[k] for k in PASSED_THROUGH if k in os.environ}
        try:
            self._process = subprocess.Popen(  # noqa: S603 - fixed argv, no shell
                [self.python, "-m", WORKER_MODULE, "--zygote", str(theirs.fileno())],
                env=base,
                stdin=subprocess.DEVNULL,
                stdout=self.log if self.log is not None else _stderr_fd(),
                stderr=self.log,
                pass_fds=(theirs.fileno(),),
                start_new_session=True,
            )
        finally:
            theirs.close()
        self._control = ours
        return ours

    def fork(self, environment: Mapping[str, str]) -> Worker:
        with self._lock:
            control = self._control
            if control is None or self._process is None or self._process.poll() is not None:
                control = self._start()
            write_frame(control.fileno(), json.dumps({"env": dict(environment)}).encode())
            message, fds, _, _ = socket.recv_fds(control, 4096, 1)
        if not fds:
            raise ConfigurationError("the local Lambda runtime could not start an execution environment")
        return Worker(int(json.loads(message)["pid"]), fds[0])

    def stop(self) -> None:
        with self._lock:
            if self._control is not None:
                self._control.close()  # EOF: the zygote ends
                self._control = None
            if self._process is not None:
                stop_process(self._process, grace=2.0)
                self._process = None


def _stderr_fd() -> int | None:
    try:
        return sys.stderr.fileno()
    except (AttributeError, OSError, ValueError):
        return None
