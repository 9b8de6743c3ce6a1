"""Items 1 and 8: crafted HTTP answers end in a typed ReplicationError (never ValueError,
UnicodeEncodeError or a traceback), and retries are bounded by one policy, never nested.
"""

from __future__ import annotations

import pytest

from ecr_replicate.errors import (
    RegistryError,
    RegistryUnavailableError,
    ReplicationError,
)
from ecr_replicate.oci.auth import StaticCredentials
from ecr_replicate.oci.describe import describe_image
from ecr_replicate.oci.transport import RetryPolicy
from tests.hostile.conftest import ATTEMPTS, config_for, copy_between
from tests.support.hostile_registry import OCI_MANIFEST, FakeRegistry, Reply, Seen

pytestmark = pytest.mark.timeout(30)


def manifest_get(seen: Seen) -> bool:
    return seen.method == "GET" and "/manifests/" in seen.target


def blob_get(seen: Seen) -> bool:
    return seen.method == "GET" and "/blobs/sha256:" in seen.target


CRAFTED: dict[str, Reply] = {
    "content-length-superscript": Reply(
        200, [("Content-Type", OCI_MANIFEST), ("Content-Length", "\u00b2")], b"{}"
    ),
    "content-length-negative": Reply(200, [("Content-Type", OCI_MANIFEST), ("Content-Length", "-5")], b"{}"),
    "content-length-two-values": Reply(200, [("Content-Length", "2, 3")], b"{}"),
    "content-length-huge": Reply(200, [("Content-Length", "9" * 30)], b"{}"),
    "retry-after-superscript": Reply.error(503, "UNAVAILABLE", headers=[("Retry-After", "\u00b2")]),
    "retry-after-huge": Reply.error(429, "TOOMANYREQUESTS", headers=[("Retry-After", "9" * 400)]),
    "retry-after-date-garbage": Reply.error(
        503, "UNAVAILABLE", headers=[("Retry-After", "Mon, 99 Foo 9999 99:99:99")]
    ),
    "status-not-a-number": Reply(raw=b"HTTP/1.1 abc OK\r\nContent-Length: 0\r\n\r\n"),
    "status-line-missing": Reply(raw=b"hello there\r\n\r\n"),
    "http-version-unknown": Reply(raw=b"HTTP/9.9 200 OK\r\nContent-Length: 2\r\n\r\n{}"),
    "header-line-70k": Reply(200, [("X-Long", "a" * 70_000)], b"{}"),
    "headers-300": Reply(200, [(f"X-H{i}", "v") for i in range(300)], b"{}"),
    "header-without-colon": Reply(raw=b"HTTP/1.1 200 OK\r\nno colon here\r\nContent-Length: 2\r\n\r\n{}"),
    "body-shorter-than-length": Reply(200, [("Content-Length", "100")], b"{}", close=True),
    "chunked-garbage": Reply(
        raw=b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n{}\r\n0\r\n\r\n"
    ),
    "empty-answer": Reply(raw=b""),
    "json-nested-deep": Reply(200, [("Content-Type", OCI_MANIFEST)], b"[" * 200_000),
    "json-huge-number": Reply(
        200, [("Content-Type", OCI_MANIFEST)], b'{"schemaVersion": ' + b"9" * 5000 + b"}"
    ),
    "json-not-utf8": Reply(200, [("Content-Type", OCI_MANIFEST)], b'{"a": "\xff\xfe"}'),
    "manifest-declared-100MB": Reply(
        200, [("Content-Type", OCI_MANIFEST), ("Content-Length", str(100 << 20))], b"{"
    ),
    "non-ascii-content-type": Reply(200, [("Content-Type", "application/\u00e9")], b"{}"),
    "error-body-huge-non-json": Reply(400, [], b"\xff" * 200_000),
    "error-code-not-a-string": Reply.json(400, {"errors": [{"code": ["x"], "message": {"a": 1}}]}),
    "401-without-challenge": Reply(401, [], b""),
    "401-challenge-64k": Reply(401, [("WWW-Authenticate", "Bearer " + "a" * 65_000)], b""),
    "401-challenge-many-params": Reply(
        401, [("WWW-Authenticate", "Bearer " + ",".join(f'k{i}="{"v" * 20}"' for i in range(3000)))], b""
    ),
    "redirect-without-location": Reply(307, [], b""),
}


@pytest.mark.parametrize("case", sorted(CRAFTED))
def test_a_crafted_manifest_answer_is_a_typed_error(case: str, servers, retry: RetryPolicy) -> None:
    source = servers(FakeRegistry)
    source.push_image("app", "v1")
    source.script(manifest_get, CRAFTED[case])
    try:
        describe_image(f"{source.host}/app:v1", config=config_for(source), retry=retry)
    except ReplicationError as exc:
        assert str(exc), "a message"
        assert len(str(exc)) < 2000
    else:
        pytest.fail(f"{case}: the crafted answer was accepted")


@pytest.mark.parametrize(
    "case",
    ["content-length-superscript", "retry-after-superscript", "status-not-a-number", "header-line-70k"],
)
def test_a_crafted_blob_answer_is_a_typed_error(case: str, servers, retry: RetryPolicy) -> None:
    source, target = servers(FakeRegistry), servers(FakeRegistry)
    source.push_image("app", "v1")
    source.script(blob_get, CRAFTED[case])
    with pytest.raises(ReplicationError):
        copy_between(source, target, retry=retry)
    assert target.tag_of("app", "v1") is None


