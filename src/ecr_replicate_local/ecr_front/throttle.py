"""Optional throttling, per IAM action, with token buckets (ECR's per-second API quotas).

Off by default. ``Throttle.ecr_defaults()`` uses ECR's default per-region quotas (service
quotas page, see docs/ecr-front.md); load tests pass their own rates. Each bucket holds one
second's worth of requests and refills continuously.
"""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Callable, Mapping

#: ECR's default rate quotas, requests per second per region (adjustable on AWS).
ECR_RATE_QUOTAS: Mapping[str, float] = {
    "ecr:PutImage": 10,
    "ecr:InitiateLayerUpload": 100,
    "ecr:CompleteLayerUpload": 100,
    "ecr:UploadLayerPart": 500,
    "ecr:BatchCheckLayerAvailability": 1000,
    "ecr:BatchGetImage": 2000,
    "ecr:GetDownloadUrlForLayer": 3000,
}


class TokenBucket:
    def __init__(self, rate: float, capacity: float, clock: Callable[[], float] = time.monotonic) -> None:
        if rate <= 0 or capacity < 1:
            raise ValueError("a token bucket needs a positive rate and room for at least one token")
        self.rate = rate
        self.capacity = capacity
        self._clock = clock
        self._tokens = capacity
        self._updated = clock()
        self._lock = threading.Lock()

    def take(self) -> float:
        """Take a token: 0.0 when one was there, else the seconds until one will be."""
        with self._lock:
            now = self._clock()
            self._tokens = min(self.capacity, self._tokens + (now - self._updated) * self.rate)
            self._updated = now
            if self._tokens >= 1:
                self._tokens -= 1
                return 0.0
            return (1 - self._tokens) / self.rate


class Throttle:
    """Token buckets per action; actions without a rate are never throttled."""

    def __init__(self, rates: Mapping[str, float], clock: Callable[[], float] = time.monotonic) -> None:
        self._buckets = {action: TokenBucket(rate, max(1.0, rate), clock) for action, rate in rates.items()}

    @classmethod
    def ecr_defaults(cls) -> Throttle:
        return cls(ECR_RATE_QUOTAS)

    def retry_after(self, action: str) -> int | None:
        """None when ``action`` may go ahead now; else whole seconds to wait (at least 1)."""
        bucket = self._buckets.get(action)
        if bucket is None:
            return None
        wait = bucket.take()
        return None if wait == 0.0 else max(1, math.ceil(wait))
