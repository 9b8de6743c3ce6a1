"""The front's record of every request it answered, for tests and for the operator.

One :class:`JournalEntry` per request: who (principal), what (IAM action), on what (resource
ARN), whether it was allowed, and the status answered. Bounded (the oldest entries go first);
thread-safe. Nothing secret is recorded: no token, no header, no query string.
"""

from __future__ import annotations

import threading
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass

DEFAULT_CAPACITY = 100_000


@dataclass(frozen=True)
class JournalEntry:
    time: float
    region: str
    method: str
    path: str
    principal: str | None  # None: no valid token
    action: str | None  # None: needs no action (GET /v2/) or not an API call
    resource: str | None
    allowed: bool | None  # None: the authorizer was not asked
    status: int
    reason: str = ""


class Journal:
    def __init__(self, capacity: int = DEFAULT_CAPACITY) -> None:
        self._entries: deque[JournalEntry] = deque(maxlen=capacity)
        self._lock = threading.Lock()

    def record(self, entry: JournalEntry) -> None:
        with self._lock:
            self._entries.append(entry)

    def entries(self, where: Callable[[JournalEntry], bool] | None = None) -> list[JournalEntry]:
        with self._lock:
            snapshot = list(self._entries)
        return snapshot if where is None else [entry for entry in snapshot if where(entry)]

    def denied(self) -> list[JournalEntry]:
        """Requests the authorizer refused."""
        return self.entries(lambda entry: entry.allowed is False)

    def actions(self, principal: str | None = None) -> set[str]:
        """The actions asked for (by ``principal``, if given), allowed or not."""
        return {
            entry.action
            for entry in self.entries()
            if entry.action is not None and (principal is None or entry.principal == principal)
        }

    def clear(self) -> None:
        with self._lock:
            self._entries.clear()

    def __len__(self) -> int:
        with self._lock:
            return len(self._entries)
