"""Small real implementations of the front's contracts, for its tests (not mocks of the front)."""

from __future__ import annotations

import secrets
import threading
import time
from collections.abc import Sequence

from ecr_replicate_local.ecr_front.contracts import Decision, RepositoryInfo, TagMutability


class FakeTokens:
    """Tokens issued to principals, expiring after ``ttl`` seconds (or on :meth:`expire`)."""

    def __init__(self) -> None:
        self._tokens: dict[str, tuple[str, float]] = {}
        self._lock = threading.Lock()

    def issue(self, principal: str, ttl: float = 3600.0) -> str:
        token = secrets.token_urlsafe(48)
        with self._lock:
            self._tokens[token] = (principal, time.monotonic() + ttl)
        return token

    def expire(self, token: str) -> None:
        with self._lock:
            principal, _ = self._tokens[token]
            self._tokens[token] = (principal, 0.0)

    def principal_for(self, token: str) -> str | None:
        with self._lock:
            found = self._tokens.get(token)
        if found is None or found[1] <= time.monotonic():
            return None
        return found[0]

    def is_expired(self, token: str) -> bool:
        with self._lock:
            found = self._tokens.get(token)
        return found is not None and found[1] <= time.monotonic()


class FakeAuthorizer:
    """Allows everything except the actions in ``denied`` (optionally for one principal only)."""

    def __init__(self) -> None:
        self.denied: set[str] = set()
        self.only_for: str | None = None
        self.reason = ""
        self.asked: list[tuple[str, str, str, str]] = []
        self._lock = threading.Lock()

    def authorize(self, principal: str, action: str, resource_arn: str, region: str) -> Decision:
        with self._lock:
            self.asked.append((principal, action, resource_arn, region))
        applies = self.only_for is None or principal == self.only_for
        if action in self.denied and applies:
            return Decision.deny(self.reason or f"no identity-based policy allows the {action} action")
        return Decision.allow()


class FakeCatalog:
    """Repositories per region, as the local ECR control plane would hold them."""

    def __init__(self) -> None:
        self._repositories: dict[tuple[str, str], RepositoryInfo] = {}

    def create(
        self,
        region: str,
        name: str,
        mutability: TagMutability = TagMutability.MUTABLE,
        filters: Sequence[str] = (),
    ) -> RepositoryInfo:
        info = RepositoryInfo(name, mutability, tuple(filters))
        self._repositories[(region, name)] = info
        return info

    def describe(self, region: str, repository: str) -> RepositoryInfo | None:
        return self._repositories.get((region, repository))

    def names(self, region: str) -> Sequence[str]:
        return [name for (where, name) in self._repositories if where == region]
