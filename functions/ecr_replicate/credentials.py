"""Registry credentials from AWS: ECR's GetAuthorizationToken, per region, cached until expiry.

The copier (``ecr_replicate.oci``) takes any provider with ``get(host)`` and ``invalidate(host)``
and knows nothing of AWS; this module is the ECR one. It answers Basic ``("AWS", token)`` for
``<account>.dkr.ecr.<region>.amazonaws.com(.cn)`` hosts and for every host of ``endpoints``
(region -> ``host:port``, the ``REGISTRY_ENDPOINTS`` of a local run), asking the ECR client of
that region. Anything else is anonymous. Tokens are never logged.
"""

from __future__ import annotations

import base64
import re
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from ecr_replicate.errors import AuthenticationError

ECR_HOST_RE = re.compile(
    r"(?P<account>\d{12})\.dkr\.ecr(?:-fips)?\.(?P<region>[a-z]{2}(?:-[a-z]+)+-\d+)\.amazonaws\.com(?:\.cn)?"
)
TOKEN_LIFETIME = 12 * 3600.0  # when GetAuthorizationToken gives no expiresAt


def ecr_region(host: str) -> str | None:
    """The region of an ECR registry host name (a port is ignored), else None."""
    match = ECR_HOST_RE.fullmatch(host.split(":", 1)[0].lower())
    return match.group("region") if match else None


@dataclass(frozen=True)
class _Token:
    user: str
    password: str = field(repr=False)
    expires_at: float


class EcrCredentials:
    """Basic credentials for ECR registries from ``ecr:GetAuthorizationToken``.

    ``client_factory(region)`` returns an ECR client of that region (injected). Tokens are
    cached per region until ``expiresAt`` minus ``margin`` seconds; :meth:`invalidate` (the
    copier calls it on a 401 or an "expired" 403) makes the next :meth:`get` fetch a new one.
    """

    def __init__(
        self,
        client_factory: Callable[[str], Any],
        *,
        endpoints: Mapping[str, str] | None = None,
        margin: float = 300.0,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._factory = client_factory
        self._endpoint_regions = {host: region for region, host in (endpoints or {}).items()}
        self._margin = margin
        self._clock = clock
        self._cache: dict[str, _Token] = {}
        self._lock = threading.Lock()

    def region_of(self, host: str) -> str | None:
        """The region whose token ``host`` takes: a configured endpoint's, else the ECR host's."""
        return self._endpoint_regions.get(host) or ecr_region(host)

    def get(self, host: str) -> tuple[str, str] | None:
        region = self.region_of(host)
        if region is None:
            return None
        with self._lock:
            cached = self._cache.get(region)
            if cached is None or cached.expires_at - self._margin <= self._clock():
                cached = self._cache[region] = self._fetch(region)
            return cached.user, cached.password

    def invalidate(self, host: str) -> None:
        region = self.region_of(host)
        if region is not None:
            with self._lock:
                self._cache.pop(region, None)

    def _fetch(self, region: str) -> _Token:
        client = self._factory(region)
        try:
            answer = client.get_authorization_token()
        except Exception as exc:  # the message may quote the request: only the class is kept
            raise AuthenticationError(
                f"ecr:GetAuthorizationToken failed in {region}: {type(exc).__name__}"
            ) from None
        data = answer["authorizationData"][0]
        user, _, password = base64.b64decode(data["authorizationToken"]).decode().partition(":")
        expires = data.get("expiresAt")
        expires_at = expires.timestamp() if hasattr(expires, "timestamp") else self._clock() + TOKEN_LIFETIME
        return _Token(user=user, password=password, expires_at=float(expires_at))
