"""Item 2: every digest, repository and tag a registry hands us is validated before any request
is built from it (manifests, indexes, referrers, Docker-Content-Digest, Location headers).

The first case is the issue's request smuggling: a source manifest whose layer digest carries
CR/LF and a second request line, copied to a target whose credentials we hold. Nothing of it may
reach the target (a recording server), least of all a DELETE with our Authorization.
"""

from __future__ import annotations

import hashlib
import json

import pytest

from ecr_replicate.errors import ReplicationError
from ecr_replicate.oci.auth import StaticCredentials
from ecr_replicate.oci.describe import head_digest
from ecr_replicate.oci.transport import RetryPolicy
from tests.hostile.conftest import config_for, copy_between
from tests.support.hostile_registry import (
    OCI_CONFIG,
    OCI_INDEX,
    OCI_LAYER,
    OCI_MANIFEST,
    FakeRegistry,
    Reply,
    image_manifest,
    sha256,
)

pytestmark = pytest.mark.timeout(30)

VICTIM = "sha256:" + "1" * 64
SMUGGLED = "sha256:" + "0" * 64 + " HTTP/1.1\r\nHost: x\r\n\r\nDELETE /v2/victim/app/manifests/" + VICTIM
BAD_DIGESTS = {
    "smuggled-crlf": SMUGGLED,
    "uppercase-hex": "sha256:" + "AB" * 32,
    "short": "sha256:" + "a" * 63,
    "long": "sha256:" + "a" * 65,
    "md5": "md5:" + "a" * 32,
    "non-ascii": "sha256:" + "\u00e9" * 64,
    "non-latin1": "sha256:" + "\u20ac" * 64,
    "path-traversal": "sha256:" + "a" * 60 + "/../",
    "query": "sha256:" + "a" * 63 + "?",
    "sha512-short": "sha512:" + "a" * 64,
    "empty": "",
    "only-colon": ":",
}


def serve_manifest_with_layer(source: FakeRegistry, layer_digest: str) -> None:
    config = b'{"architecture":"amd64","os":"linux"}'
    source.put_blob(config)
    body = image_manifest(
        {"mediaType": OCI_CONFIG, "digest": sha256(config), "size": len(config)},
        [{"mediaType": OCI_LAYER, "digest": layer_digest, "size": 4}],
    )
    source.put_manifest("app", "v1", body)


def leaked(server: FakeRegistry, marker: str) -> list[str]:
    return [str(seen) for seen in server.requests if marker in seen.target or "victim" in seen.target]


def test_the_smuggled_delete_never_reaches_the_target(servers, retry: RetryPolicy) -> None:
    source = servers(FakeRegistry)
    target = servers(FakeRegistry, auth=("basic", "user", "secret"))
    serve_manifest_with_layer(source, SMUGGLED)
    credentials = StaticCredentials({target.host: ("user", "secret")})
    with pytest.raises(ReplicationError) as info:
        copy_between(source, target, credentials=credentials, retry=retry)
    assert "digest" in str(info.value)
    assert target.seen("DELETE") == []
    assert leaked(target, "HTTP/1.1") == [] and leaked(source, "HTTP/1.1") == []
    assert not any("\r" in seen.target or "\n" in seen.target for seen in target.requests)


@pytest.mark.parametrize("case", sorted(BAD_DIGESTS))
def test_a_bad_layer_digest_is_refused_before_any_request_uses_it(
    case: str, servers, retry: RetryPolicy
) -> None:
    digest = BAD_DIGESTS[case]
    source, target = servers(FakeRegistry), servers(FakeRegistry)
    serve_manifest_with_layer(source, digest)
    with pytest.raises(ReplicationError) as info:
        copy_between(source, target, retry=retry)
    assert "digest" in str(info.value).lower(), info.value
    tail = digest[7:20] or "@@nothing@@"
    for server in (source, target):
        assert [str(s) for s in server.requests if "/blobs/" in s.target and tail in s.target] == []
    assert target.seen("PUT") == [] and target.seen("POST") == []


@pytest.mark.parametrize("case", ["smuggled-crlf", "uppercase-hex", "non-ascii", "md5"])
def test_a_bad_child_digest_in_an_index_is_refused(case: str, servers, retry: RetryPolicy) -> None:
    source, target = servers(FakeRegistry), servers(FakeRegistry)
    index = json.dumps(
        {"schemaVersion": 2, "mediaType": OCI_INDEX, "manifests": [
            {"mediaType": OCI_MANIFEST, "digest": BAD_DIGESTS[case], "size": 10}
        ]}
    ).encode()  # fmt: skip
    source.put_manifest("app", "v1", index, OCI_INDEX)
    with pytest.raises(ReplicationError):
        copy_between(source, target, retry=retry)
    assert [str(s) for s in source.requests if "/manifests/" in s.target and "v1" not in s.target] == []
    assert leaked(target, "HTTP/1.1") == []


