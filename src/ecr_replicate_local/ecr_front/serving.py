"""A threaded HTTPS server for a WSGI app, on a free 127.0.0.1 port: werkzeug's, made stricter.

werkzeug's threaded server streams request bodies (``Content-Length`` and chunked) and response
bodies, and answers each connection on its own thread. Four changes:

- the TLS handshake runs on the connection's own thread, with a timeout (werkzeug does it in
  the accept loop, where one silent client would stall every other one). A client speaking
  plain http to the port fails the handshake and is disconnected: nothing is served in clear;
- connections are kept alive, as ECR's and S3's are: werkzeug's development server closes every
  connection after one answer (and waits 10 ms on it), so each request paid a TCP connection, a
  TLS handshake and a thread. A connection is kept when its request's body was read to its end
  (the app reads ``wsgi.input``, bounded to ``Content-Length``), else the answer says
  ``Connection: close``, what is left of the body is drained (bounded) and the connection closed;
  chunked request bodies close it too. Answers go out without Nagle's delay (``TCP_NODELAY``);
- werkzeug's request log is off: request lines carry presigned queries and upload states;
- :meth:`TlsServer.stop` closes the open connections and joins every thread it started.
"""

from __future__ import annotations

import contextlib
import io
import logging
import selectors
import socket
import ssl
import threading
from collections.abc import Iterable
from http import HTTPStatus
from typing import IO, Any

from werkzeug.serving import ThreadedWSGIServer, WSGIRequestHandler

from ecr_replicate_local.registry import LOOPBACK

logger = logging.getLogger(__name__)

HANDSHAKE_TIMEOUT = 10.0
IDLE_TIMEOUT = 120.0
DRAIN_LIMIT = 64 << 20  # bytes of an unread request body drained before its connection is closed
DRAIN_WAIT = 0.05  # seconds a drain waits for more of the body
SERVER_ERROR = b"Internal Server Error\n"


class BoundedInput(io.RawIOBase):
    """A request body of ``Content-Length`` bytes: reads end there (never into the next request
    on a kept-alive connection), and :attr:`remaining` says what the app left unread."""

    def __init__(self, stream: io.BufferedIOBase | IO[bytes], length: int) -> None:
        super().__init__()
        self._stream = stream
        self.remaining = length

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        if self.remaining <= 0:
            return 0
        view = memoryview(buffer)[: self.remaining]
        count = self._stream.readinto(view)  # type: ignore[union-attr]
        self.remaining -= count or 0
        return count or 0

    def read(self, size: int = -1) -> bytes:
        if self.remaining <= 0:
            return b""
        wanted = self.remaining if size is None or size < 0 else min(size, self.remaining)
        data = self._stream.read(wanted)
        self.remaining -= len(data)
        return data


def _content_length(value: str | None) -> int | None:
    if value is None or not value.strip().isdigit():
        return None
    return int(value)


class _QuietHandler(WSGIRequestHandler):
    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True  # StreamRequestHandler sets TCP_NODELAY on the connection

    def run_wsgi(self) -> None:
        """One request on a connection that may serve more (see the module's docstring)."""
        if self.headers.get("Expect", "").lower().strip(" \t") == "100-continue":
            self.wfile.write(b"HTTP/1.1 100 Continue\r\n\r\n")
        environ = self.make_environ()
        body: BoundedInput | None = None
        if environ.get("wsgi.input_terminated"):
            self.close_connection = True  # chunked: closed after the answer, whatever was read
        else:
            length = _content_length(environ.get("CONTENT_LENGTH"))
            if length is None and environ.get("CONTENT_LENGTH") not in (None, ""):
                self.close_connection = True  # a length we cannot read: no second request here
            body = BoundedInput(self.rfile, length or 0)
            environ["wsgi.input"] = body
        answer: list[Any] = []

        def start_response(status: str, headers: list[tuple[str, str]], exc_info: Any = None) -> Any:
            answer[:] = [status, list(headers)]
            return self._no_write

        try:
            result: Iterable[bytes] = self.server.app(environ, start_response)
        except Exception:
            logger.debug("https server: the application failed", exc_info=True)
            answer[:] = ["500 Internal Server Error", [("Content-Length", str(len(SERVER_ERROR)))]]
            result = [SERVER_ERROR]
        try:
            unread = body is not None and body.remaining > 0
            if unread:
                self.close_connection = True
            self._answer(environ["REQUEST_METHOD"], answer[0], answer[1], result)
        finally:
            close = getattr(result, "close", None)
            if close is not None:
                close()
        if unread and body is not None:
            self._drain(body)

    @staticmethod
    def _no_write(data: bytes) -> None:
        raise NotImplementedError("write() of start_response is not supported: return an iterable")

    def _answer(
        self, method: str, status: str, headers: list[tuple[str, str]], result: Iterable[bytes]
    ) -> None:
        code_text, _, reason = status.partition(" ")
        code = int(code_text)
        names = {key.lower() for key, _ in headers}
        chunked = not ("content-length" in names or method == "HEAD" or code in (204, 304) or code < 200)
        self.send_response_only(code, reason or HTTPStatus(code).phrase)
        if "server" not in names:  # the app's own (S3 answers as AmazonS3) replaces werkzeug's
            self.send_header("Server", self.version_string())
        if "date" not in names:
            self.send_header("Date", self.date_time_string())
        for key, value in headers:
            self.send_header(key, value)  # a "Connection: close" from the app closes it too
        if chunked:
            self.send_header("Transfer-Encoding", "chunked")
        if self.close_connection:
            self.send_header("Connection", "close")
        self.end_headers()
        if method == "HEAD":
            return
        try:
            for piece in result:
                if chunked and piece:
                    self.wfile.write(b"%x\r\n" % len(piece))
                    self.wfile.write(piece)
                    self.wfile.write(b"\r\n")
                elif piece:
                    self.wfile.write(piece)
            if chunked:
                self.wfile.write(b"0\r\n\r\n")
        except Exception:
            self.close_connection = True  # the answer is cut short: the client must see it end
            raise

    def _drain(self, body: BoundedInput) -> None:
        """Read (bounded) what the client still sends of a body nobody read, so that it sees
        the answer rather than a reset; the connection is closed after."""
        selector = selectors.DefaultSelector()
        try:
            selector.register(self.connection, selectors.EVENT_READ)
            drained = 0
            while body.remaining > 0 and drained < DRAIN_LIMIT:
                if not selector.select(timeout=DRAIN_WAIT) and not getattr(self.connection, "pending", int)():
                    break
                data = body.read(min(body.remaining, 1 << 20))
                if not data:
                    break
                drained += len(data)
        except OSError:
            pass
        finally:
            selector.close()

    def log_request(self, code: int | str = "-", size: int | str = "-") -> None:
        """Not logged: the front records each request in its journal instead."""

    def log_error(self, format: str, *args: Any) -> None:
        # the arguments can hold the raw request line (with its query): only the template
        logger.debug("https server: %s", format.split(":", maxsplit=1)[0].strip("% "))


