"""Red team: attacks that held (they pass today and must keep passing).

Each goes beyond the hostile suite's own cases: a second registry of the same copy (not a
stranger) as the place credentials could leak to, and crafted values in places the suite does not
script (a commit's digest, a token, dot segments in an upload Location).
"""

from __future__ import annotations

import contextlib

import pytest

from ecr_replicate.errors import AuthenticationError, BlobIntegrityError, ReplicationError
from ecr_replicate.oci.auth import StaticCredentials
from ecr_replicate.oci.transport import RetryPolicy
from tests.hostile.conftest import copy_between
from tests.support.hostile_registry import FakeRegistry, HostileServer, Reply, Seen, sha256

pytestmark = pytest.mark.timeout(60)

USER, PASSWORD = "user", "s3cr3t-password"


def creds(*registries: HostileServer) -> StaticCredentials:
    return StaticCredentials({registry.host: (USER, PASSWORD) for registry in registries})


def test_a_source_realm_on_the_targets_origin_gets_no_target_credentials(servers, retry: RetryPolicy) -> None:
    target = servers(FakeRegistry, auth=("basic", USER, PASSWORD))
    source = servers(FakeRegistry, auth=("bearer", "u", "p"), realm=f"{target.url}/token")
    source.push_image("app", "v1")
    with contextlib.suppress(ReplicationError):
        copy_between(source, target, credentials=creds(target), retry=retry)
    assert target.seen("GET", "/token"), "the realm was asked"
    assert all(seen.header("Authorization") is None for seen in target.seen("GET", "/token"))


def test_a_source_blob_redirect_to_the_target_gets_no_target_credentials(servers, retry: RetryPolicy) -> None:
    source = servers(FakeRegistry)
    target = servers(FakeRegistry, auth=("basic", USER, PASSWORD))
    layer = b"one layer"
    source.push_image("app", "v1", layers=[layer])
    digest = sha256(layer)
    source.script(
        lambda seen: seen.method == "GET" and digest in seen.target,
        Reply(307, [("Location", f"{target.url}/v2/app/blobs/{digest}")]),
    )
    with contextlib.suppress(ReplicationError):
        copy_between(source, target, credentials=creds(target), retry=retry)
    followed = target.seen("GET", digest)
    assert followed and all(seen.header("Authorization") is None for seen in followed)


def test_a_commit_answered_with_another_digest_writes_no_manifest(servers, retry: RetryPolicy) -> None:
    source, target = servers(FakeRegistry), servers(FakeRegistry)
    source.push_image("app", "v1")
    target.script(
        lambda seen: seen.method == "PUT" and "/blobs/uploads/" in seen.target,
        Reply(201, [("Docker-Content-Digest", "sha256:" + "1" * 64)]),
    )
    with pytest.raises(BlobIntegrityError):
        copy_between(source, target, retry=retry)
    assert target.seen("PUT", "/manifests/") == [] and target.tag_of("app", "v1") is None


@pytest.mark.parametrize("token", ["abc\r\nX-Injected: 1", "a" * 20_000, "caf\u00e9", ""])
def test_an_unusable_token_is_refused_before_it_goes_into_a_header(token: str, servers, retry) -> None:
    def answer(seen: Seen) -> Reply:
        if seen.path == "/token":
            return Reply.json(200, {"token": token})
        return Reply.error(
            401, "UNAUTHORIZED", headers=[("WWW-Authenticate", f'Bearer realm="{registry.url}/token"')]
        )

    registry = servers(HostileServer, answer)
    with pytest.raises(AuthenticationError):
        copy_between(registry, servers(FakeRegistry), retry=retry)
    assert all("X-Injected" not in str(seen.headers) for seen in registry.requests)


def test_dot_segments_in_an_upload_location_never_leave_the_repository(servers, retry: RetryPolicy) -> None:
    source, target = servers(FakeRegistry), servers(FakeRegistry)
    source.push_image("app", "v1")
    target.script(
        lambda seen: seen.method == "POST",
        Reply(202, [("Location", "/v2/app/blobs/uploads/../../../other/blobs/uploads/x")]),
    )
    with pytest.raises(ReplicationError):
        copy_between(source, target, retry=retry)
    assert not [seen for seen in target.requests if "/other/" in seen.path]
