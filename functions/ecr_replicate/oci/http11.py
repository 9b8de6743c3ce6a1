"""A minimal HTTP/1.1 client connection: just what the registry protocol needs.

Why not ``http.client``: importing it pulls in the ``email`` package (header parsing), ``ssl``,
``datetime``, ``calendar``... about half the start-up of ``ecr-replicate copy``, whose warm run
is timed as a whole process. Plain HTTP needs only the C ``_socket`` type: the ``socket``
module around it builds enums of every constant and imports ``selectors``, a tenth of that
start-up again. ``socket`` and ``ssl`` are imported for https only. Keep-alive, Content-Length
and chunked bodies, read-until-close; no pipelining.
"""

from __future__ import annotations

import _socket
import io

from ecr_replicate.oci.reference import split_host

TYPE_CHECKING = False  # as typing.TYPE_CHECKING, without importing typing at start-up
if TYPE_CHECKING:  # annotations only: `typing` stays out of the copy command's start-up
    from typing import Any

MAX_LINE = 65536
MAX_HEADERS = 200
READ_BUFFER = 65536


class ProtocolError(ConnectionError):
    """The peer broke the HTTP framing (bad status line, closed mid-body, oversized headers)."""


class Connection:
    """One TCP (or TLS) connection to ``host`` (``name[:port]``)."""

    def __init__(self, scheme: str, host: str, timeout: float, ca_file: str | None = None) -> None:
        name, port = split_host(host)
        self.scheme = scheme
        self.host = host
        self.ca_file = ca_file  # https: trusted instead of the system store
        self.address = (name.strip("[]"), port or (443 if scheme == "https" else 80))
        self.timeout = timeout
        self.sock: _socket.socket | None = None  # plain: exactly _socket.socket; https: ssl.SSLSocket
        self.rfile: Any = None

    def connect(self) -> None:
        name, port = self.address
        if self.scheme == "https":
            import socket  # noqa: PLC0415 - only https pays for socket and ssl
            import ssl  # noqa: PLC0415

            plain = socket.create_connection((name, port), timeout=self.timeout)
            plain.setsockopt(_socket.IPPROTO_TCP, _socket.TCP_NODELAY, 1)
            tls = ssl.create_default_context(cafile=self.ca_file).wrap_socket(plain, server_hostname=name)
            self.sock, self.rfile = tls, tls.makefile("rb", buffering=READ_BUFFER)
            return
        sock = connect_tcp(name, port, self.timeout)
        self.sock, self.rfile = sock, io.BufferedReader(SocketReader(sock), READ_BUFFER)

    def close(self) -> None:
        rfile, sock = self.rfile, self.sock
        self.rfile = self.sock = None
        if rfile is not None:
            rfile.close()
        if sock is not None:
            sock.close()

    def send_head(self, method: str, path: str, headers: dict[str, str]) -> None:
        """Send the request line and headers (Host added); the body, if any, follows via send()."""
        if self.sock is None:
            self.connect()
        lines = [f"{method} {path} HTTP/1.1", f"Host: {self.host}"]
        lines += [f"{name}: {value}" for name, value in headers.items()]
        self.send(("\r\n".join(lines) + "\r\n\r\n").encode("latin-1"))

    def send(self, data: bytes | memoryview) -> None:
        if self.sock is None:
            raise ProtocolError("connection is closed")
        self.sock.sendall(data)

    def request(self, method: str, path: str, headers: dict[str, str], body: bytes | None = None) -> None:
        """Send a whole request; small bodies go in the same write as the headers."""
        if body is not None or method in ("PUT", "POST", "PATCH"):
            headers = {**headers, "Content-Length": str(len(body or b""))}
        if self.sock is None:
            self.connect()
        lines = [f"{method} {path} HTTP/1.1", f"Host: {self.host}"]
        lines += [f"{name}: {value}" for name, value in headers.items()]
        head = ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")
        self.send(head + body if body and len(body) <= READ_BUFFER else head)
        if body and len(body) > READ_BUFFER:
            self.send(body)

    def get_response(self, method: str) -> Response:
        if self.rfile is None:
            raise ProtocolError("connection is closed")
        return Response(self.rfile, method)


def connect_tcp(name: str, port: int, timeout: float) -> _socket.socket:
    """A connected TCP socket with TCP_NODELAY: each address of ``name`` in turn, as
    ``socket.create_connection`` does."""
    # a bytes host skips the idna codec import that a str host costs getaddrinfo
    addresses = _socket.getaddrinfo(name.encode("ascii", "ignore"), port, 0, _socket.SOCK_STREAM)
    error: OSError | None = None
    for family, kind, proto, _, address in addresses:
        sock = _socket.socket(family, kind, proto)
        try:
            sock.settimeout(timeout)
            sock.connect(address)
            sock.setsockopt(_socket.IPPROTO_TCP, _socket.TCP_NODELAY, 1)
        except OSError as exc:
            sock.close()
            error = exc
            continue
        return sock
    raise error or OSError(f"getaddrinfo returned no address for {name}")


