"""Issue 6 item 1: copies through proxies injecting 500/503, 429 + Retry-After, resets mid-body
and slow answers at 10% complete digest-exact, and the target never holds a manifest that
references a missing blob nor a tag on a partial image (audited after every copy)."""

from __future__ import annotations

import http.client
from collections.abc import Callable

import pytest

from ecr_replicate_local import sample_images as si
from ecr_replicate_local.registry import LocalRegistry
from tests.support.audit import audit_registry
from tests.support.faults import run_copies

pytestmark = pytest.mark.timeout(120)

COPIES = 8
FAST = {"attempts": 6, "base_delay": 0.002, "max_delay": 0.01, "max_retry_after": 0.01}


def test_copies_at_ten_percent_faults_are_exact_and_never_partial(
    source_registry: LocalRegistry, target_registry: LocalRegistry
) -> None:
    image = si.push_index(
        source_registry.host, "app", "v1", layer_count=3, layer_size=24_000, shared_layer=b"x" * 5000, seed=61
    )
    run = run_copies(
        source_registry,
        target_registry,
        f"{source_registry.host}/app:v1",
        image.digest,
        copies=COPIES,
        rate=0.10,
        seed=6,
        retry_options=FAST,
        retry_after="1",  # capped by max_retry_after: the header is parsed, the wait stays short
        slow_seconds=0.02,
    )
    assert run.errors == []
    assert run.exact == COPIES
    assert run.audit_problems == []
    assert run.final_audit is not None and run.final_audit.problems == []
    assert len(run.final_audit.tags) == COPIES
    assert set(run.final_audit.tags.values()) == {image.digest}
    # the faults really happened, of every kind, and were retried (slow answers need no retry)
    assert set(run.faults) == {"500", "503", "429", "reset", "slow"}
    hard = sum(n for kind, n in run.faults.items() if kind != "slow")
    assert run.retries >= hard * 0.8


def test_the_audit_catches_a_partial_image(
    registry_factory: Callable[..., LocalRegistry],
) -> None:
    """The auditor can fail: a manifest whose layer was deleted from the repository afterwards."""
    registry = registry_factory("audited")
    image = si.push_image(registry.host, "app", "v1", layer_size=3000, seed=62)
    assert audit_registry(registry).problems == []
    conn = http.client.HTTPConnection(registry.host, timeout=10)
    conn.request("DELETE", f"/v2/app/blobs/{image.blobs[1][0]}")
    assert conn.getresponse().status == 202
    conn.close()
    problems = audit_registry(registry).problems
    assert any("missing blob" in p for p in problems), problems
    assert any("partial image" in p for p in problems), problems
