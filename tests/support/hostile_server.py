"""A hostile server on 127.0.0.1: answers whatever a test scripts, and records every request.

:class:`HostileServer` is an HTTP (or, with a certificate, HTTPS) server on a free loopback port.
Requests are parsed by ``http.server``; each one is recorded (:class:`Seen`: method, target,
headers, body) and handed to the test's handler, whose :class:`Reply` is written as given: any
status line, any header (``Content-Length: ²`` included), a body sent whole, dripped one piece at
a time, or raw bytes. The registries built on it are in :mod:`tests.support.hostile_registry`.
"""

from __future__ import annotations

import hashlib
import http.server
import json
import ssl
import threading
import time
import urllib.parse
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

from tests.support.tls import TlsFiles

LOOPBACK = "127.0.0.1"
BODY_RECORD_LIMIT = 1 << 20
OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
OCI_INDEX = "application/vnd.oci.image.index.v1+json"
OCI_CONFIG = "application/vnd.oci.image.config.v1+json"
OCI_LAYER = "application/vnd.oci.image.layer.v1.tar+gzip"


@dataclass(frozen=True)
class Seen:
    """One request as a server received it."""

    server: str
    method: str
    target: str
    headers: tuple[tuple[str, str], ...]
    body: bytes = b""
    body_length: int = 0

    @property
    def path(self) -> str:
        return urllib.parse.urlsplit(self.target).path

    @property
    def query(self) -> dict[str, str]:
        return dict(urllib.parse.parse_qsl(urllib.parse.urlsplit(self.target).query))

    def header(self, name: str) -> str | None:
        for key, value in self.headers:
            if key.lower() == name.lower():
                return value
        return None

    def __str__(self) -> str:
        return f"{self.method} {self.target}"


@dataclass
class Reply:
    """What a server sends back.

    ``headers`` go out exactly as given; ``Content-Length`` is added from the body unless a
    header names it already or ``chunked`` is set. ``body`` may be an iterable of pieces: each
    is sent after ``delay`` seconds (a dripping server). ``raw`` (bytes, or pieces dripped
    the same way) replaces everything.
    """

    status: int = 200
    headers: list[tuple[str, str]] = field(default_factory=list)
    body: bytes | Iterable[bytes] = b""
    delay: float = 0.0
    chunked: bool = False
    raw: bytes | Iterable[bytes] | None = None
    close: bool = False
    reason: str = ""

    @classmethod
    def json(cls, status: int, data: Any, headers: list[tuple[str, str]] | None = None) -> Reply:
        return cls(
            status, [("Content-Type", "application/json"), *(headers or [])], json.dumps(data).encode()
        )

    @classmethod
    def error(
        cls, status: int, code: str, message: str = "", headers: list[tuple[str, str]] | None = None
    ) -> Reply:
        return cls.json(status, {"errors": [{"code": code, "message": message or code.lower()}]}, headers)


Handler = Callable[[Seen], Reply]


