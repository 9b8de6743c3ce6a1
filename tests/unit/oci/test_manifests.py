from __future__ import annotations

import json

import pytest

from ecr_replicate.errors import BlobIntegrityError, UnsupportedManifestError
from ecr_replicate.oci import manifests as m

D = "sha256:" + "b" * 64


def desc(digest: str = D, size: int = 3, media: str = "x") -> dict[str, object]:
    return {"mediaType": media, "digest": digest, "size": size}


def test_image_manifest_blobs() -> None:
    body = json.dumps(
        {"schemaVersion": 2, "mediaType": m.OCI_MANIFEST, "config": desc(), "layers": [desc(size=5)]}
    )
    parsed = m.parse_manifest(body.encode(), m.digest_of(body.encode()), None)
    assert parsed.media_type == m.OCI_MANIFEST
    assert [b.size for b in parsed.blobs] == [3, 5]
    assert parsed.body == body.encode()  # bytes kept exactly


def test_index_children_and_inferred_type() -> None:
    child = {**desc(), "platform": {"os": "linux", "architecture": "arm64", "variant": "v8"}}
    body = json.dumps({"schemaVersion": 2, "manifests": [child]}).encode()
    parsed = m.parse_manifest(body, m.digest_of(body), None)
    assert parsed.is_index
    assert parsed.children[0].platform == "linux/arm64/v8"


@pytest.mark.parametrize(
    "body",
    [
        b"not json",
        b"[]",
        json.dumps({"schemaVersion": 1, "fsLayers": []}).encode(),
        json.dumps(
            {"schemaVersion": 2, "mediaType": m.OCI_MANIFEST, "config": desc(), "layers": "x"}
        ).encode(),
        json.dumps(
            {"schemaVersion": 2, "mediaType": m.OCI_MANIFEST, "config": desc(size=-1), "layers": []}
        ).encode(),
        json.dumps(
            {"schemaVersion": 2, "mediaType": m.OCI_INDEX, "manifests": [desc()] * (m.MAX_INDEX_CHILDREN + 1)}
        ).encode(),
        json.dumps(
            {
                "schemaVersion": 2,
                "mediaType": m.OCI_MANIFEST,
                "config": desc(),
                "layers": [desc()] * m.MAX_BLOBS_PER_MANIFEST,
            }
        ).encode(),
        b" " * (m.MAX_MANIFEST_BYTES + 1),
    ],
)
def test_rejected(body: bytes) -> None:
    with pytest.raises(UnsupportedManifestError):
        m.parse_manifest(body, D, None)


def test_verify_digest() -> None:
    m.verify_digest(b"abc", m.digest_of(b"abc"))
    with pytest.raises(BlobIntegrityError):
        m.verify_digest(b"abd", m.digest_of(b"abc"))


def test_accept_lists_all_four_types() -> None:
    for media_type in (m.DOCKER_MANIFEST, m.DOCKER_LIST, m.OCI_MANIFEST, m.OCI_INDEX):
        assert media_type in m.ACCEPT
