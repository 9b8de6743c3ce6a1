"""Registry tokens of the local ``ecr:GetAuthorizationToken``, and their validation by the fronts.

As ECR's: a token is the password of Basic ``AWS:<token>``, issued to the principal that called
``GetAuthorizationToken`` (IAM decided that call), valid in the region it was asked in only, for
12 hours or until the caller's session ends, whichever comes first. The registry front of a
region asks :meth:`RegionTokens.principal_for` who a token belongs to (then IAM decides each
registry call for that principal) and :meth:`RegionTokens.is_expired` whether to answer ECR's
"expired" 403 instead of a 401. Tokens are random, kept only in memory, never logged.
"""

from __future__ import annotations

import base64
import secrets
import threading
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass

TOKEN_LIFETIME = 12 * 3600.0
MAX_TOKENS = 100_000


@dataclass(frozen=True)
class _Issued:
    principal: str
    region: str
    expires_at: float


class RegistryTokens:
    """Every token issued in this run (thread-safe; the oldest are forgotten beyond MAX_TOKENS)."""

    def __init__(self, *, lifetime: float = TOKEN_LIFETIME, clock: Callable[[], float] = time.time) -> None:
        self.lifetime = lifetime
        self.clock = clock
        self._issued: OrderedDict[str, _Issued] = OrderedDict()
        self._lock = threading.Lock()

    def issue(self, principal: str, region: str, *, not_after: float | None = None) -> tuple[str, float]:
        """A new token for ``principal`` in ``region``: (``authorizationToken``, expiry as epoch
        seconds). ``authorizationToken`` is base64 of ``AWS:<password>``, as ECR answers."""
        password = secrets.token_urlsafe(48)
        expires_at = self.clock() + self.lifetime
        if not_after is not None:
            expires_at = min(expires_at, not_after)
        with self._lock:
            self._issued[password] = _Issued(principal, region, expires_at)
            while len(self._issued) > MAX_TOKENS:
                self._issued.popitem(last=False)
        return base64.b64encode(f"AWS:{password}".encode()).decode(), expires_at

    def for_region(self, region: str) -> RegionTokens:
        """The validator the front of ``region`` is given (a ``TokenValidator``)."""
        return RegionTokens(self, region)

    def lookup(self, password: str) -> _Issued | None:
        with self._lock:
            return self._issued.get(password)


class RegionTokens:
    """One region's view of the tokens: those issued for another region are unknown here."""

    def __init__(self, tokens: RegistryTokens, region: str) -> None:
        self._tokens = tokens
        self.region = region

    def principal_for(self, token: str) -> str | None:
        issued = self._tokens.lookup(token)
        if issued is None or issued.region != self.region or issued.expires_at <= self._tokens.clock():
            return None
        return issued.principal

    def is_expired(self, token: str) -> bool:
        issued = self._tokens.lookup(token)
        if issued is None or issued.region != self.region:
            return False
        return issued.expires_at <= self._tokens.clock()
