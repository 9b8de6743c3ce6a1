"""urllib3 connection pools per ``(scheme, host)``, TLS contexts, and the deadline's socket watch.

urllib3 does the HTTP: request lines, header validation, chunked and Content-Length framing,
keep-alive pooling (``block=True``: ``maxsize`` is also the limit of requests in flight to one
host), TLS with certificate and host-name checks. This module adds three things to it:

- one ``ssl.SSLContext`` per CA file: ``RegistryConfig.ca_file`` is trusted *instead of* the
  system store (as ``curl --cacert``), else the system store;
- :func:`refuse_metadata_peer`: a connection a host name made to a link-local or metadata
  address is closed before anything is sent on it;
- :class:`SocketWatch`: every socket a pool opens is watched through a duplicate of its file
  descriptor; when the copy's :class:`~ecr_replicate.oci.deadline.Deadline` runs out, or the copy
  is interrupted (:meth:`SocketWatch.fire`), the watch shuts every one of them down, which ends
  any read or write blocked on it (TLS handshakes included) in every thread. A duplicate is
  closed as soon as its socket is really closed.
"""

from __future__ import annotations

import contextlib
import socket
import ssl
import threading
import weakref
from typing import Any

from urllib3.connection import HTTPConnection, HTTPSConnection
from urllib3.connectionpool import HTTPConnectionPool, HTTPSConnectionPool

from ecr_replicate.errors import ConfigurationError, RegistryProtocolError
from ecr_replicate.oci.deadline import Deadline
from ecr_replicate.oci.reference import split_host
from ecr_replicate.oci.text import printable
from ecr_replicate.oci.urls import is_metadata_address


class _Watched:
    """One connection's duplicate descriptor and the socket objects it stands for."""

    __slots__ = ("connecting", "dup", "sockets")

    def __init__(self, dup: socket.socket, sock: socket.socket) -> None:
        self.dup = dup
        self.sockets: list[weakref.ref[socket.socket]] = [weakref.ref(sock)]
        self.connecting = True

    def closed(self) -> bool:
        """True once the connection is set up and none of its socket objects is open any more."""
        if self.connecting:
            return False
        for ref in self.sockets:
            sock = ref()
            if sock is not None and sock.fileno() != -1:
                return False
        return True


class SocketWatch:
    """Shuts down every watched socket when ``deadline`` runs out (no timer when it is unbounded)
    or when :meth:`fire` is called."""

    def __init__(self, deadline: Deadline) -> None:
        self.deadline = deadline
        self.fired = False
        self._entries: list[_Watched] = []
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def begin(self, sock: socket.socket) -> _Watched | None:
        """Watch a socket that has just connected (before TLS wraps it)."""
        entry = _Watched(socket.socket.dup(sock), sock)
        with self._lock:
            self._sweep()
            self._entries.append(entry)
            if self._thread is None and self.deadline.bounded:
                self._thread = threading.Thread(target=self._run, name="deadline-watch", daemon=True)
                self._thread.start()
            fired = self.fired
        if fired:
            _shut(entry.dup)
        return entry

    def connected(self, entry: _Watched, sock: Any) -> None:
        """The connection is set up; ``sock`` is what it reads and writes (a TLS socket for https)."""
        with self._lock:
            if isinstance(sock, socket.socket):
                entry.sockets.append(weakref.ref(sock))
            entry.connecting = False

    def close(self) -> None:
        self._stop.set()
        with self._lock:
            entries, self._entries = self._entries, []
        for entry in entries:
            entry.dup.close()

    def _sweep(self) -> None:
        """Close the duplicates of sockets that are closed (lock held)."""
        alive = []
        for entry in self._entries:
            if entry.closed():
                entry.dup.close()
            else:
                alive.append(entry)
        self._entries = alive

    def _run(self) -> None:
        if not self._stop.wait(max(self.deadline.remaining(), 0.0)):
            self.fire()

    def fire(self) -> None:
        """Shut down every socket watched now or from now on: blocked reads and writes return."""
        with self._lock:
            self.fired = True
            entries = list(self._entries)
        for entry in entries:
            _shut(entry.dup)


