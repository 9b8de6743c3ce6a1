"""Connections to the front and its layer host are kept alive between requests, as ECR's and
S3's are, and closed when a request's body was not read to its end."""

from __future__ import annotations

import http.client
from urllib.parse import urlsplit

from tests.unit.ecr_front.calls import BLOB, BLOB_DIGEST, push_blob, upload_session
from tests.unit.ecr_front.conftest import REPO, Rig, basic


def _connection(rig: Rig, host: str) -> http.client.HTTPSConnection:
    address, port = host.split(":")
    return http.client.HTTPSConnection(address, int(port), context=rig.ca.client_context(), timeout=10)


def _exchange(
    connection: http.client.HTTPSConnection, method: str, path: str, **kwargs: object
) -> http.client.HTTPResponse:
    connection.request(method, path, **kwargs)  # type: ignore[arg-type]
    response = connection.getresponse()
    response.read()
    return response


def test_several_requests_share_one_connection(rig: Rig) -> None:
    connection = _connection(rig, rig.front.host)
    auth = {"Authorization": basic(rig.token)}
    try:
        first = _exchange(connection, "GET", "/v2/", headers=auth)
        sock = connection.sock
        second = _exchange(connection, "GET", f"/v2/{REPO}/tags/list", headers=auth)
        assert first.status == second.status == 200
        assert first.getheader("Connection") is None and connection.sock is sock
    finally:
        connection.close()


def test_an_upload_read_to_its_end_keeps_the_connection(rig: Rig) -> None:
    session = upload_session(rig, REPO)
    connection = _connection(rig, rig.front.host)
    auth = {"Authorization": basic(rig.token)}
    try:
        patched = _exchange(
            connection,
            "PATCH",
            session,
            body=BLOB,
            headers={**auth, "Content-Type": "application/octet-stream"},
        )
        sock = connection.sock
        assert patched.status == 201
        after = _exchange(connection, "GET", "/v2/", headers=auth)
        assert after.status == 200 and connection.sock is sock
    finally:
        connection.close()


def test_a_refused_request_with_an_unread_body_closes_the_connection(rig: Rig) -> None:
    session = upload_session(rig, REPO)
    connection = _connection(rig, rig.front.host)
    try:
        refused = _exchange(connection, "PATCH", session, body=BLOB * 16)  # no credentials
        assert refused.status == 401
        assert refused.getheader("Connection") == "close"
        assert connection.sock is None  # http.client closed it, as the answer said
    finally:
        connection.close()
    assert rig.request("GET", "/v2/").status == 200


def test_a_chunked_request_closes_its_connection(rig: Rig) -> None:
    session = upload_session(rig, REPO)
    connection = _connection(rig, rig.front.host)
    try:
        connection.request(
            "PATCH",
            session,
            body=iter([BLOB[:100], BLOB[100:]]),
            headers={"Authorization": basic(rig.token), "Transfer-Encoding": "chunked"},
            encode_chunked=True,
        )
        response = connection.getresponse()
        response.read()
        assert response.status == 201
        assert response.getheader("Connection") == "close"
    finally:
        connection.close()


def test_a_client_asking_to_close_gets_its_connection_closed(rig: Rig) -> None:
    connection = _connection(rig, rig.front.host)
    try:
        response = _exchange(
            connection, "GET", "/v2/", headers={"Authorization": basic(rig.token), "Connection": "close"}
        )
        assert response.status == 200 and response.getheader("Connection") == "close"
    finally:
        connection.close()


def test_the_layer_host_keeps_its_connections_too(rig: Rig) -> None:
    push_blob(rig, REPO)
    location = urlsplit(rig.request("GET", f"/v2/{REPO}/blobs/{BLOB_DIGEST}").headers["Location"])
    target = f"{location.path}?{location.query}"
    connection = _connection(rig, location.netloc)
    try:
        first = _exchange(connection, "GET", target, headers={"Range": "bytes=0-9"})
        sock = connection.sock
        second = _exchange(connection, "GET", target)
        assert first.status == 206 and second.status == 200 and connection.sock is sock
    finally:
        connection.close()
