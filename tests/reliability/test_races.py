"""Issue 6 item 5: two pushes of one tag (digest A, then B) replicated concurrently with the
newer-push-wins guard, in either completion order: every target ends with the tag at B.

The order is forced, not hoped for: each copy runs on a transport that can hold its tag PUT (the
copier's public ``transport=`` parameter) until the test lets it go. "A last" is the
check-then-tag window: A's guard saw the source tag at A, then B was pushed and fully replicated,
then A's tag PUT lands.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterable
from typing import Any

import pytest

from ecr_replicate.oci.copy import CopyResult, copy_image
from ecr_replicate.oci.transport import Response, RetryPolicy, Transport
from ecr_replicate_local import sample_images as si
from ecr_replicate_local.registry import LocalRegistry
from tests.support.audit import audit_registry, tag_digest
from tests.support.plain_http import PLAIN_HTTP

pytestmark = pytest.mark.timeout(90)

REPO, TAG = "team/app", "v1"


class GatedTransport(Transport):
    """A transport whose PUT of ``manifests/<tag>`` signals ``arrived`` and waits for ``release``."""

    def __init__(self, tag: str, retry: RetryPolicy, hosts: Iterable[str]) -> None:
        super().__init__(retry=retry, registries=dict.fromkeys(hosts, PLAIN_HTTP))
        self.tag = tag
        self.arrived = threading.Event()
        self.release = threading.Event()

    def request(self, method: str, host: str, path: str, **options: Any) -> Response:  # type: ignore[override]
        if method == "PUT" and path.endswith(f"/manifests/{self.tag}") and not self.release.is_set():
            self.arrived.set()
            assert self.release.wait(30), "the test never released this tag PUT"
        return super().request(method, host, path, **options)


class Replication:
    """One digest replicated to every target concurrently (one thread and transport per target)."""

    def __init__(self, source: str, targets: list[str], digest: str, retry: RetryPolicy) -> None:
        self.transports = [GatedTransport(TAG, retry, (source, target)) for target in targets]
        self.results: list[CopyResult | BaseException | None] = [None] * len(targets)
        self.threads = [
            threading.Thread(target=self._copy, args=(i, source, target, digest), daemon=True)
            for i, target in enumerate(targets)
        ]

    def _copy(self, index: int, source: str, target: str, digest: str) -> None:
        try:
            self.results[index] = copy_image(
                f"{source}/{REPO}:{TAG}",
                f"{target}/{REPO}:{TAG}",
                digest=digest,
                guard_source_tag=True,
                transport=self.transports[index],
            )
        except BaseException as exc:
            self.results[index] = exc

    def start(self, *, hold: bool) -> Replication:
        for transport in self.transports:
            if not hold:
                transport.release.set()
        for thread in self.threads:
            thread.start()
        return self

    def wait_at_tag(self) -> None:
        for transport in self.transports:
            assert transport.arrived.wait(30), "a copy never reached its tag PUT"

    def finish(self) -> list[CopyResult]:
        for transport in self.transports:
            transport.release.set()
        for thread in self.threads:
            thread.join(60)
        done = []
        for result in self.results:
            assert isinstance(result, CopyResult), result
            done.append(result)
        for transport in self.transports:
            transport.close()
        return done


@pytest.fixture
def registries(registry_factory: Callable[..., LocalRegistry]) -> tuple[LocalRegistry, list[LocalRegistry]]:
    return registry_factory("source"), [registry_factory("target-1"), registry_factory("target-2")]


def _push(host: str, seed: int) -> si.PushedImage:
    return si.push_index(host, REPO, TAG, layer_count=2, layer_size=6000, seed=seed)


@pytest.mark.parametrize("last", ["A", "B"])
def test_tag_ends_at_the_newer_push_in_either_completion_order(
    last: str, registries: tuple[LocalRegistry, list[LocalRegistry]], fast_retry: RetryPolicy
) -> None:
    source, targets = registries
    hosts = [target.host for target in targets]
    image_a = _push(source.host, 51)
    run_a = Replication(source.host, hosts, image_a.digest, fast_retry).start(hold=True)
    run_a.wait_at_tag()  # A's guard has seen the source tag at A; its tag PUT is held
    image_b = _push(source.host, 52)  # the newer push moves the source tag to B
    run_b = Replication(source.host, hosts, image_b.digest, fast_retry).start(hold=last == "B")
    if last == "A":
        results_b = run_b.finish()  # B is fully replicated first ...
        results_a = run_a.finish()  # ... then A's stale tag PUT lands
    else:
        run_b.wait_at_tag()
        results_a = run_a.finish()
        results_b = run_b.finish()
    for target in targets:
        assert tag_digest(target.host, REPO, TAG) == image_b.digest, f"{target.name}: tag not at B"
        assert audit_registry(target).problems == []
    assert {r.status for r in results_b} == {"COPIED"}
    if last == "A":
        # A noticed the source moved on after its tag PUT and gave the tag back to B
        assert {r.status for r in results_a} == {"SUPERSEDED"}
        assert not any(r.tagged for r in results_a)


def test_stale_event_after_the_newer_push_never_tags(
    registries: tuple[LocalRegistry, list[LocalRegistry]], fast_retry: RetryPolicy
) -> None:
    """Both pushes happened before either run started (a late event for A): A is superseded."""
    source, targets = registries
    hosts = [target.host for target in targets]
    image_a = _push(source.host, 53)
    image_b = _push(source.host, 54)
    results_a = Replication(source.host, hosts, image_a.digest, fast_retry).start(hold=False).finish()
    assert {r.status for r in results_a} == {"SUPERSEDED"}
    for target in targets:
        assert tag_digest(target.host, REPO, TAG) is None
    Replication(source.host, hosts, image_b.digest, fast_retry).start(hold=False).finish()
    for target in targets:
        assert tag_digest(target.host, REPO, TAG) == image_b.digest