def sha256(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


class _QuietServer(http.server.ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    tls_context: ssl.SSLContext | None = None
    accepted: Callable[[], None] = staticmethod(lambda: None)

    def get_request(self) -> tuple[Any, Any]:
        """Every TCP connection is counted; TLS is set up by the handler's thread, so a client
        that stalls its handshake holds up nobody else."""
        sock, address = super().get_request()
        self.accepted()
        if self.tls_context is not None:
            sock = self.tls_context.wrap_socket(sock, server_side=True, do_handshake_on_connect=False)
        return sock, address

    def handle_error(self, request: Any, client_address: Any) -> None:
        """Clients hanging up on a hostile answer is the point of these tests."""


class HostileServer:
    """``with HostileServer(handler) as server:`` clients talk to ``server.host``."""

    def __init__(self, handler: Handler, *, tls: TlsFiles | None = None, name: str = "hostile") -> None:
        self.handler = handler
        self.tls = tls
        self.name = name
        self.requests: list[Seen] = []
        self.connections = 0
        self._lock = threading.Lock()
        owner = self

        class RequestHandler(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, format: str, *args: Any) -> None:
                """Quiet: ``requests`` is the log."""

            def handle_one_request(self) -> None:
                try:
                    super().handle_one_request()
                except (ConnectionError, TimeoutError, ssl.SSLError):
                    self.close_connection = True

            def _read_body(self) -> bytes:
                if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
                    parts: list[bytes] = []
                    while True:
                        size = int(self.rfile.readline().split(b";", 1)[0].strip() or b"0", 16)
                        if size == 0:
                            while self.rfile.readline() not in (b"\r\n", b"\n", b""):
                                pass
                            return b"".join(parts)
                        parts.append(self.rfile.read(size))
                        self.rfile.readline()
                length = self.headers.get("Content-Length")
                if not length or not length.isdigit():
                    return b""
                remaining, parts = int(length), []
                while remaining > 0:
                    piece = self.rfile.read(min(remaining, 1 << 20))
                    if not piece:
                        self.close_connection = True
                        break
                    parts.append(piece)
                    remaining -= len(piece)
                return b"".join(parts)

            def _handle(self) -> None:
                try:
                    body = self._read_body()
                except (ConnectionError, TimeoutError, ValueError):
                    self.close_connection = True
                    return
                seen = Seen(
                    server=owner.host,
                    method=self.command,
                    target=self.path,
                    headers=tuple(self.headers.items()),
                    body=body[:BODY_RECORD_LIMIT],
                    body_length=len(body),
                )
                with owner._lock:
                    owner.requests.append(seen)
                try:
                    reply = owner.handler(seen)
                except Exception as exc:  # a bug in a test's handler: answer 599 and keep serving
                    reply = Reply(599, [], f"handler failed: {exc!r}".encode())
                try:
                    self._send(reply)
                except (ConnectionError, TimeoutError, ssl.SSLError):
                    self.close_connection = True

            def _send(self, reply: Reply) -> None:
                out = self.wfile
                if reply.raw is not None:
                    for piece in [reply.raw] if isinstance(reply.raw, bytes) else reply.raw:
                        if reply.delay:
                            time.sleep(reply.delay)
                        out.write(piece)
                        out.flush()
                    self.close_connection = True
                    return
                reason = reply.reason or self.responses.get(reply.status, ("Unknown",))[0]
                head = [f"HTTP/1.1 {reply.status} {reason}"]
                names = {name.lower() for name, _ in reply.headers}
                head += [f"{name}: {value}" for name, value in reply.headers]
                pieces = [reply.body] if isinstance(reply.body, bytes) else reply.body
                if reply.chunked:
                    head.append("Transfer-Encoding: chunked")
                elif "content-length" not in names and isinstance(reply.body, bytes):
                    head.append(f"Content-Length: {len(reply.body)}")
                if reply.close:
                    head.append("Connection: close")
                    self.close_connection = True
                out.write(("\r\n".join(head) + "\r\n\r\n").encode("utf-8", "surrogateescape"))
                out.flush()
                if self.command == "HEAD":
                    return
                for piece in pieces:
                    if reply.delay:
                        time.sleep(reply.delay)
                    out.write(b"%x\r\n%s\r\n" % (len(piece), piece) if reply.chunked else piece)
                    out.flush()
                if reply.chunked:
                    out.write(b"0\r\n\r\n")
                    out.flush()

            do_GET = do_HEAD = do_PUT = do_POST = do_PATCH = do_DELETE = _handle

        self._server = _QuietServer((LOOPBACK, 0), RequestHandler)
        self._server.accepted = self._accepted  # type: ignore[method-assign]
        if tls is not None:
            self._server.tls_context = tls.server_context()
        self._thread = threading.Thread(target=self._server.serve_forever, name=name, daemon=True)

    def _accepted(self) -> None:
        with self._lock:
            self.connections += 1

    @property
    def port(self) -> int:
        return int(self._server.server_address[1])

    @property
    def host(self) -> str:
        return f"{LOOPBACK}:{self.port}"

    @property
    def scheme(self) -> str:
        return "https" if self.tls is not None else "http"

    @property
    def url(self) -> str:
        return f"{self.scheme}://{self.host}"

    def start(self) -> HostileServer:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(5)

    def __enter__(self) -> HostileServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def seen(self, method: str | None = None, contains: str = "") -> list[Seen]:
        with self._lock:
            return [
                r for r in self.requests if (method is None or r.method == method) and contains in r.target
            ]

    def authorizations(self) -> list[str]:
        """Every Authorization header this server received."""
        with self._lock:
            return [
                value for r in self.requests for key, value in r.headers if key.lower() == "authorization"
            ]
