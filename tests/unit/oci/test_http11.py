from __future__ import annotations

import socket

import pytest
from ecr_replicate.oci.http11 import ProtocolError, Response


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