def test_a_chunked_manifest_is_read(servers, retry: RetryPolicy) -> None:
    source, target = servers(FakeRegistry), servers(FakeRegistry)
    image = source.push_image("app", "v1")
    source.script(
        manifest_get,
        lambda seen: Reply(
            200, [("Content-Type", OCI_MANIFEST)], [image.manifest[:10], image.manifest[10:]], chunked=True
        ),
    )
    assert copy_between(source, target, retry=retry).digest == image.digest


# --- one bounded retry layer ---------------------------------------------------------------------


def test_a_failing_blob_read_is_tried_at_most_the_policy_attempts(servers, retry: RetryPolicy) -> None:
    """Before: transport retries x blob restarts (6 x 6 = 36 GETs of one blob)."""
    source, target = servers(FakeRegistry), servers(FakeRegistry)
    source.push_image("app", "v1", layers=[b"only layer"])
    source.script(blob_get, Reply.error(503, "UNAVAILABLE"))
    with pytest.raises(RegistryUnavailableError):
        copy_between(source, target, retry=retry, jobs=1)
    gets = source.seen("GET", "/blobs/sha256:")
    assert len({s.target for s in gets}) >= 1
    per_blob = max(sum(1 for s in gets if s.target == t) for t in {s.target for s in gets})
    assert per_blob == ATTEMPTS


def test_a_failing_upload_restarts_the_blob_at_most_the_policy_attempts(servers, retry: RetryPolicy) -> None:
    source, target = servers(FakeRegistry), servers(FakeRegistry)
    source.push_image("app", "v1", layers=[b"only layer"])
    target.script(lambda seen: seen.method == "PATCH", Reply.error(500, "UNAVAILABLE"))
    with pytest.raises(RegistryUnavailableError):
        copy_between(source, target, retry=retry, jobs=1)
    patches: dict[bytes, int] = {}
    for seen in target.seen("PATCH"):
        patches[seen.body] = patches.get(seen.body, 0) + 1
    assert patches and set(patches.values()) == {ATTEMPTS}, "each blob written at most ATTEMPTS times"
    reads: dict[str, int] = {}
    for seen in source.seen("GET", "/blobs/sha256:"):
        reads[seen.target] = reads.get(seen.target, 0) + 1
    assert set(reads.values()) == {ATTEMPTS}, "each blob read at most ATTEMPTS times"


def test_a_failing_small_call_is_tried_at_most_the_policy_attempts(servers, retry: RetryPolicy) -> None:
    source = servers(FakeRegistry)
    source.push_image("app", "v1")
    source.script(manifest_get, Reply.error(502, "UNAVAILABLE"))
    with pytest.raises(RegistryUnavailableError):
        describe_image(f"{source.host}/app:v1", config=config_for(source), retry=retry)
    assert len(source.seen("GET", "/manifests/")) == ATTEMPTS


def test_a_digest_invalid_manifest_put_is_retried_within_the_same_bound(servers, retry: RetryPolicy) -> None:
    source, target = servers(FakeRegistry), servers(FakeRegistry)
    source.push_image("app", "v1")
    target.script(
        lambda seen: seen.method == "PUT" and "/manifests/" in seen.target, Reply.error(400, "DIGEST_INVALID")
    )
    with pytest.raises(ReplicationError):
        copy_between(source, target, retry=retry)
    assert len(target.seen("PUT", "/manifests/")) == ATTEMPTS


def test_an_upload_that_needs_fresh_credentials_goes_through_the_one_request_path(
    servers, retry: RetryPolicy
) -> None:
    """The target's tokens expire just before the blob's PATCH: re-authenticated, bounded, done."""
    source = servers(FakeRegistry)
    target = servers(FakeRegistry, auth=("bearer", "user", "secret"))
    image = source.push_image("app", "v1", layers=[b"only layer"])
    expired = {"done": False}

    def expire(seen: Seen) -> Reply | None:
        if not expired["done"]:
            expired["done"] = True
            target.tokens.clear()
        return None

    target.script(lambda seen: seen.method == "PATCH", expire)
    copy_between(
        source, target, credentials=StaticCredentials({target.host: ("user", "secret")}), retry=retry
    )
    assert target.tag_of("app", "v1") == image.digest
    assert len(target.seen("GET", "/token")) <= 3


def test_errors_say_what_failed_without_credentials(servers, retry: RetryPolicy) -> None:
    source = servers(FakeRegistry, auth=("basic", "user", "s3cr3t-password"))
    source.push_image("app", "v1")
    source.script(
        manifest_get, Reply.error(400, "DENIED", "Authorization: Basic dXNlcjpzM2NyM3QtcGFzc3dvcmQ= refused")
    )
    with pytest.raises(RegistryError) as info:
        copy_between(
            source,
            servers(FakeRegistry),
            credentials=StaticCredentials({source.host: ("user", "s3cr3t-password")}),
            retry=retry,
        )
    assert "dXNlcjpzM2NyM3Q" not in str(info.value) and "s3cr3t" not in str(info.value)


def test_the_default_policy_reads_a_failing_blob_at_most_six_times(servers) -> None:
    """The worst case RetryPolicy's docstring states, with the defaults (waits skipped)."""
    policy = RetryPolicy(sleep=lambda seconds: None)
    assert policy.attempts == 6
    source, target = servers(FakeRegistry), servers(FakeRegistry)
    source.push_image("app", "v1", layers=[b"only layer"])
    source.script(blob_get, Reply.error(503, "UNAVAILABLE"))
    with pytest.raises(RegistryUnavailableError):
        copy_between(source, target, retry=policy, jobs=1)
    reads: dict[str, int] = {}
    for seen in source.seen("GET", "/blobs/sha256:"):
        reads[seen.target] = reads.get(seen.target, 0) + 1
    assert set(reads.values()) == {6}
