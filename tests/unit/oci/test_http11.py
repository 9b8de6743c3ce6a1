from __future__ import annotations

import _socket
import socket
import ssl
import subprocess
import threading
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from ecr_replicate.oci.http11 import Connection, ProtocolError, Response


def respond(raw: bytes, method: str = "GET") -> Response:
    left, right = socket.socketpair()
    right.sendall(raw)
    right.close()
    return Response(left.makefile("rb"), method)


def test_content_length_body_and_headers() -> None:
    r = respond(
        b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\nDocker-Content-Digest: sha256:x\r\n"
        b"X-A: 1\r\nx-a: 2\r\n\r\nhelloEXTRA"
    )
    assert r.status == 200 and r.getheader("docker-content-digest") == "sha256:x"
    assert r.getheader("X-A") == "1, 2"
    assert r.read() == b"hello" and r.isclosed() and not r.will_close


def test_chunked_body_with_trailers() -> None:
    r = respond(
        b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n2;x=y\r\nde\r\n0\r\nT: v\r\n\r\n"
    )
    assert r.read(2) == b"ab"
    assert r.read() == b"cde" and r.isclosed()


def test_until_close_and_head_and_continue() -> None:
    r = respond(b"HTTP/1.0 200 OK\r\n\r\nall of it")
    assert r.will_close and r.read() == b"all of it"
    head = respond(b"HTTP/1.1 200 OK\r\nContent-Length: 99\r\n\r\n", method="HEAD")
    assert head.isclosed() and head.read() == b""
    interim = respond(b"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 204 No Content\r\n\r\n")
    assert interim.status == 204 and interim.isclosed()


@pytest.mark.parametrize(
    "raw",
    [
        b"",
        b"garbage\r\n\r\n",
        b"HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nshort",
        b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n",
    ],
)
def test_broken_framing_is_a_connection_error(raw: bytes) -> None:
    with pytest.raises(ProtocolError):
        respond(raw).read()
    assert issubclass(ProtocolError, OSError)  # retried like any connection failure


# ---------------------------------------------------------------- Connection over real sockets

ANSWER = b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok"


def serve_once(answer: bytes | None, wrap: Callable[[socket.socket], socket.socket] | None = None) -> str:
    """A server on 127.0.0.1 for one connection: reads the request head, sends ``answer``
    (None: never answers). Returns its ``host:port``."""
    listener = socket.create_server(("127.0.0.1", 0))
    port = listener.getsockname()[1]

    def run() -> None:
        with listener:
            conn, _ = listener.accept()
            try:
                conn = wrap(conn) if wrap else conn
                data = b""
                while b"\r\n\r\n" not in data:
                    data += conn.recv(4096)
                if answer is not None:
                    conn.sendall(answer)
                else:
                    time.sleep(2)
            except OSError:
                pass  # the client gave up (timeout, failed handshake)
            finally:
                conn.close()

    threading.Thread(target=run, daemon=True).start()
    return f"127.0.0.1:{port}"


def test_plain_http_runs_on_the_c_socket_type() -> None:
    conn = Connection("http", serve_once(ANSWER), timeout=5)
    conn.request("GET", "/v2/", {})
    assert type(conn.sock) is _socket.socket  # what blobs.py's zero-copy path requires
    response = conn.get_response("GET")
    assert response.status == 200 and response.read() == b"ok"
    conn.close()
    assert conn.sock is None


def test_a_silent_server_times_out() -> None:
    conn = Connection("http", serve_once(None), timeout=0.3)
    conn.request("GET", "/v2/", {})
    started = time.monotonic()
    with pytest.raises(TimeoutError):
        conn.get_response("GET")
    assert time.monotonic() - started < 1.5
    conn.close()


def test_connection_refused_is_an_oserror() -> None:
    with socket.create_server(("127.0.0.1", 0)) as probe:
        host = f"127.0.0.1:{probe.getsockname()[1]}"
    with pytest.raises(ConnectionRefusedError):
        Connection("http", host, timeout=2).request("GET", "/", {})


@pytest.fixture(scope="module")
def certificate(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """A self-signed certificate for 127.0.0.1 (openssl)."""
    folder = tmp_path_factory.mktemp("tls")
    cert, key = folder / "cert.pem", folder / "key.pem"
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1",
         "-keyout", str(key), "-out", str(cert), "-subj", "/CN=127.0.0.1",
         "-addext", "subjectAltName=IP:127.0.0.1"],
        check=True, capture_output=True, timeout=60,
    )  # fmt: skip
    return cert, key


def tls_server(cert: Path, key: Path) -> Callable[[socket.socket], socket.socket]:
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert, key)
    return lambda sock: context.wrap_socket(sock, server_side=True)


def test_https_verifies_the_certificate_and_speaks_tls(
    certificate: tuple[Path, Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    cert, key = certificate
    # untrusted: the handshake fails on verification, nothing is sent in clear
    with pytest.raises(ssl.SSLCertVerificationError):
        Connection("https", serve_once(ANSWER, tls_server(cert, key)), timeout=5).connect()
    # trusted (OpenSSL reads SSL_CERT_FILE when the default context loads its CAs)
    monkeypatch.setenv("SSL_CERT_FILE", str(cert))
    conn = Connection("https", serve_once(ANSWER, tls_server(cert, key)), timeout=5)
    conn.request("GET", "/v2/", {})
    assert isinstance(conn.sock, ssl.SSLSocket)
    response = conn.get_response("GET")
    assert response.status == 200 and response.read() == b"ok"
    conn.close()
