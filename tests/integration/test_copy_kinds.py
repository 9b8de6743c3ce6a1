"""Every manifest kind copies digest-exactly (skopeo as the oracle), children first, tag last."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from ecr_replicate.oci.copy import CopyProgress
from ecr_replicate_local import sample_images as si
from ecr_replicate_local.registry import LocalRegistry
from tests.support.plain_http import copy_plain, describe_plain, head_plain

Oracle = Callable[[str], "str | None"]


def _push(kind: str, host: str) -> si.PushedImage:
    if kind == "docker-schema2":
        return si.push_image(host, "app", "v1", fmt="docker")
    if kind == "oci-manifest":
        return si.push_image(host, "app", "v1", fmt="oci")
    if kind == "docker-list":
        return si.push_index(host, "app", "v1", fmt="docker")
    if kind == "oci-index":
        return si.push_index(host, "app", "v1", fmt="oci")
    if kind == "unknown-config-artifact":
        return si.push_artifact(host, "app", "v1")
    if kind == "uncompressed-layer":
        return si.push_image(host, "app", "v1", fmt="oci", compressed=False)
    raise AssertionError(kind)


KINDS = [
    "docker-schema2",
    "oci-manifest",
    "docker-list",
    "oci-index",
    "unknown-config-artifact",
    "uncompressed-layer",
]


@pytest.mark.parametrize("kind", KINDS)
def test_copy_each_kind(
    kind: str, source_registry: LocalRegistry, target_registry: LocalRegistry, oracle: Oracle
) -> None:
    image = _push(kind, source_registry.host)
    events: list[CopyProgress] = []
    result = copy_plain(image.ref, f"{target_registry.host}/app:v1", progress=events.append)
    assert result.status == "COPIED"
    assert result.digest == image.digest
    assert result.media_type == image.media_type
    assert result.tagged
    assert oracle(f"{source_registry.host}/app:v1") == image.digest
    assert oracle(f"{target_registry.host}/app:v1") == image.digest
    blobs = image.all_blobs()
    assert result.blobs_copied == len(blobs)
    assert result.bytes_copied == sum(blobs.values())
    assert result.manifests_copied == 1 + len(image.children)
    for child in image.children:
        assert oracle(f"{target_registry.host}/app@{child.digest}") == child.digest
    # children first, the tag last
    puts = [e for e in events if e.event in ("manifest-put", "tagged")]
    assert puts[-1].event == "tagged"
    assert [e.digest for e in puts[:-2]] == [child.digest for child in image.children]


def test_index_dedupes_shared_layer(source_registry: LocalRegistry, target_registry: LocalRegistry) -> None:
    shared = si.gzip_bytes(b"shared layer" * 1000)
    image = si.push_index(source_registry.host, "multi", "v1", shared_layer=shared)
    started: list[str] = []
    result = copy_plain(
        image.ref,
        f"{target_registry.host}/multi:v1",
        progress=lambda e: started.append(e.digest) if e.event == "blob-started" else None,
    )
    assert len(started) == len(set(started)) == len(image.all_blobs())
    assert result.blobs_copied == len(image.all_blobs())


def test_describe_and_head_digest(source_registry: LocalRegistry) -> None:
    image = si.push_index(source_registry.host, "multi", "v1", fmt="oci")
    described = describe_plain(image.ref)
    assert described.digest == image.digest
    assert described.platforms == ["linux/amd64", "linux/arm64"]
    assert described.children == [child.digest for child in image.children]
    expected = (
        sum(image.all_blobs().values()) + len(image.manifest) + sum(len(c.manifest) for c in image.children)
    )
    assert described.size_bytes == expected
    assert head_plain(image.ref) == image.digest
    assert head_plain(f"{source_registry.host}/multi:absent") is None


def test_copy_by_digest_to_untagged_target(
    source_registry: LocalRegistry, target_registry: LocalRegistry, oracle: Oracle
) -> None:
    image = si.push_image(source_registry.host, "app", "v1")
    result = copy_plain(image.digest_ref, f"{target_registry.host}/other")
    assert result.digest == image.digest and not result.tagged
    assert oracle(f"{target_registry.host}/other@{image.digest}") == image.digest
    assert oracle(f"{target_registry.host}/other:v1") is None
