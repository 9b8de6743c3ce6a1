"""Item 7: blob digests are verified while the bytes stream, so a target that accepts anything
still never commits bytes that do not match their digest."""

from __future__ import annotations

import pytest

from ecr_replicate.errors import BlobIntegrityError, ReplicationError
from ecr_replicate.oci.transport import RetryPolicy
from tests.hostile.conftest import copy_between
from tests.support.hostile_registry import FakeRegistry, Reply, Seen, sha256

pytestmark = pytest.mark.timeout(30)

LAYER = b"the layer's real bytes, " * 4000


def layer_get(seen: Seen) -> bool:
    return seen.method == "GET" and sha256(LAYER) in seen.target


def assert_nothing_committed(target: FakeRegistry) -> None:
    assert sha256(LAYER) not in target.committed
    assert target.seen("PUT", "/manifests/") == []
    assert target.tag_of("app", "v1") is None


@pytest.mark.parametrize(
    "reply",
    [
        Reply(200, [], bytes(len(LAYER))),  # same length, other bytes
        Reply(200, [], LAYER[:-1] + b"!"),  # the last byte differs
        Reply(200, [], LAYER + b"tail", chunked=True),  # longer than its descriptor (no Content-Length)
        Reply(200, [], LAYER[:-10], chunked=True),  # shorter, and the body says it is complete
        Reply(200, [], LAYER + b"x"),  # Content-Length differs from the descriptor
    ],
    ids=["other-bytes", "last-byte", "longer-chunked", "shorter-chunked", "length-mismatch"],
)
def test_a_lying_source_commits_nothing_on_an_accept_anything_target(
    reply: Reply, servers, retry: RetryPolicy
) -> None:
    source = servers(FakeRegistry)
    target = servers(FakeRegistry, verify_digests=False)
    source.push_image("app", "v1", layers=[LAYER])
    source.script(layer_get, reply)
    with pytest.raises(BlobIntegrityError):
        copy_between(source, target, retry=retry)
    assert_nothing_committed(target)


def test_a_lying_source_is_not_retried(servers, retry: RetryPolicy) -> None:
    source, target = servers(FakeRegistry), servers(FakeRegistry, verify_digests=False)
    source.push_image("app", "v1", layers=[LAYER])
    source.script(layer_get, Reply(200, [], bytes(len(LAYER))))
    with pytest.raises(BlobIntegrityError):
        copy_between(source, target, retry=retry)
    assert len(source.seen("GET", sha256(LAYER))) == 1


def test_an_abandoned_upload_is_cancelled(servers, retry: RetryPolicy) -> None:
    source, target = servers(FakeRegistry), servers(FakeRegistry, verify_digests=False)
    source.push_image("app", "v1", layers=[LAYER])
    source.script(layer_get, Reply(200, [], bytes(len(LAYER))))
    with pytest.raises(ReplicationError):
        copy_between(source, target, retry=retry)
    assert target.seen("DELETE", "/blobs/uploads/"), "the upload session was abandoned explicitly"
    assert target.uploads == {} or all(len(buf) < len(LAYER) for _, buf in target.uploads.values())


def test_a_target_that_stores_other_bytes_is_caught(servers, retry: RetryPolicy) -> None:
    source, target = servers(FakeRegistry), servers(FakeRegistry, verify_digests=False)
    source.push_image("app", "v1", layers=[LAYER])
    target.script(
        lambda seen: seen.method == "PUT" and "digest=" in seen.target,
        Reply(201, [("Docker-Content-Digest", "sha256:" + "0" * 64)]),
    )
    with pytest.raises(BlobIntegrityError):
        copy_between(source, target, retry=retry)
