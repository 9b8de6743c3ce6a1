"""Item 6: bounded everything. An overall deadline ends a dripping or silent registry in a typed
error; signatures are found by HEADing their tags (no tag listing); referrer discovery is capped,
checked (subject) and never fails an image; every size and count from a registry is capped.
"""

from __future__ import annotations

import json
import threading
import time
from typing import Any

import pytest

from ecr_replicate.errors import DeadlineExceededError, ReplicationError
from ecr_replicate.oci.transport import RetryPolicy
from tests.hostile.conftest import copy_between
from tests.support.hostile_registry import (
    OCI_INDEX,
    OCI_MANIFEST,
    FakeRegistry,
    HostileServer,
    Reply,
    Seen,
    drip,
    sha256,
)

pytestmark = pytest.mark.timeout(30)

DEADLINE = 1.5


def manifest_get(seen: Seen) -> bool:
    return seen.method == "GET" and "/manifests/" in seen.target


def assert_deadline(start: float, error: BaseException) -> None:
    assert isinstance(error, DeadlineExceededError), f"{type(error).__name__}: {error}"
    assert time.monotonic() - start < DEADLINE + 5, "the deadline ended the copy, not a read timeout"


def test_a_dripping_manifest_ends_at_the_deadline(servers, retry: RetryPolicy) -> None:
    source = servers(FakeRegistry)
    image = source.push_image("app", "v1")
    source.script(manifest_get, Reply(200, [("Content-Type", OCI_MANIFEST)], drip(image.manifest), delay=0.2,
                                      chunked=True))  # fmt: skip
    start = time.monotonic()
    with pytest.raises(ReplicationError) as info:
        copy_between(source, servers(FakeRegistry), retry=retry, timeout=DEADLINE)
    assert_deadline(start, info.value)


def test_a_dripping_blob_ends_at_the_deadline_and_commits_nothing(servers, retry: RetryPolicy) -> None:
    source, target = servers(FakeRegistry), servers(FakeRegistry)
    layer = b"x" * 4096
    source.push_image("app", "v1", layers=[layer])
    source.script(
        lambda seen: seen.method == "GET" and sha256(layer) in seen.target,
        Reply(200, [("Content-Length", str(len(layer)))], drip(layer, 16), delay=0.2),
    )
    start = time.monotonic()
    with pytest.raises(ReplicationError) as info:
        copy_between(source, target, retry=retry, timeout=DEADLINE)
    assert_deadline(start, info.value)
    assert sha256(layer) not in target.committed and target.tag_of("app", "v1") is None


def test_dripping_headers_end_at_the_deadline(servers, retry: RetryPolicy) -> None:
    source = servers(FakeRegistry)
    source.push_image("app", "v1")
    head = b"HTTP/1.1 200 OK\r\n" + b"".join(b"X-Pad-%d: %s\r\n" % (i, b"a" * 40) for i in range(60))
    source.script(manifest_get, Reply(raw=drip(head, 2), delay=0.2))
    start = time.monotonic()
    with pytest.raises(ReplicationError) as info:
        copy_between(source, servers(FakeRegistry), retry=retry, timeout=DEADLINE)
    assert_deadline(start, info.value)


def test_a_silent_server_ends_at_the_deadline(servers, retry: RetryPolicy) -> None:
    def silent(seen: Seen) -> Reply:
        time.sleep(20)
        return Reply(500)

    source = servers(HostileServer, silent)
    start = time.monotonic()
    with pytest.raises(ReplicationError) as info:
        copy_between(source, servers(FakeRegistry), retry=retry, timeout=DEADLINE)
    assert_deadline(start, info.value)


def test_retry_waits_never_pass_the_deadline(servers) -> None:
    source = servers(FakeRegistry)
    source.push_image("app", "v1")
    source.script(manifest_get, Reply.error(429, "TOOMANYREQUESTS", headers=[("Retry-After", "3600")]))
    patient = RetryPolicy(attempts=6, base_delay=1, max_delay=60, max_retry_after=3600)
    start = time.monotonic()
    with pytest.raises(ReplicationError) as info:
        copy_between(source, servers(FakeRegistry), retry=patient, timeout=DEADLINE)
    assert_deadline(start, info.value)


# --- signatures and referrers ----------------------------------------------------------------


def cosign_tag(digest: str, suffix: str) -> str:
    return digest.replace(":", "-") + suffix


def test_no_tag_listing_signature_tags_are_headed(servers, retry: RetryPolicy) -> None:
    source, target = servers(FakeRegistry), servers(FakeRegistry)
    image = source.push_image("app", "v1")
    signature = source.push_image("app", cosign_tag(image.digest, ".sig"), layers=[b"signature"])
    source.script(
        lambda seen: "/tags/list" in seen.target, Reply.error(403, "DENIED", "not authorized: ecr:ListImages")
    )
    result = copy_between(source, target, retry=retry)
    assert source.seen(contains="/tags/list") == []
    headed = {s.path.rsplit("/", 1)[-1] for s in source.seen("HEAD", "/manifests/sha256-")}
    assert {cosign_tag(image.digest, s) for s in (".sig", ".att", ".sbom")} <= headed
    assert target.tag_of("app", cosign_tag(image.digest, ".sig")) == signature.digest
    assert result.referrers_copied == 1


