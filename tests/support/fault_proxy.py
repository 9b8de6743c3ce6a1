"""A loopback HTTP proxy in front of a registry that injects faults and counts traffic.

Faults (per matching request, from a fixed sequence or at a random rate):
``500``, ``503``, ``429`` (with Retry-After), ``reset`` (connection reset mid-body), ``slow``
(delay before answering), ``corrupt`` (flip a byte of the body, same length), ``truncate``
(send half the body with a matching Content-Length). ``pass`` in a sequence means no fault.

It can also guard the registry with authentication (``auth="basic"`` or ``auth="bearer"``, the
token endpoint served by the proxy itself at ``/token``); :meth:`FaultProxy.expire_tokens`
invalidates issued tokens so clients must re-authenticate. Started and stopped in-process
(threads), listening on 127.0.0.1 only.
"""

from __future__ import annotations

import base64
import collections
import http.client
import http.server
import logging
import random
import re
import secrets
import threading
from collections.abc import Sequence
from dataclasses import dataclass, field

from tests.support.fault_proxy_handler import ProxyHandler, QuietServer

logger = logging.getLogger(__name__)

LOOPBACK = "127.0.0.1"
FAULT_KINDS = ("500", "503", "429", "reset", "slow", "corrupt", "truncate")
STATS_WAIT = 10.0  # seconds a stats reader waits for requests still being recorded


@dataclass
class ProxyStats:
    requests: int = 0
    faults: collections.Counter[str] = field(default_factory=collections.Counter)
    by_route: collections.Counter[str] = field(default_factory=collections.Counter)
    blob_bytes_served: int = 0
    auth_challenges: int = 0
    tokens_issued: int = 0
    log: list[tuple[str, str, int]] = field(default_factory=list)


class FaultProxy:
    """``FaultProxy(upstream_host).start()``; clients talk to ``proxy.host``."""

    def __init__(
        self,
        upstream: str,
        *,
        faults: Sequence[str] = (),
        rate: float = 0.0,
        kinds: Sequence[str] = ("503", "429", "reset"),
        match: str | None = None,
        retry_after: str = "0",
        slow_seconds: float = 0.3,
        seed: int | None = None,
        auth: str | None = None,
        user: str = "user",
        password: str = "secret",
    ) -> None:
        for kind in (*faults, *kinds):
            if kind not in FAULT_KINDS and kind != "pass":
                raise ValueError(f"unknown fault {kind!r}; known: {', '.join(FAULT_KINDS)}")
        if auth not in (None, "basic", "bearer"):
            raise ValueError("auth must be None, 'basic' or 'bearer'")
        self.upstream = upstream
        self.rate = rate
        self.kinds = tuple(kinds)
        self.match = re.compile(match) if match else None
        self.retry_after = retry_after
        self.slow_seconds = slow_seconds
        self.auth = auth
        self.user = user
        self.password = password
        self._stats = ProxyStats()
        self._sequence: collections.deque[str] = collections.deque(faults)
        self._rng = random.Random(seed)
        self._lock = threading.Lock()
        self._idle = threading.Condition(self._lock)
        self._in_flight = 0
        self._tokens: set[str] = set()
        self._server: http.server.ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    # -- lifecycle ------------------------------------------------------------------------------

    @property
    def port(self) -> int:
        assert self._server is not None, "proxy not started"
        return int(self._server.server_address[1])

    @property
    def host(self) -> str:
        return f"{LOOPBACK}:{self.port}"

    def start(self) -> FaultProxy:
        proxy = self

        class Handler(ProxyHandler):
            owner = proxy

        server = QuietServer((LOOPBACK, 0), Handler)
        self._server = server
        self._thread = threading.Thread(target=server.serve_forever, name="fault-proxy", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)
        self._server = None
        self._thread = None

    def __enter__(self) -> FaultProxy:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # -- configuration while running ------------------------------------------------------------

    def set_faults(
        self, faults: Sequence[str], *, match: str | None = None, rate: float | None = None
    ) -> None:
        with self._lock:
            self._sequence = collections.deque(faults)
            if match is not None:
                self.match = re.compile(match)
            if rate is not None:
                self.rate = rate

    def expire_tokens(self) -> None:
        """Every issued bearer token (and, for basic, nothing) stops being valid."""
        with self._lock:
            self._tokens.clear()

    def reset_stats(self) -> None:
        with self._lock:
            self._stats = ProxyStats()

    @property
    def stats(self) -> ProxyStats:
        """What the proxy saw, once every request it has begun is recorded.

        A client has its answer before the proxy's handler thread records the exchange, so a test
        reading the stats right after a call waits (bounded) for the requests in flight.
        """
        with self._idle:
            self._idle.wait_for(lambda: self._in_flight == 0, timeout=STATS_WAIT)
            return self._stats

    def begin_request(self) -> None:
        with self._lock:
            self._in_flight += 1

    def end_request(self) -> None:
        with self._idle:
            self._in_flight -= 1
            self._idle.notify_all()

    # -- decisions ------------------------------------------------------------------------------

    def choose_fault(self, method: str, path: str) -> str | None:
        with self._lock:
            if self.match is not None and not self.match.search(f"{method} {path}"):
                return None
            if self._sequence:
                kind = self._sequence.popleft()
                return None if kind == "pass" else kind
            if self.rate > 0 and self._rng.random() < self.rate:
                return self._rng.choice(self.kinds)
            return None

    def record(self, method: str, path: str, status: int, fault: str | None, blob_bytes: int) -> None:
        with self._lock:
            self._stats.requests += 1
            route = "blob" if "/blobs/" in path else "manifest" if "/manifests/" in path else "other"
            self._stats.by_route[f"{method} {route}"] += 1
            if fault:
                self._stats.faults[fault] += 1
            self._stats.blob_bytes_served += blob_bytes
            self._stats.log.append((method, path.split("?", 1)[0], status))

    def count_challenge(self) -> None:
        with self._lock:
            self._stats.auth_challenges += 1

    def issue_token(self) -> str:
        token = secrets.token_hex(16)
        with self._lock:
            self._tokens.add(token)
            self._stats.tokens_issued += 1
        return token

    def authorized(self, header: str | None) -> bool:
        if self.auth is None:
            return True
        if not header:
            return False
        scheme, _, value = header.partition(" ")
        if self.auth == "basic" and scheme.lower() == "basic":
            return value.strip() == self.basic_value()
        if self.auth == "bearer" and scheme.lower() == "bearer":
            with self._lock:
                return value.strip() in self._tokens
        return False

    def basic_value(self) -> str:
        return base64.b64encode(f"{self.user}:{self.password}".encode()).decode()

    def challenge(self, path: str) -> str:
        if self.auth == "basic":
            return 'Basic realm="fault-proxy"'
        match = re.match(r"/v2/(.+?)/(?:blobs|manifests|tags|referrers)/", path)
        scope = f"repository:{match.group(1)}:pull,push" if match else ""
        return f'Bearer realm="http://{self.host}/token",service="fault-proxy",scope="{scope}"'