@pytest.mark.parametrize(
    "header",
    [
        "sha256:" + "AB" * 32,
        "sha256:" + "\u00e9" * 64,
        "md5:" + "a" * 32,
        "sha256:" + "a" * 64 + " x",
        "garbage",
    ],
)
def test_a_bad_docker_content_digest_header_is_a_typed_error(
    header: str, servers, retry: RetryPolicy
) -> None:
    registry = servers(FakeRegistry)
    registry.push_image("app", "v1")
    registry.script(
        lambda seen: seen.method == "HEAD" and "/manifests/" in seen.target,
        Reply(
            200, [("Content-Type", OCI_MANIFEST), ("Docker-Content-Digest", header), ("Content-Length", "0")]
        ),
    )
    with pytest.raises(ReplicationError) as info:
        head_digest(f"{registry.host}/app:v1", config=config_for(registry), retry=retry)
    assert "Docker-Content-Digest" in str(info.value) or "digest" in str(info.value)


@pytest.mark.parametrize(
    "location",
    [
        "/v2/victim/blobs/uploads/abc",  # another repository on the same host, with our credentials
        "/v2/app/blobs/uploads/a b",  # a space: a second token on the request line
        "/v2/app/blobs/uploads/a\u00e9",
        "ftp://127.0.0.1:21/v2/app/blobs/uploads/abc",
        "http://user:pw@127.0.0.1:1/v2/app/blobs/uploads/abc",
        "/v2/app/blobs/uploads/" + "a" * 20_000,
    ],
)
def test_a_bad_upload_location_is_refused(location: str, servers, retry: RetryPolicy) -> None:
    source = servers(FakeRegistry)
    target = servers(FakeRegistry, auth=("basic", "user", "secret"))
    source.push_image("app", "v1")
    target.script(
        lambda seen: seen.method == "POST" and "/blobs/uploads" in seen.target,
        Reply(202, [("Location", location)]),
    )
    credentials = StaticCredentials({target.host: ("user", "secret")})
    with pytest.raises(ReplicationError) as info:
        copy_between(source, target, credentials=credentials, retry=retry)
    assert "Location" in str(info.value) or "location" in str(info.value)
    assert target.seen("PATCH") == [] and target.seen("PUT") == []
    assert leaked(target, "@@") == []


def test_bad_referrer_digests_are_skipped_and_never_requested(servers, retry: RetryPolicy) -> None:
    source = servers(FakeRegistry, referrers_api=True)
    target = servers(FakeRegistry)
    image = source.push_image("app", "v1")
    entries = [{"mediaType": OCI_MANIFEST, "digest": BAD_DIGESTS[case], "size": 10} for case in BAD_DIGESTS]
    source.script(
        lambda seen: "/referrers/" in seen.target,
        Reply.json(200, {"schemaVersion": 2, "mediaType": OCI_INDEX, "manifests": entries}),
    )
    result = copy_between(source, target, retry=retry)
    assert result.digest == image.digest and target.tag_of("app", "v1") == image.digest
    assert leaked(source, "HTTP/1.1") == [] and leaked(target, "HTTP/1.1") == []
    assert [str(s) for s in source.requests if "/manifests/" in s.target and "v1" not in s.target
            and "sha256-" not in s.target and image.digest not in s.target] == []  # fmt: skip
    assert any("referrer" in warning for warning in result.warnings)


def test_a_sha512_image_copies(servers, retry: RetryPolicy) -> None:
    """The other digest algorithm of the OCI spec is accepted where it is valid."""
    source, target = servers(FakeRegistry), servers(FakeRegistry, verify_digests=False)
    layer = b"sha512 layer bytes"
    layer_digest = "sha512:" + hashlib.sha512(layer).hexdigest()
    source.blobs[layer_digest] = layer
    config = b"{}"
    source.put_blob(config)
    body = image_manifest(
        {"mediaType": OCI_CONFIG, "digest": sha256(config), "size": 2},
        [{"mediaType": OCI_LAYER, "digest": layer_digest, "size": len(layer)}],
    )
    source.put_manifest("app", "v1", body)
    copy_between(source, target, retry=retry)
    assert target.blobs[layer_digest] == layer
