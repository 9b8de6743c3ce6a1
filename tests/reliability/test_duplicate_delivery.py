"""Issue 6 item 6: the same push event delivered twice (EventBridge is at-least-once) -> the second
run copies 0 bytes in every region, through the real workflow on the local engine; two deliveries
at once both succeed (the copier-level test pins the registry race that used to fail one)."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from ecr_replicate.errors import ReplicationError
from ecr_replicate.oci.transport import RetryPolicy
from ecr_replicate_local.environment import LocalEnvironment
from ecr_replicate_local.local_aws import LocalAws
from ecr_replicate_local.regions import LocalRegions
from ecr_replicate_local.registry import LocalRegistry
from ecr_replicate_local.sample_images import push_index
from tests.support.audit import audit_registry, tag_digest
from tests.support.plain_http import copy_plain
from tests.support.workflow_runs import SOURCE, TARGETS, notification, push_event, run

pytestmark = [pytest.mark.xdist_group("reliability-engine"), pytest.mark.timeout(240)]


@pytest.fixture(scope="module")
def twin() -> Iterator[LocalEnvironment]:
    with LocalEnvironment(SOURCE, TARGETS, deliver_events=False) as env:
        yield env


@pytest.fixture(scope="module")
def engine(twin: LocalEnvironment) -> tuple[LocalAws, LocalRegions]:
    assert twin.regions is not None
    return twin.aws, twin.regions


def test_second_delivery_copies_zero_bytes(
    twin: LocalEnvironment, engine: tuple[LocalAws, LocalRegions]
) -> None:
    aws, regions = engine
    image = push_index(regions.registry(SOURCE).host, "team/dup", "v1", layer_size=20_000, seed=81)
    twin.wait_recorded("team/dup", image.digest)
    event = push_event("team/dup", "v1", image.digest)
    first, second = run(aws, event), run(aws, event)
    assert first["status"] == second["status"] == "SUCCEEDED", (first, second)
    first_regions = {r["region"]: r for r in notification(aws, first)["regions"]}
    second_regions = {r["region"]: r for r in notification(aws, second)["regions"]}
    assert sorted(first_regions) == sorted(second_regions) == sorted(TARGETS)
    for region in TARGETS:
        assert first_regions[region]["bytesCopied"] > 0
        assert second_regions[region]["status"] == "SUCCEEDED"
        assert second_regions[region]["bytesCopied"] == 0, second_regions[region]
        assert second_regions[region]["blobsCopied"] == 0
        assert tag_digest(regions.registry(region).host, "team/dup", "v1") == image.digest


def test_two_deliveries_at_once_both_succeed_and_leave_one_whole_image(
    twin: LocalEnvironment, engine: tuple[LocalAws, LocalRegions]
) -> None:
    aws, regions = engine
    image = push_index(regions.registry(SOURCE).host, "team/dup2", "v1", layer_size=20_000, seed=82)
    twin.wait_recorded("team/dup2", image.digest)
    event = push_event("team/dup2", "v1", image.digest)
    done: list[dict[str, Any]] = []
    threads = [threading.Thread(target=lambda: done.append(run(aws, event))) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(200)
    assert [d["status"] for d in done] == ["SUCCEEDED", "SUCCEEDED"], done
    for region in TARGETS:
        registry = regions.registry(region)
        assert tag_digest(registry.host, "team/dup2", "v1") == image.digest
        assert audit_registry(registry).problems == []


def test_concurrent_identical_copies_never_fail(
    registry_factory: Callable[..., LocalRegistry], fast_retry: RetryPolicy
) -> None:
    """Two runs writing the same manifest at once: distribution 2.8 then sometimes answers
    DIGEST_INVALID to one of them (about 1 pair in 7 here); the copier retries that PUT (its bytes
    were verified when read), so duplicate deliveries replicated concurrently both succeed."""
    source, target = registry_factory("source"), registry_factory("target")
    errors: list[str] = []
    for number in range(20):
        repository = f"team/twice-{number}"
        image = push_index(source.host, repository, "v1", layer_size=8_000, seed=200 + number)

        def copy_once(repository: str = repository, digest: str = image.digest) -> None:
            try:
                copy_plain(
                    f"{source.host}/{repository}:v1",
                    f"{target.host}/{repository}:v1",
                    digest=digest,
                    guard_source_tag=True,
                    retry=fast_retry,
                )
            except ReplicationError as exc:
                errors.append(f"{repository}: {type(exc).__name__}: {exc}")

        pair = [threading.Thread(target=copy_once) for _ in range(2)]
        for thread in pair:
            thread.start()
        for thread in pair:
            thread.join(60)
        assert tag_digest(target.host, repository, "v1") == image.digest
    assert errors == []
    assert audit_registry(target).problems == []
