"""The overall time budget of one copy (``--timeout``; in Lambda the remaining time minus a margin).

Per-read timeouts alone do not bound a copy: a registry that sends one byte every few seconds
never trips them. So the budget is checked before every request and every retry wait, caps every
socket timeout, and, when it runs out, :class:`~ecr_replicate.oci.connections.SocketWatch`
shuts down the sockets still in use, so a read or write that is blocked returns at once.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable

from ecr_replicate.errors import DeadlineExceededError

#: the shortest socket timeout handed out, so a nearly spent budget still gets a clean error
MIN_TIMEOUT = 0.05


class Deadline:
    """``Deadline(None)`` never expires; ``Deadline(30.0)`` expires 30 s after it is made."""

    def __init__(self, seconds: float | None = None, *, clock: Callable[[], float] = time.monotonic) -> None:
        if seconds is not None and not (math.isfinite(seconds) and seconds > 0):
            raise ValueError("a deadline needs a finite number of seconds above zero")
        self.seconds = seconds
        self._clock = clock
        self._end = None if seconds is None else clock() + seconds
        self.cancelled = False

    def __repr__(self) -> str:
        return f"Deadline({self.seconds!r})"

    @property
    def bounded(self) -> bool:
        return self._end is not None

    def remaining(self) -> float:
        """Seconds left (``inf`` when unbounded; 0 or less once expired)."""
        return math.inf if self._end is None else self._end - self._clock()

    @property
    def expired(self) -> bool:
        return self.remaining() <= 0

    def cancel(self) -> None:
        """End the budget now (the copy was interrupted): every later check fails, nothing waits."""
        self.cancelled = True
        self._end = self._clock()

    def error(self, what: str) -> DeadlineExceededError:
        if self.cancelled:
            return DeadlineExceededError(f"{what}: the copy was interrupted")
        return DeadlineExceededError(
            f"{what}: the copy's time budget of {self.seconds:g} s ran out (a slow or stalled registry)"
        )

    def check(self, what: str) -> None:
        if self.expired:
            raise self.error(what)

    def cap(self, seconds: float) -> float:
        """``seconds``, shortened to what is left of the budget (never below MIN_TIMEOUT)."""
        return max(min(seconds, self.remaining()), MIN_TIMEOUT)

    def sleep(self, seconds: float, what: str, sleep: Callable[[float], None] = time.sleep) -> None:
        """Wait ``seconds`` unless the budget ends first: then raise instead of waiting."""
        if seconds >= self.remaining():
            raise self.error(what)
        if seconds > 0:
            sleep(seconds)
