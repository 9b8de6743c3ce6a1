"""Warm, incremental, mount, referrers, guard and integrity behaviour against real registries."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from ecr_replicate.errors import BlobIntegrityError, ImageNotFoundError, RepositoryNotFoundError
from ecr_replicate.oci.transport import RetryPolicy
from ecr_replicate_local import sample_images as si
from ecr_replicate_local.registry import LocalRegistry
from tests.support.fault_proxy import FaultProxy
from tests.support.plain_http import copy_plain, head_plain

Oracle = Callable[[str], "str | None"]
ProxyFactory = Callable[..., FaultProxy]


def test_warm_copy_moves_nothing(
    source_registry: LocalRegistry, target_registry: LocalRegistry, fault_proxy_factory: ProxyFactory
) -> None:
    image = si.push_index(source_registry.host, "app", "v1")
    copy_plain(image.ref, f"{target_registry.host}/app:v1")
    proxy = fault_proxy_factory(target_registry.host)
    again = copy_plain(image.ref, f"{proxy.host}/app:v1")
    assert again.digest == image.digest
    assert (again.bytes_copied, again.blobs_copied, again.manifests_copied) == (0, 0, 0)
    assert again.tagged
    # one HEAD of the tag, no writes
    assert [method for method, _, _ in proxy.stats.log] == ["HEAD"], proxy.stats.log
    # an untagged-but-present image only needs the tag
    retag = copy_plain(image.ref, f"{proxy.host}/app:v2")
    assert retag.tagged and retag.blobs_copied == 0 and retag.manifests_copied == 0  # the tag only


def test_incremental_reads_only_the_new_layer(
    source_registry: LocalRegistry,
    target_registry: LocalRegistry,
    fault_proxy_factory: ProxyFactory,
    oracle: Oracle,
) -> None:
    proxy = fault_proxy_factory(source_registry.host)
    image = si.push_image(source_registry.host, "app", "v1", layer_count=3, layer_size=20_000)
    copy_plain(f"{proxy.host}/app:v1", f"{target_registry.host}/app:v1")
    assert proxy.stats.blob_bytes_served == sum(size for _, size in image.blobs)
    newer, (_layer_digest, layer_size) = si.add_layer(image, "v2")
    proxy.reset_stats()
    result = copy_plain(f"{proxy.host}/app:v2", f"{target_registry.host}/app:v2")
    assert proxy.stats.blob_bytes_served == layer_size
    assert result.blobs_copied == 1 and result.blobs_skipped == len(image.blobs)
    assert result.bytes_copied == layer_size
    assert oracle(f"{target_registry.host}/app:v2") == newer.digest


def test_mount_within_one_registry(source_registry: LocalRegistry, oracle: Oracle) -> None:
    image = si.push_image(source_registry.host, "app", "v1")
    result = copy_plain(image.ref, f"{source_registry.host}/mirror/app:v1")
    assert result.blobs_mounted == len(image.blobs)
    assert result.blobs_copied == 0 and result.bytes_copied == 0
    assert oracle(f"{source_registry.host}/mirror/app:v1") == image.digest


def test_cosign_signature_tags_follow_the_image(
    source_registry: LocalRegistry, target_registry: LocalRegistry, oracle: Oracle
) -> None:
    image = si.push_index(source_registry.host, "app", "v1")
    signature = si.push_signature(source_registry.host, "app", image.digest)
    child_attestation = si.push_signature(
        source_registry.host, "app", image.children[0].digest, suffix=".att"
    )
    result = copy_plain(image.ref, f"{target_registry.host}/app:v1")
    assert result.referrers_copied == 2
    for pushed, subject, suffix in (
        (signature, image.digest, ".sig"),
        (child_attestation, image.children[0].digest, ".att"),
    ):
        tag = si.signature_tag(subject, suffix)
        assert oracle(f"{target_registry.host}/app:{tag}") == pushed.digest
    without = copy_plain(image.ref, f"{target_registry.host}/plain:v1", referrers=False)
    assert without.referrers_copied == 0
    assert oracle(f"{target_registry.host}/plain:{si.signature_tag(image.digest)}") is None


def test_guard_superseded_leaves_target_tag_alone(
    source_registry: LocalRegistry, target_registry: LocalRegistry, oracle: Oracle
) -> None:
    old = si.push_image(source_registry.host, "app", "v1")
    copy_plain(old.ref, f"{target_registry.host}/app:v1")
    first = si.push_image(source_registry.host, "app", "v1")  # the event we are handling
    newest = si.push_image(source_registry.host, "app", "v1")  # pushed while we were copying
    result = copy_plain(
        f"{source_registry.host}/app:v1",
        f"{target_registry.host}/app:v1",
        digest=first.digest,
        guard_source_tag=True,
    )
    assert result.status == "SUPERSEDED" and not result.tagged
    assert result.digest == first.digest
    assert oracle(f"{target_registry.host}/app:v1") == old.digest
    current = copy_plain(
        f"{source_registry.host}/app:v1",
        f"{target_registry.host}/app:v1",
        digest=newest.digest,
        guard_source_tag=True,
    )
    assert current.status == "COPIED" and current.tagged
    assert oracle(f"{target_registry.host}/app:v1") == newest.digest


@pytest.mark.parametrize("fault", ["corrupt", "truncate"])
def test_corrupt_source_blob_fails_and_tags_nothing(
    fault: str,
    source_registry: LocalRegistry,
    target_registry: LocalRegistry,
    fault_proxy_factory: ProxyFactory,
    fast_retry: RetryPolicy,
) -> None:
    image = si.push_image(source_registry.host, "app", "v1", layer_count=1, layer_size=50_000)
    proxy = fault_proxy_factory(source_registry.host, faults=[fault] * 20, match=r"^GET .*/blobs/")
    with pytest.raises(BlobIntegrityError):
        copy_plain(f"{proxy.host}/app:v1", f"{target_registry.host}/app:v1", retry=fast_retry, jobs=1)
    assert head_plain(f"{target_registry.host}/app:v1") is None
    assert head_plain(f"{target_registry.host}/app@{image.digest}") is None


def test_missing_source_is_typed(source_registry: LocalRegistry, target_registry: LocalRegistry) -> None:
    si.push_image(source_registry.host, "app", "v1")
    with pytest.raises(ImageNotFoundError):
        copy_plain(f"{source_registry.host}/app:nope", f"{target_registry.host}/app:v1")
    with pytest.raises((RepositoryNotFoundError, ImageNotFoundError)):
        copy_plain(f"{source_registry.host}/absent:v1", f"{target_registry.host}/app:v1")