def test_signatures_are_looked_up_while_the_blobs_copy(servers, retry: RetryPolicy) -> None:
    """The tag waits for the signatures' copy, not for their discovery: the source's blob GETs are
    held until it has seen the signature look-up, which must therefore not wait for the blobs."""
    source, target = servers(FakeRegistry), servers(FakeRegistry)
    image = source.push_image("app", "v1")
    source.push_image("app", cosign_tag(image.digest, ".sig"), layers=[b"signature"])
    looked_up = threading.Event()
    held: list[bool] = []

    def note(seen: Any) -> None:
        looked_up.set()

    def hold(seen: Any) -> None:
        held.append(looked_up.wait(5))

    source.script(lambda seen: seen.method == "HEAD" and seen.target.endswith(".sig"), note)
    source.script(lambda seen: seen.method == "GET" and "/blobs/" in seen.target, hold)
    result = copy_between(source, target, retry=retry)
    assert held and all(held), "a blob GET waited for a look-up that came only after the blobs"
    assert result.referrers_copied == 1 and target.tag_of("app", "v1") == image.digest


@pytest.mark.parametrize("status", [400, 401, 403, 405])
def test_signature_discovery_refused_is_none_with_a_warning(status: int, servers, retry: RetryPolicy) -> None:
    source, target = servers(FakeRegistry, referrers_api=True), servers(FakeRegistry)
    image = source.push_image("app", "v1")
    source.script(
        lambda seen: "/manifests/sha256-" in seen.target or "/referrers/" in seen.target,
        Reply.error(status, "DENIED", "not authorized"),
    )
    result = copy_between(source, target, retry=retry)
    assert target.tag_of("app", "v1") == image.digest
    assert result.warnings, "the refused discovery is reported"


def referrer_of(subject: str, n: int) -> bytes:
    return json.dumps(
        {
            "schemaVersion": 2,
            "mediaType": OCI_MANIFEST,
            "artifactType": "application/vnd.example.sig",
            "config": {"mediaType": "application/vnd.oci.empty.v1+json", "digest": sha256(b"{}"), "size": 2},
            "layers": [],
            "subject": {"mediaType": OCI_MANIFEST, "digest": subject, "size": 1},
            "annotations": {"n": str(n)},
        }
    ).encode()


def test_referrers_are_capped_in_count(servers, retry: RetryPolicy) -> None:
    source, target = servers(FakeRegistry, referrers_api=True), servers(FakeRegistry)
    image = source.push_image("app", "v1")
    source.put_blob(b"{}")
    many = [{"mediaType": OCI_MANIFEST, "digest": "sha256:" + f"{n:064x}", "size": 100} for n in range(5000)]
    source.script(
        lambda seen: "/referrers/" in seen.target,
        Reply.json(200, {"schemaVersion": 2, "mediaType": OCI_INDEX, "manifests": many}),
    )
    result = copy_between(source, target, retry=retry)
    assert target.tag_of("app", "v1") == image.digest
    fetched = [s for s in source.seen("GET", "/manifests/sha256:") if image.digest not in s.target]
    assert len(fetched) <= 256
    assert any("referrers" in w for w in result.warnings)


def test_a_referrer_whose_subject_is_another_image_is_not_copied(servers, retry: RetryPolicy) -> None:
    source, target = servers(FakeRegistry, referrers_api=True), servers(FakeRegistry)
    image = source.push_image("app", "v1")
    source.put_blob(b"{}")
    honest = source.put_manifest("app", "sha256:", referrer_of(image.digest, 1))
    liar_body = referrer_of("sha256:" + "9" * 64, 2)
    liar = sha256(liar_body)
    source.manifests[("app", liar)] = (OCI_MANIFEST, liar_body)
    entries = [{"mediaType": OCI_MANIFEST, "digest": d, "size": 100} for d in (honest, liar)]
    source.script(
        lambda seen: "/referrers/" in seen.target,
        Reply.json(200, {"schemaVersion": 2, "mediaType": OCI_INDEX, "manifests": entries}),
    )
    result = copy_between(source, target, retry=retry)
    assert ("app", honest) in target.manifests
    assert ("app", liar) not in target.manifests
    assert any("subject" in w for w in result.warnings)


def test_a_huge_referrers_answer_is_none_with_a_warning(servers, retry: RetryPolicy) -> None:
    source, target = servers(FakeRegistry, referrers_api=True), servers(FakeRegistry)
    image = source.push_image("app", "v1")
    source.script(
        lambda seen: "/referrers/" in seen.target, Reply(200, [("Content-Type", OCI_INDEX)], b" " * (5 << 20))
    )
    result = copy_between(source, target, retry=retry)
    assert target.tag_of("app", "v1") == image.digest
    assert result.warnings


def test_an_index_with_too_many_children_is_refused(servers, retry: RetryPolicy) -> None:
    source = servers(FakeRegistry)
    children = [
        {"mediaType": OCI_MANIFEST, "digest": "sha256:" + f"{n:064x}", "size": 10} for n in range(1001)
    ]
    source.put_manifest(
        "app",
        "v1",
        json.dumps({"schemaVersion": 2, "mediaType": OCI_INDEX, "manifests": children}).encode(),
        OCI_INDEX,
    )
    with pytest.raises(ReplicationError, match="limit"):
        copy_between(source, servers(FakeRegistry), retry=retry)


def test_a_descriptor_size_beyond_any_registry_is_refused(servers, retry: RetryPolicy) -> None:
    source = servers(FakeRegistry)
    config = source.put_blob(b"{}")
    body = json.dumps({
        "schemaVersion": 2, "mediaType": OCI_MANIFEST,
        "config": {"mediaType": "application/vnd.oci.image.config.v1+json", "digest": config, "size": 2},
        "layers": [{"mediaType": "x", "digest": "sha256:" + "a" * 64, "size": 1 << 60}],
    }).encode()  # fmt: skip
    source.put_manifest("app", "v1", body)
    target = servers(FakeRegistry)
    with pytest.raises(ReplicationError, match="size"):
        copy_between(source, target, retry=retry)
    assert target.seen("POST") == []
