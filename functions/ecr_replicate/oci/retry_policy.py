"""The copier's one retry policy: how often a registry call is tried, and how long to wait between."""

from __future__ import annotations

import random
import time
from collections.abc import Callable
from dataclasses import dataclass, field


@dataclass
class RetryPolicy:
    """Bounded exponential backoff with full jitter; Retry-After honoured up to a cap.

    ``attempts`` counts every try, the first included. Where it applies (one level, never nested):

    - a small call (HEAD, manifest GET/PUT, upload POST, mount): per request, so one such request
      is sent at most ``attempts`` times (a DIGEST_INVALID answer to a manifest PUT included);
    - a blob stream: per blob. Each attempt is one upload session (POST, GET from the source,
      one streaming PATCH, PUT ``?digest=``) whose requests are each sent once; so a blob is read
      from the source at most ``attempts`` times, and written at most ``attempts`` times.

    Besides the attempts, a request may be re-sent once after re-authenticating (a 401, or a 403
    saying the token expired) and may follow at most MAX_REDIRECTS redirects. Every wait ends at
    the copy's deadline. Worst case with the defaults: 6 reads of one blob, 6 sends of one HEAD.
    """

    attempts: int = 6
    base_delay: float = 0.25
    max_delay: float = 8.0
    max_retry_after: float = 30.0
    sleep: Callable[[float], None] = field(default=time.sleep, repr=False)
    rng: random.Random = field(default_factory=random.Random, repr=False)  # jitter, not a secret

    def __post_init__(self) -> None:
        if self.attempts < 1:
            raise ValueError("attempts must be at least 1")

    def delay(self, attempt: int, retry_after: float | None = None) -> float:
        """Seconds to wait before retry number ``attempt`` (1-based)."""
        if retry_after is not None:
            return min(max(retry_after, 0.0), self.max_retry_after)
        ceiling = min(self.max_delay, self.base_delay * (2 ** max(attempt - 1, 0)))
        return self.rng.uniform(0.0, ceiling)


ONCE = RetryPolicy(attempts=1)
