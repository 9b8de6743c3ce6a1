"""The HTTP side of :class:`tests.support.fault_proxy.FaultProxy`: a request handler that relays to
the upstream registry and applies the fault its proxy chose (an error answer, a reset, a delay, a
corrupted or truncated body), and a server that is quiet about clients hanging up.
"""

from __future__ import annotations

import http.client
import http.server
import json
import logging
import socket
import struct
import sys
import time
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from tests.support.fault_proxy import FaultProxy

logger = logging.getLogger(__name__)

HOP_BY_HOP = frozenset(
    {"connection", "keep-alive", "transfer-encoding", "proxy-connection", "te", "trailer", "upgrade"}
)
CHUNK = 1 << 20


class QuietServer(http.server.ThreadingHTTPServer):
    """A client hanging up mid-answer is part of fault testing, not an error worth a traceback."""

    daemon_threads = True

    def handle_error(self, request: Any, client_address: Any) -> None:
        exc = sys.exc_info()[1]
        if isinstance(exc, ConnectionError | TimeoutError):
            logger.debug("fault proxy: client %s went away: %s", client_address, exc)
            return
        super().handle_error(request, client_address)


class ProxyHandler(http.server.BaseHTTPRequestHandler):
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
