"""Basic AWS:<token>: ECR's 401 for anything but a live token, 403 for an expired one; https only."""

from __future__ import annotations

import http.client
import json
import socket
import ssl

import pytest
import urllib3

from tests.unit.ecr_front.conftest import REPO, ROLE, Rig, basic


def test_base_endpoint_answers_a_live_token(rig: Rig) -> None:
    response = rig.request("GET", "/v2/")
    assert response.status == 200
    assert response.headers["Docker-Distribution-Api-Version"] == "registry/2.0"
    entry = rig.front.journal.entries()[-1]
    assert (entry.principal, entry.action, entry.status) == (ROLE, None, 200)


@pytest.mark.parametrize(
    "authorization",
    [
        None,
        "Basic !!!not-base64!!!",
        basic("no-such-token"),
        "Bearer abc",
        "Basic " + "QVdT",  # "AWS" without ":password"
    ],
    ids=["missing", "malformed", "unknown-token", "bearer", "no-password"],
)
@pytest.mark.parametrize("path", ["/v2/", f"/v2/{REPO}/manifests/latest", "/v2/_catalog"])
def test_anything_but_a_live_token_gets_ecrs_401(rig: Rig, authorization: str | None, path: str) -> None:
    headers = {"Authorization": authorization} if authorization else {}
    response = rig.request("GET", path, token=None, headers=headers)
    assert response.status == 401
    host = rig.front.host
    assert (
        response.headers["WWW-Authenticate"] == f'Basic realm="https://{host}/",service="ecr.amazonaws.com"'
    )
    assert response.data == b"Not Authorized\n"
    assert rig.authorizer.asked == []  # never reaches IAM
    assert rig.front.journal.entries()[-1].principal is None


def test_a_token_under_another_user_name_is_refused(rig: Rig) -> None:
    response = rig.request(
        "GET", "/v2/", token=None, headers={"Authorization": basic(rig.token, user="admin")}
    )
    assert response.status == 401


def test_an_expired_token_gets_denied_with_ecrs_expiry_message(rig: Rig) -> None:
    rig.tokens.expire(rig.token)
    response = rig.request("GET", f"/v2/{REPO}/tags/list")
    assert response.status == 403
    error = json.loads(response.data)["errors"][0]
    assert error["code"] == "DENIED"
    assert error["message"] == "Your authorization token has expired. Reauthenticate and try again."


def test_plain_http_to_the_front_is_not_served(rig: Rig) -> None:
    connection = http.client.HTTPConnection(rig.front.host, timeout=10)
    try:
        with pytest.raises((ConnectionError, http.client.HTTPException, OSError)):
            connection.request("GET", "/v2/", headers={"Authorization": basic(rig.token)})
            connection.getresponse()
    finally:
        connection.close()
    assert rig.front.journal.entries() == []


def test_a_client_that_does_not_trust_the_ca_cannot_connect(rig: Rig) -> None:
    pool = urllib3.PoolManager(cert_reqs="CERT_REQUIRED")  # system store only
    with pytest.raises(urllib3.exceptions.SSLError):
        pool.request("GET", rig.url("/v2/"), retries=False)


def test_tls_1_2_is_the_floor(rig: Rig) -> None:
    assert rig.front.certificate.server_context().minimum_version == ssl.TLSVersion.TLSv1_2
    context = rig.ca.client_context()
    context.maximum_version = ssl.TLSVersion.TLSv1_2
    host, port = rig.front.host.split(":")
    with (
        socket.create_connection((host, int(port)), timeout=10) as sock,
        context.wrap_socket(sock, server_hostname=host) as tls,
    ):
        assert tls.version() == "TLSv1.2"
