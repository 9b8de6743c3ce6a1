"""boto3 clients of the local AWS, made once and reused.

Making a boto3 client costs a few milliseconds of CPU (botocore copies its event handlers for
each one), and the twin used to make one for every Step Functions task, every recorded push and
every delivered event: on the workflow's path, in the process that also serves the ECR fronts.
Clients are thread-safe; :class:`ClientCache` keeps one per key (service, region, endpoint and
the credentials it signs with: a new session of a role is a new key), at most ``limit``, the
least recently used forgotten first.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Callable, Hashable
from typing import Any

DEFAULT_LIMIT = 64


class ClientCache:
    def __init__(self, limit: int = DEFAULT_LIMIT) -> None:
        if limit < 1:
            raise ValueError("a client cache holds at least one client")
        self.limit = limit
        self._clients: OrderedDict[Hashable, Any] = OrderedDict()
        self._lock = threading.Lock()  # boto3's default session is not safe to make clients from at once

    def get(self, key: Hashable, make: Callable[[], Any]) -> Any:
        """The client of ``key``, made by ``make()`` the first time."""
        with self._lock:
            client = self._clients.get(key)
            if client is None:
                client = self._clients[key] = make()
                while len(self._clients) > self.limit:
                    self._clients.popitem(last=False)
            else:
                self._clients.move_to_end(key)
            return client

    def clear(self) -> None:
        with self._lock:
            self._clients.clear()

    def __len__(self) -> int:
        with self._lock:
            return len(self._clients)