class _Server(ThreadedWSGIServer):
    daemon_threads = False  # stop() joins them
    block_on_close = True

    def __init__(self, app: Any, context: ssl.SSLContext) -> None:
        super().__init__(LOOPBACK, 0, app, handler=_QuietHandler)
        # werkzeug takes the scheme (https) from this attribute; the wrapping is ours (below)
        self.ssl_context = context
        self._open: set[ssl.SSLSocket] = set()
        self._open_lock = threading.Lock()
        self.closing = False

    def finish_request(self, request: Any, client_address: Any) -> None:
        """Runs on the connection's thread: handshake, then werkzeug's handler."""
        assert self.ssl_context is not None
        try:
            connection = self.ssl_context.wrap_socket(
                request, server_side=True, do_handshake_on_connect=False
            )
        except OSError:
            return
        with self._open_lock:
            if self.closing:
                connection.close()
                return
            self._open.add(connection)
        try:
            connection.settimeout(HANDSHAKE_TIMEOUT)
            try:
                connection.do_handshake()
            except (OSError, ssl.SSLError) as exc:  # plain http, a port scan, a client gone
                logger.debug("https server: TLS handshake failed: %s", type(exc).__name__)
                return
            connection.settimeout(IDLE_TIMEOUT)
            self.RequestHandlerClass(connection, client_address, self)  # type: ignore[arg-type]
        finally:
            with self._open_lock:
                self._open.discard(connection)
            with contextlib.suppress(OSError):
                connection.close()

    def handle_error(self, request: Any, client_address: Any) -> None:
        logger.debug("https server: connection ended with an error", exc_info=True)

    def close_open_connections(self) -> None:
        with self._open_lock:
            self.closing = True
            connections = list(self._open)
        for connection in connections:
            with contextlib.suppress(OSError):
                connection.shutdown(socket.SHUT_RDWR)


class TlsServer:
    """``TlsServer(app, context).start()`` serves ``app`` on ``https://127.0.0.1:<port>``."""

    def __init__(self, app: Any, context: ssl.SSLContext, name: str = "https") -> None:
        self._server = _Server(app, context)
        self._thread: threading.Thread | None = None
        self.name = name

    @property
    def port(self) -> int:
        return int(self._server.server_address[1])

    @property
    def host(self) -> str:
        return f"{LOOPBACK}:{self.port}"

    @property
    def app(self) -> Any:
        return self._server.app

    @app.setter
    def app(self, app: Any) -> None:
        self._server.app = app

    def start(self) -> TlsServer:
        if self._thread is None:
            self._thread = threading.Thread(
                target=self._server.serve_forever, kwargs={"poll_interval": 0.1}, name=f"{self.name}-accept"
            )
            self._thread.start()
        return self

    def stop(self) -> None:
        """Stop accepting, close open connections, join every thread, close the socket."""
        self._server.close_open_connections()  # first: serve_forever's exit joins their threads
        if self._thread is not None:
            self._server.shutdown()
            self._thread.join()
            self._thread = None
        self._server.server_close()  # joins the connection threads (block_on_close)
