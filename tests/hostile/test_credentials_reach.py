"""Item 3: credentials go to the registry's own host and scheme, nowhere else.

Each case puts a second recording server where a hostile registry points us (an upload
Location, a redirect, a Bearer realm) and asserts on what that server saw.
"""

from __future__ import annotations

import base64
import contextlib

import pytest

from ecr_replicate.credentials import EcrCredentials
from ecr_replicate.errors import AuthenticationError, ConfigurationError, ReplicationError
from ecr_replicate.oci.auth import StaticCredentials
from ecr_replicate.oci.transport import RetryPolicy
from tests.hostile.conftest import copy_between
from tests.support.hostile_registry import FakeRegistry, HostileServer, Reply, Seen
from tests.support.tls import TlsFiles

pytestmark = pytest.mark.timeout(30)

USER, PASSWORD = "user", "secret"


def accept_uploads(seen: Seen) -> Reply:
    """An upload endpoint that takes anything (the 'other host' a Location names)."""
    if seen.method == "PATCH":
        return Reply(202, [("Location", seen.target)])
    if seen.method == "PUT":
        return Reply(201, [("Docker-Content-Digest", seen.query.get("digest", ""))])
    return Reply(204)


def token_endpoint(seen: Seen) -> Reply:
    return Reply.json(200, {"token": "anonymous-token"})


def creds(*servers: HostileServer) -> StaticCredentials:
    return StaticCredentials({server.host: (USER, PASSWORD) for server in servers})


def test_an_upload_location_on_another_host_gets_no_credentials(servers, retry: RetryPolicy) -> None:
    source = servers(FakeRegistry)
    target = servers(FakeRegistry, auth=("basic", USER, PASSWORD))
    elsewhere = servers(HostileServer, accept_uploads, name="elsewhere")
    source.push_image("app", "v1")
    target.script(
        lambda seen: seen.method == "POST" and "/blobs/uploads" in seen.target,
        Reply(202, [("Location", f"http://{elsewhere.host}/v2/app/blobs/uploads/xyz?_state=1")]),
    )
    # whether the copy completes is the registry's business; where credentials went is ours
    with contextlib.suppress(ReplicationError):
        copy_between(source, target, credentials=creds(target), retry=retry)
    assert elsewhere.seen("PATCH"), "the upload did go to the Location's host"
    assert elsewhere.authorizations() == []


def test_a_bearer_realm_on_another_host_gets_no_basic_credentials(servers, retry: RetryPolicy) -> None:
    realm = servers(HostileServer, token_endpoint, name="realm")
    source = servers(FakeRegistry, auth=("bearer", USER, PASSWORD), realm=f"http://{realm.host}/token")
    with pytest.raises(ReplicationError):
        copy_between(source, servers(FakeRegistry), credentials=creds(source), retry=retry)
    assert realm.seen("GET", "/token"), "the token endpoint was asked (anonymously)"
    assert realm.authorizations() == []


def test_a_bearer_realm_over_http_for_an_https_registry_gets_no_basic(
    servers, tls: TlsFiles, retry: RetryPolicy
) -> None:
    realm = servers(HostileServer, token_endpoint, name="realm")
    source = servers(
        FakeRegistry, tls=tls, auth=("bearer", USER, PASSWORD), realm=f"http://{realm.host}/token"
    )
    with pytest.raises(ReplicationError):
        copy_between(source, servers(FakeRegistry), credentials=creds(source), retry=retry)
    assert realm.authorizations() == []


@pytest.mark.parametrize("realm", ["ftp://127.0.0.1:21/token", "file:///etc/passwd", "/relative/token", ""])
def test_a_bearer_realm_with_another_scheme_is_refused(realm: str, servers, retry: RetryPolicy) -> None:
    source = servers(FakeRegistry, auth=("bearer", USER, PASSWORD), realm=realm)
    with pytest.raises(AuthenticationError):
        copy_between(source, servers(FakeRegistry), credentials=creds(source), retry=retry)


def test_a_same_host_realm_gets_the_credentials_and_the_copy_works(servers, retry: RetryPolicy) -> None:
    source = servers(FakeRegistry, auth=("bearer", USER, PASSWORD))
    target = servers(FakeRegistry, auth=("basic", USER, PASSWORD))
    image = source.push_image("app", "v1")
    copy_between(source, target, credentials=creds(source, target), retry=retry)
    assert target.tag_of("app", "v1") == image.digest


