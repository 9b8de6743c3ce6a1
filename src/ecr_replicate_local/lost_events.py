"""Lost events, on purpose: ``ecr-replicate local up --drop-events PERCENT``.

ECR sends its EventBridge events on a best-effort basis, and a rule target drops an event for
good once its retries are spent: a region then lacks an image until something notices. Locally a
share of the source's push events (image and referrer pushes alike) can be dropped before they
reach EventBridge's rules, so that users can watch ``ecr-replicate reconcile`` heal what was
lost. The local ECR still records every push (on AWS the image is in ECR whatever happens to its
event), so ``verify`` sees the drift and reconcile finds it.

A seeded generator makes a run repeatable: the same pushes in the same order lose the same events.
"""

from __future__ import annotations

import random
import threading

from ecr_replicate.errors import ConfigurationError


class EventDropper:
    """Decides, event by event, whether a push event is lost (``percent`` of them, on average)."""

    def __init__(self, percent: float = 0.0, seed: int | None = None) -> None:
        if not 0.0 <= percent <= 100.0:
            raise ConfigurationError(f"--drop-events must be a percentage from 0 to 100, got {percent:g}")
        self.percent = percent
        self.seed = seed
        # the twin's fault injection, not a secret: a seedable generator is the point
        self._random = random.Random(seed)  # noqa: S311
        self._lock = threading.Lock()

    def drop(self) -> bool:
        """True when the next event is to be lost."""
        if self.percent <= 0.0:
            return False
        with self._lock:
            return self._random.random() * 100.0 < self.percent
