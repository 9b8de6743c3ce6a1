"""blob GET: 307 to the layer host, which acts as S3 does with presigned URLs."""

from __future__ import annotations

import json
from urllib.parse import parse_qsl, urlencode, urlsplit

import pytest
import urllib3

from ecr_replicate_local.ecr_front.s3 import Presigner
from tests.unit.ecr_front.calls import BLOB, BLOB_DIGEST, push_blob
from tests.unit.ecr_front.conftest import REPO, Rig, basic


def _redirect(rig: Rig) -> str:
    push_blob(rig, REPO)
    response = rig.request("GET", f"/v2/{REPO}/blobs/{BLOB_DIGEST}")
    assert response.status == 307 and response.data == b""
    location: str = response.headers["Location"]
    return location


def test_blob_get_redirects_to_a_presigned_url_on_the_layer_host(rig: Rig) -> None:
    location = _redirect(rig)
    url = urlsplit(location)
    assert url.scheme == "https" and url.netloc == rig.front.s3_host != rig.front.host
    query = dict(parse_qsl(url.query))
    assert query["X-Amz-Algorithm"] == "AWS4-HMAC-SHA256"
    assert query["X-Amz-Expires"] == "3600" and query["X-Amz-SignedHeaders"] == "host"
    assert {"X-Amz-Credential", "X-Amz-Date", "X-Amz-Signature"} <= set(query)
    served = rig.http.request("GET", location, retries=False)
    assert served.status == 200 and served.data == BLOB
    assert served.headers["Content-Length"] == str(len(BLOB))


def test_the_layer_host_serves_ranges(rig: Rig) -> None:
    served = rig.http.request("GET", _redirect(rig), headers={"Range": "bytes=10-19"}, retries=False)
    assert served.status == 206 and served.data == BLOB[10:20]


def test_a_client_following_the_redirect_without_credentials_gets_the_blob(rig: Rig) -> None:
    push_blob(rig, REPO)
    # urllib3 drops Authorization when a redirect leaves the host (another port is another host)
    retries = urllib3.Retry(total=2, redirect=1)
    followed = rig.request("GET", f"/v2/{REPO}/blobs/{BLOB_DIGEST}", redirect=True, retries=retries)
    assert followed.status == 200 and followed.data == BLOB


def test_the_layer_host_refuses_a_request_that_also_carries_authorization(rig: Rig) -> None:
    refused = rig.http.request(
        "GET", _redirect(rig), headers={"Authorization": basic(rig.token)}, retries=False
    )
    assert refused.status == 400
    body = refused.data.decode()
    assert "<Code>InvalidArgument</Code>" in body
    assert "Only one auth mechanism allowed" in body
    assert "<ArgumentName>Authorization</ArgumentName>" in body
    assert rig.token not in body and "Basic" not in body  # S3 echoes the value; we never do


@pytest.mark.parametrize("tamper", ["signature", "path", "expires"])
def test_a_tampered_url_is_refused(rig: Rig, tamper: str) -> None:
    url = urlsplit(_redirect(rig))
    query = dict(parse_qsl(url.query))
    path = url.path
    if tamper == "signature":
        query["X-Amz-Signature"] = "0" * 64
    elif tamper == "path":
        path = path.replace(BLOB_DIGEST, "sha256:" + "a" * 64)
    else:
        query["X-Amz-Expires"] = "604800"
    refused = rig.http.request("GET", f"https://{url.netloc}{path}?{urlencode(query)}", retries=False)
    assert refused.status == 403
    assert "<Code>SignatureDoesNotMatch</Code>" in refused.data.decode()


def test_a_head_with_a_url_signed_for_get_is_refused(rig: Rig) -> None:
    assert rig.http.request("HEAD", _redirect(rig), retries=False).status == 403


def test_requests_without_a_signature_are_refused(rig: Rig) -> None:
    url = urlsplit(_redirect(rig))
    anonymous = rig.http.request("GET", f"https://{url.netloc}{url.path}", retries=False)
    assert anonymous.status == 403 and "<Code>AccessDenied</Code>" in anonymous.data.decode()
    partial = dict(parse_qsl(url.query))
    del partial["X-Amz-Date"]
    half = rig.http.request("GET", f"https://{url.netloc}{url.path}?{urlencode(partial)}", retries=False)
    assert half.status == 400 and "AuthorizationQueryParametersError" in half.data.decode()


def test_a_missing_blob_is_not_redirected(rig: Rig) -> None:
    response = rig.request("GET", f"/v2/{REPO}/blobs/{BLOB_DIGEST}")
    assert response.status == 404
    assert json.loads(response.data)["errors"][0]["code"] == "BLOB_UNKNOWN"


def test_expiry_is_enforced() -> None:
    now = [1_700_000_000.0]
    presigner = Presigner("eu-west-1", ttl=60, clock=lambda: now[0])
    url = urlsplit(presigner.url("127.0.0.1:1", REPO, BLOB_DIGEST))
    assert presigner.check("GET", "127.0.0.1:1", url.path, url.query) is None
    now[0] += 60
    assert presigner.check("GET", "127.0.0.1:1", url.path, url.query) is None
    now[0] += 1
    expired = presigner.check("GET", "127.0.0.1:1", url.path, url.query)
    assert expired is not None and expired.status == 403
    assert b"<Code>AccessDenied</Code><Message>Request has expired</Message>" in expired.body
    assert presigner.check("GET", "127.0.0.1:2", url.path, url.query) is not None  # signed for its host


def test_urls_of_one_run_do_not_verify_in_another() -> None:
    first, second = Presigner("eu-west-1"), Presigner("eu-west-1")
    url = urlsplit(first.url("127.0.0.1:1", REPO, BLOB_DIGEST))
    assert second.check("GET", "127.0.0.1:1", url.path, url.query) is not None
