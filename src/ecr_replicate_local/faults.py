"""Faults injected into the local AWS control planes on request (tests: throttling, outages)."""

from __future__ import annotations

import json
import threading
from dataclasses import dataclass
from typing import Any


@dataclass
class Fault:
    service: str
    action: str
    code: str
    message: str
    status: int
    remaining: int
    region: str | None
    fired: int = 0


class Faults:
    """The pending faults; :meth:`take` is asked for each request moto receives."""

    def __init__(self) -> None:
        self._faults: list[Fault] = []
        self._lock = threading.Lock()

    def add(self, fault: Fault) -> None:
        with self._lock:
            self._faults.append(fault)

    def fired(self, service: str, action: str) -> int:
        with self._lock:
            return sum(f.fired for f in self._faults if f.service == service and f.action == action)

    def take(self, response: Any) -> tuple[int, dict[str, str], str] | None:
        """The error answer for this request if a fault matches it (and count it), else None."""
        if not self._faults:
            return None
        with self._lock:
            for fault in self._faults:
                if fault.remaining <= 0 or getattr(response, "service_name", None) != fault.service:
                    continue
                if fault.region is not None and getattr(response, "region", None) != fault.region:
                    continue
                if response._get_action() != fault.action:
                    continue
                fault.remaining -= 1
                fault.fired += 1
                body = json.dumps({"__type": fault.code, "message": fault.message})
                return fault.status, {"content-type": "application/x-amz-json-1.1"}, body
        return None
