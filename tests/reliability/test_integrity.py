"""Issue 6 item 3: a source serving wrong bytes or a wrong length for a blob (or a child
manifest) makes the copy fail with a typed error, and the target is left without the tag."""

from __future__ import annotations

import time
from collections.abc import Callable

import pytest

from ecr_replicate.errors import BlobIntegrityError
from ecr_replicate.oci.transport import RetryPolicy
from ecr_replicate_local import sample_images as si
from ecr_replicate_local.registry import LocalRegistry
from tests.support.audit import audit_registry, tag_digest
from tests.support.fault_proxy import FaultProxy
from tests.support.plain_http import copy_plain

pytestmark = pytest.mark.timeout(60)


def _fault_recorded(proxy: FaultProxy, fault: str) -> bool:
    """The proxy counts a fault after the body went out, so the client may fail first: wait a bit."""
    deadline = time.monotonic() + 5
    while proxy.stats.faults[fault] < 1 and time.monotonic() < deadline:
        time.sleep(0.01)
    return proxy.stats.faults[fault] >= 1


@pytest.mark.parametrize(
    ("fault", "match", "says"),
    [
        # same length, one byte flipped: caught while streaming
        ("corrupt", r"^GET .*/blobs/sha256:", "hashes to"),
        ("truncate", r"^GET .*/blobs/sha256:", "bytes"),  # half the body, matching Content-Length
        ("corrupt", r"^GET .*/manifests/sha256:", "hash"),  # a child manifest's bytes altered
        ("truncate", r"^GET .*/manifests/sha256:", "hash"),
    ],
)
def test_wrong_source_bytes_fail_typed_and_leave_no_tag(
    fault: str,
    match: str,
    says: str,
    source_registry: LocalRegistry,
    target_registry: LocalRegistry,
    fault_proxy_factory: Callable[..., FaultProxy],
    fast_retry: RetryPolicy,
) -> None:
    image = si.push_index(source_registry.host, "app", "v1", layer_count=2, layer_size=20_000, seed=31)
    # every matching read is bad (a corrupt source stays corrupt): retrying cannot hide it
    proxy = fault_proxy_factory(source_registry.host, faults=[fault] * 50, match=match)
    with pytest.raises(BlobIntegrityError) as info:
        copy_plain(
            f"{proxy.host}/app:v1", f"{target_registry.host}/app:v1", digest=image.digest, retry=fast_retry
        )
    assert says in str(info.value)
    assert not info.value.retryable
    assert _fault_recorded(proxy, fault)
    assert tag_digest(target_registry.host, "app", "v1") is None  # HEAD tag -> 404
    audit = audit_registry(target_registry)
    assert audit.tags == {} and audit.problems == []  # no tag, and nothing half-written


def test_a_corrupt_read_once_is_not_retried_into_a_wrong_copy(
    source_registry: LocalRegistry,
    target_registry: LocalRegistry,
    fault_proxy_factory: Callable[..., FaultProxy],
    fast_retry: RetryPolicy,
) -> None:
    """A single corrupt answer fails the copy (integrity errors are permanent, never papered over)."""
    image = si.push_image(source_registry.host, "app", "v1", layer_size=20_000, seed=32)
    proxy = fault_proxy_factory(source_registry.host, faults=["corrupt"], match=r"^GET .*/blobs/sha256:")
    with pytest.raises(BlobIntegrityError):
        copy_plain(
            f"{proxy.host}/app:v1", f"{target_registry.host}/app:v1", digest=image.digest, retry=fast_retry
        )
    assert tag_digest(target_registry.host, "app", "v1") is None
    # the source itself is fine: the next copy (no fault left) is exact
    result = copy_plain(f"{proxy.host}/app:v1", f"{target_registry.host}/app:v1", retry=fast_retry)
    assert result.digest == image.digest == tag_digest(target_registry.host, "app", "v1")