def _shut(sock: socket.socket) -> None:
    with contextlib.suppress(OSError):  # already closed or never connected: nothing blocks on it
        sock.shutdown(socket.SHUT_RDWR)


def refuse_metadata_peer(sock: socket.socket, host: str) -> None:
    """Close a connection that a host *name* made to a link-local or metadata address (a DNS
    name of the registry's choosing pointed at 169.254.169.254, say), before a byte is sent on
    it. An address written as such in a URL is refused earlier (:func:`urls.resolve`); a
    registry configured at one by its numeric address is the operator's choice and kept."""
    try:
        peer = str(sock.getpeername()[0])
    except OSError:
        return
    if is_metadata_address(peer) and not is_metadata_address(host):
        sock.close()
        raise RegistryProtocolError(
            f"{printable(host)} resolved to {peer}, a link-local or metadata address where no "
            "registry is: not contacted",
            host=host,
        )


class _WatchMixin:
    """What both connection classes add: their socket is watched from the moment it connects."""

    sock: Any

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        self._watch: SocketWatch | None = kwargs.pop("watch", None)
        self._watched: _Watched | None = None
        super().__init__(*args, **kwargs)

    def _new_conn(self) -> socket.socket:
        sock: socket.socket = super()._new_conn()  # type: ignore[misc]
        refuse_metadata_peer(sock, str(getattr(self, "host", "")))
        if self._watch is not None:
            self._watched = self._watch.begin(sock)
        return sock

    def connect(self) -> None:
        try:
            super().connect()  # type: ignore[misc]
        finally:
            if self._watch is not None and self._watched is not None:
                self._watch.connected(self._watched, self.sock)


class WatchedHTTPConnection(_WatchMixin, HTTPConnection):  # type: ignore[misc] # urllib3 1.x: untyped
    pass


class WatchedHTTPSConnection(_WatchMixin, HTTPSConnection):  # type: ignore[misc]
    pass


class _HTTPPool(HTTPConnectionPool):  # type: ignore[misc]
    ConnectionCls = WatchedHTTPConnection


class _HTTPSPool(HTTPSConnectionPool):  # type: ignore[misc]
    ConnectionCls = WatchedHTTPSConnection


class Pools:
    """One urllib3 pool per ``(scheme, host, ca_file)``, shared by the threads of one copy."""

    def __init__(self, watch: SocketWatch, *, per_host_limit: int) -> None:
        self.watch = watch
        self.per_host_limit = per_host_limit
        self._pools: dict[tuple[str, str, str | None], HTTPConnectionPool] = {}
        self._contexts: dict[str | None, ssl.SSLContext] = {}
        self._lock = threading.Lock()

    def get(self, scheme: str, host: str, ca_file: str | None) -> HTTPConnectionPool:
        key = (scheme, host, ca_file if scheme == "https" else None)
        with self._lock:
            pool = self._pools.get(key)
            if pool is None:
                pool = self._pools[key] = self._new(scheme, host, ca_file)
            return pool

    def _new(self, scheme: str, host: str, ca_file: str | None) -> HTTPConnectionPool:
        name, port = split_host(host)
        options: dict[str, Any] = {
            "maxsize": self.per_host_limit,
            "block": True,
            "retries": False,
            "watch": self.watch,
        }
        if scheme == "http":
            return _HTTPPool(name.strip("[]"), port or 80, **options)
        return _HTTPSPool(name.strip("[]"), port or 443, ssl_context=self._context(ca_file), **options)

    def _context(self, ca_file: str | None) -> ssl.SSLContext:
        """Certificates and host names verified; ``ca_file`` replaces the system store."""
        context = self._contexts.get(ca_file)
        if context is None:
            try:
                context = ssl.create_default_context(cafile=ca_file)
                # urllib3 matches the host name itself (IP addresses included, which the ssl
                # module cannot take as server_hostname on every urllib3 version)
                context.check_hostname = False
            except (OSError, ssl.SSLError) as exc:
                raise ConfigurationError(
                    f"CA file {ca_file}: cannot be used ({type(exc).__name__}: {exc})"
                ) from None
            self._contexts[ca_file] = context
        return context

    def close(self) -> None:
        with self._lock:
            pools, self._pools = list(self._pools.values()), {}
        for pool in pools:
            pool.close()
        self.watch.close()
