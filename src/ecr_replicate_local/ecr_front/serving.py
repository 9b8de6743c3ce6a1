"""A threaded HTTPS server for a WSGI app, on a free 127.0.0.1 port: werkzeug's, made stricter.

werkzeug's threaded server streams request bodies (``Content-Length`` and chunked) and response
bodies, and answers each request on its own thread. Three changes:

- the TLS handshake runs on the connection's own thread, with a timeout (werkzeug does it in
  the accept loop, where one silent client would stall every other one). A client speaking
  plain http to the port fails the handshake and is disconnected: nothing is served in clear;
- werkzeug's request log is off: request lines carry presigned queries and upload states;
- :meth:`TlsServer.stop` closes the open connections and joins every thread it started.
"""

from __future__ import annotations

import contextlib
import logging
import socket
import ssl
import threading
from typing import Any

from werkzeug.serving import ThreadedWSGIServer, WSGIRequestHandler

from ecr_replicate_local.registry import LOOPBACK

logger = logging.getLogger(__name__)

HANDSHAKE_TIMEOUT = 10.0
IDLE_TIMEOUT = 120.0


class _QuietHandler(WSGIRequestHandler):
    protocol_version = "HTTP/1.1"

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