class SocketReader(io.RawIOBase):
    """The raw stream under a buffered reader of a socket (as ``socket.makefile("rb")`` builds).

    Timeouts come from the socket (``recv_into`` raises TimeoutError); closing the reader leaves
    the socket to its owner.
    """

    def __init__(self, sock: _socket.socket) -> None:
        super().__init__()
        self._sock = sock

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        return self._sock.recv_into(buffer)


class Response:
    """Status, headers and a body reader (Content-Length, chunked or until close)."""

    def __init__(self, rfile: Any, method: str) -> None:
        self.fp = rfile
        line = self._line()
        while True:
            parts = line.split(None, 2)
            if len(parts) < 2 or not parts[0].startswith(b"HTTP/") or not parts[1].isdigit():
                raise ProtocolError(f"bad status line {line[:80]!r}")
            self.status = int(parts[1])
            self.version = parts[0].decode("latin-1")
            self.headers = self._headers()
            if self.status != 100:
                break
            line = self._line()  # skip an interim 100 Continue
        connection = self.headers.get("connection", "").lower()
        self.will_close = "close" in connection or (
            self.version == "HTTP/1.0" and "keep-alive" not in connection
        )
        self.chunked = "chunked" in self.headers.get("transfer-encoding", "").lower()
        self._chunk_left = 0
        self.length: int | None = None
        if method == "HEAD" or self.status in (204, 304) or 100 <= self.status < 200:
            self.length = 0
            self.chunked = False
        elif not self.chunked:
            value = self.getheader("Content-Length")
            if value is not None and value.strip().isdigit():
                self.length = int(value)
            else:
                self.will_close = True  # body runs until the server closes
        self._done = self.length == 0

    def _line(self) -> bytes:
        line: bytes = self.fp.readline(MAX_LINE + 1)
        if not line:
            raise ProtocolError("connection closed before a response")
        if len(line) > MAX_LINE:
            raise ProtocolError("response line too long")
        return line.rstrip(b"\r\n")

    def _headers(self) -> dict[str, str]:
        headers: dict[str, str] = {}
        for _ in range(MAX_HEADERS):
            line = self._line()
            if not line:
                return headers
            name, sep, value = line.decode("latin-1").partition(":")
            if not sep:
                continue
            key = name.strip().lower()
            value = value.strip()
            headers[key] = f"{headers[key]}, {value}" if key in headers else value
        raise ProtocolError("too many response headers")

    def getheader(self, name: str, default: str | None = None) -> str | None:
        return self.headers.get(name.lower(), default)

    def isclosed(self) -> bool:
        """True once the whole body has been read (the connection may carry another request)."""
        return self._done

    def close(self) -> None:
        """Give up on the rest of the body (the connection must not be reused)."""
        if not self._done:
            self.will_close = True
            self._done = True

    def skip(self, count: int) -> None:
        """Account for ``count`` body bytes taken from the socket directly (zero-copy)."""
        if self.length is not None:
            self.length -= count
            if self.length <= 0:
                self._done = True

    def read(self, amt: int | None = None) -> bytes:
        if self._done:
            return b""
        if amt is None:
            chunks: list[bytes] = []
            while True:
                piece = self.read(READ_BUFFER * 16)
                if not piece:
                    return b"".join(chunks)
                chunks.append(piece)
        parts = []
        remaining = amt
        while remaining > 0:
            size = min(remaining, READ_BUFFER * 16)
            if self.length is not None:
                size = min(size, self.length)
            if size <= 0:
                break
            buffer = bytearray(size)
            got = self.readinto(memoryview(buffer))
            if not got:
                break
            parts.append(bytes(buffer[:got]) if got < size else bytes(buffer))
            remaining -= got
        return b"".join(parts)

    def readinto(self, view: memoryview) -> int:
        """Read up to ``len(view)`` body bytes; 0 at the end of the body."""
        if self._done or not len(view):
            return 0
        if self.chunked:
            return self._readinto_chunked(view)
        want = len(view) if self.length is None else min(len(view), self.length)
        got: int = self.fp.readinto(view[:want])
        if not got:
            if self.length is not None:
                raise ProtocolError(f"connection closed with {self.length} body bytes missing")
            self._done = True
            return 0
        if self.length is not None:
            self.length -= got
            if self.length == 0:
                self._done = True
        return got

    def _readinto_chunked(self, view: memoryview) -> int:
        if self._chunk_left == 0:
            size_line = self._line().split(b";", 1)[0].strip()
            try:
                self._chunk_left = int(size_line, 16)
            except ValueError:
                raise ProtocolError(f"bad chunk size {size_line[:20]!r}") from None
            if self._chunk_left == 0:
                while self._line():  # trailers up to the blank line
                    pass
                self._done = True
                return 0
        got: int = self.fp.readinto(view[: min(len(view), self._chunk_left)])
        if not got:
            raise ProtocolError("connection closed inside a chunk")
        self._chunk_left -= got
        if self._chunk_left == 0:
            self._line_end()
        return got

    def _line_end(self) -> None:
        if self.fp.readline(3) not in (b"\r\n", b"\n"):
            raise ProtocolError("chunk not followed by CRLF")
