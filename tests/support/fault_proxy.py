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
import json
import logging
import random
import re
import secrets
import socket
import struct
import sys
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

logger = logging.getLogger(__name__)

LOOPBACK = "127.0.0.1"
FAULT_KINDS = ("500", "503", "429", "reset", "slow", "corrupt", "truncate")
HOP_BY_HOP = frozenset(
    {"connection", "keep-alive", "transfer-encoding", "proxy-connection", "te", "trailer", "upgrade"}
)
CHUNK = 1 << 20
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


class _QuietServer(http.server.ThreadingHTTPServer):
    """A client hanging up mid-answer is part of fault testing, not an error worth a traceback."""

    daemon_threads = True

    def handle_error(self, request: Any, client_address: Any) -> None:
        exc = sys.exc_info()[1]
        if isinstance(exc, ConnectionError | TimeoutError):
            logger.debug("fault proxy: client %s went away: %s", client_address, exc)
            return
        super().handle_error(request, client_address)


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

        class Handler(_ProxyHandler):
            owner = proxy

        server = _QuietServer((LOOPBACK, 0), Handler)
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


class _ProxyHandler(http.server.BaseHTTPRequestHandler):
    owner: FaultProxy
    protocol_version = "HTTP/1.1"

    def log_message(self, format: str, *args: Any) -> None:
        """Quiet: the stats are the log."""

    def do_GET(self) -> None:
        self._handle_counted()

    def do_HEAD(self) -> None:
        self._handle_counted()

    def do_PUT(self) -> None:
        self._handle_counted()

    def do_POST(self) -> None:
        self._handle_counted()

    def do_PATCH(self) -> None:
        self._handle_counted()

    def do_DELETE(self) -> None:
        self._handle_counted()

    def _handle_counted(self) -> None:
        self.owner.begin_request()
        try:
            self._handle()
        finally:
            self.owner.end_request()

    # -- pieces -----------------------------------------------------------------------------

    def _read_body(self) -> bytes:
        if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
            parts = []
            while True:
                size = int(self.rfile.readline().split(b";", 1)[0].strip() or b"0", 16)
                if size == 0:
                    while self.rfile.readline() not in (b"\r\n", b"\n", b""):
                        pass
                    break
                parts.append(self.rfile.read(size))
                self.rfile.readline()
            return b"".join(parts)
        length = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(length) if length else b""

    def _reply(self, status: int, body: bytes, headers: dict[str, str] | None = None) -> None:
        self.send_response(status)
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    def _error(self, status: int, code: str, message: str, headers: dict[str, str] | None = None) -> None:
        body = json.dumps({"errors": [{"code": code, "message": message}]}).encode()
        self._reply(status, body, headers)

    def _reset(self) -> None:
        self.wfile.flush()
        self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        self.close_connection = True
        self.connection.close()

    def _handle(self) -> None:
        owner = self.owner
        method, path = self.command, self.path
        if owner.auth == "bearer" and path.startswith("/token"):
            self._read_body()
            if self.headers.get("Authorization", "") != f"Basic {owner.basic_value()}":
                owner.record(method, path, 401, None, 0)
                self._error(401, "UNAUTHORIZED", "token endpoint: bad credentials")
                return
            owner.record(method, path, 200, None, 0)
            self._reply(200, json.dumps({"token": owner.issue_token(), "expires_in": 300}).encode())
            return
        if not owner.authorized(self.headers.get("Authorization")):
            self._read_body()
            owner.count_challenge()
            owner.record(method, path, 401, None, 0)
            self._error(
                401, "UNAUTHORIZED", "authentication required", {"WWW-Authenticate": owner.challenge(path)}
            )
            return
        fault = owner.choose_fault(method, path)
        if fault in ("500", "503", "429"):
            self._read_body()
            owner.record(method, path, int(fault), fault, 0)
            if fault == "429":
                self._error(429, "TOOMANYREQUESTS", "Rate exceeded", {"Retry-After": owner.retry_after})
            else:
                self._error(int(fault), "UNAVAILABLE", "injected fault")
            return
        if fault == "slow":
            time.sleep(owner.slow_seconds)
        body = self._read_body()
        upstream = http.client.HTTPConnection(owner.upstream, timeout=120)
        try:
            upstream.putrequest(method, path, skip_host=True, skip_accept_encoding=True)
            for name, value in self.headers.items():
                if name.lower() in HOP_BY_HOP or name.lower() == "content-length":
                    continue
                upstream.putheader(name, value)
            if body or method in ("PUT", "POST", "PATCH"):
                upstream.putheader("Content-Length", str(len(body)))
            upstream.endheaders(body if body else None)
            response = upstream.getresponse()
            self._relay(response, method, path, fault)
        except (OSError, http.client.HTTPException):
            self.close_connection = True
            owner.record(method, path, 502, fault, 0)
        finally:
            upstream.close()

    def _relay(self, response: http.client.HTTPResponse, method: str, path: str, fault: str | None) -> None:
        owner = self.owner
        has_body = method != "HEAD" and response.status not in (204, 304)
        upstream_length = response.getheader("Content-Length")
        if has_body and fault not in ("reset", "corrupt", "truncate") and upstream_length is not None:
            self._stream(response, method, path, int(upstream_length), fault)
            return
        data = response.read() if has_body else b""
        length = int(response.getheader("Content-Length") or len(data)) if method == "HEAD" else len(data)
        applies = has_body and len(data) > 1 and fault in ("reset", "corrupt", "truncate")
        if applies and fault == "corrupt":
            middle = len(data) // 2
            data = data[:middle] + bytes([data[middle] ^ 0xFF]) + data[middle + 1 :]
        if applies and fault == "truncate":
            data = data[: len(data) // 2]
            length = len(data)
        self.send_response(response.status)
        for name, value in response.getheaders():
            if name.lower() in HOP_BY_HOP or name.lower() == "content-length":
                continue
            self.send_header(name, value)
        self.send_header("Content-Length", str(length))
        self.end_headers()
        sent = 0
        if has_body:
            if applies and fault == "reset":
                half = data[: len(data) // 2]
                self.wfile.write(half)
                sent = len(half)
                owner.record(method, path, response.status, fault, sent if "/blobs/" in path else 0)
                self._reset()
                return
            for start in range(0, len(data), CHUNK):
                self.wfile.write(data[start : start + CHUNK])
            sent = len(data)
        counted = sent if method == "GET" and "/blobs/" in path and response.status == 200 else 0
        owner.record(method, path, response.status, fault if applies or fault == "slow" else None, counted)

    def _stream(
        self, response: http.client.HTTPResponse, method: str, path: str, length: int, fault: str | None
    ) -> None:
        """Pass a body through in 1 MiB pieces (large blobs never sit in memory)."""
        self.send_response(response.status)
        for name, value in response.getheaders():
            if name.lower() in HOP_BY_HOP or name.lower() == "content-length":
                continue
            self.send_header(name, value)
        self.send_header("Content-Length", str(length))
        self.end_headers()
        sent = 0
        while sent < length:
            piece = response.read(min(CHUNK, length - sent))
            if not piece:
                self.close_connection = True
                break
            self.wfile.write(piece)
            sent += len(piece)
        counted = sent if method == "GET" and "/blobs/" in path and response.status == 200 else 0
        self.owner.record(method, path, response.status, fault if fault == "slow" else None, counted)