def s3_like(seen: Seen, blobs: dict[str, bytes]) -> Reply:
    """S3 refuses a presigned GET that also carries Authorization (400 InvalidArgument)."""
    if seen.header("Authorization") is not None:
        return Reply(
            400, [("Content-Type", "application/xml")], b"<Error><Code>InvalidArgument</Code></Error>"
        )
    digest = seen.path.rsplit("/", 1)[-1]
    return Reply(200, [("Content-Type", "application/octet-stream")], blobs[digest])


def test_a_blob_redirect_is_followed_without_authorization(servers, retry: RetryPolicy) -> None:
    source = servers(FakeRegistry, auth=("basic", USER, PASSWORD))
    image = source.push_image("app", "v1")
    bucket = servers(HostileServer, lambda seen: s3_like(seen, source.blobs), name="s3")
    source.script(
        lambda seen: (
            seen.method == "GET" and "/blobs/sha256:" in seen.target and seen.header("Authorization")
        ),
        lambda seen: Reply(
            307,
            [("Location", f"http://{bucket.host}/bucket/{seen.path.rsplit('/', 1)[-1]}?X-Amz-Signature=abc")],
        ),
    )
    target = servers(FakeRegistry)
    copy_between(source, target, credentials=creds(source), retry=retry)
    assert target.tag_of("app", "v1") == image.digest
    assert bucket.seen("GET") and bucket.authorizations() == []


def test_a_manifest_redirect_to_another_host_carries_no_credentials(servers, retry: RetryPolicy) -> None:
    source = servers(FakeRegistry, auth=("basic", USER, PASSWORD))
    image = source.push_image("app", "v1")
    mirror = servers(
        HostileServer,
        lambda seen: Reply(
            200, [("Content-Type", "application/vnd.oci.image.manifest.v1+json")], image.manifest
        ),
        name="mirror",
    )
    source.script(
        lambda seen: (
            seen.method == "GET" and seen.target.endswith("/manifests/v1") and seen.header("Authorization")
        ),
        Reply(302, [("Location", f"http://{mirror.host}/v2/app/manifests/v1")]),
    )
    with contextlib.suppress(ReplicationError):
        copy_between(source, servers(FakeRegistry), credentials=creds(source), retry=retry)
    assert mirror.seen("GET") and mirror.authorizations() == []


@pytest.mark.parametrize(
    "location", ["ftp://127.0.0.1:21/x", "//", "http://[::1/x", "http://127.0.0.1:99999/x"]
)
def test_a_redirect_to_a_bad_location_is_a_typed_error(location: str, servers, retry: RetryPolicy) -> None:
    source = servers(FakeRegistry)
    source.push_image("app", "v1")
    source.script(lambda seen: "/manifests/v1" in seen.target, Reply(307, [("Location", location)]))
    with pytest.raises(ReplicationError):
        copy_between(source, servers(FakeRegistry), retry=retry)


def test_a_redirect_loop_is_bounded(servers, retry: RetryPolicy) -> None:
    source = servers(FakeRegistry)
    source.push_image("app", "v1")
    source.script(
        lambda seen: "/manifests/v1" in seen.target, Reply(307, [("Location", "/v2/app/manifests/v1")])
    )
    with pytest.raises(ReplicationError, match="redirect"):
        copy_between(source, servers(FakeRegistry), retry=retry)
    assert len(source.seen("GET", "/manifests/v1")) <= 10


class _Ecr:
    """An ECR client stand-in: GetAuthorizationToken answers a known token."""

    def get_authorization_token(self) -> dict[str, object]:
        return {"authorizationData": [{"authorizationToken": base64.b64encode(b"AWS:ecr-token").decode()}]}


def test_an_ecr_token_never_goes_over_plain_http(servers, retry: RetryPolicy) -> None:
    """An ECR registry (here a REGISTRY_ENDPOINTS host) reached over http gets no token: the
    provider refuses it, before any request carries it."""
    source, target = servers(FakeRegistry), servers(FakeRegistry, auth=("basic", "AWS", "ecr-token"))
    source.push_image("app", "v1")
    provider = EcrCredentials(lambda region: _Ecr(), endpoints={"eu-west-1": target.host})
    with pytest.raises(ConfigurationError, match="plain http"):
        copy_between(source, target, credentials=provider, retry=retry)
    assert target.authorizations() == []
    allowed = EcrCredentials(
        lambda region: _Ecr(), endpoints={"eu-west-1": target.host}, plain_http_hosts=[target.host]
    )
    copy_between(source, target, credentials=allowed, retry=retry)  # the local twin's loopback setting
    assert target.tag_of("app", "v1") is not None
