"""Transient registry failures (500/503/429/resets/slow) are retried; auth challenges re-authenticate."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from ecr_replicate.errors import AuthenticationError, RegistryUnavailableError
from ecr_replicate.oci.auth import StaticCredentials
from ecr_replicate.oci.copy import CopyProgress
from ecr_replicate.oci.transport import RetryPolicy
from ecr_replicate_local import sample_images as si
from ecr_replicate_local.registry import LocalRegistry
from tests.support.fault_proxy import FaultProxy
from tests.support.plain_http import copy_plain

Oracle = Callable[[str], "str | None"]
ProxyFactory = Callable[..., FaultProxy]


@pytest.mark.parametrize(
    ("side", "faults", "match"),
    [
        ("source", ["500", "429", "503", "slow"], None),
        ("source", ["reset", "reset"], r"^GET .*/blobs/"),
        ("source", ["pass", "reset"], r"^GET .*/manifests/"),
        ("target", ["503", "429", "500"], r"^(PATCH|PUT|POST) "),
        ("target", ["500", "pass", "503"], r"^PUT .*/manifests/"),
    ],
)
def test_transient_faults_complete_with_same_digest(
    side: str,
    faults: list[str],
    match: str | None,
    source_registry: LocalRegistry,
    target_registry: LocalRegistry,
    fault_proxy_factory: ProxyFactory,
    fast_retry: RetryPolicy,
    oracle: Oracle,
) -> None:
    image = si.push_index(source_registry.host, "app", "v1", layer_size=40_000)
    upstream = source_registry if side == "source" else target_registry
    proxy = fault_proxy_factory(upstream.host, faults=faults, match=match, slow_seconds=0.05)
    src = f"{proxy.host if side == 'source' else source_registry.host}/app:v1"
    dst = f"{proxy.host if side == 'target' else target_registry.host}/app:v1"
    result = copy_plain(src, dst, retry=fast_retry)
    assert result.digest == image.digest
    assert oracle(f"{target_registry.host}/app:v1") == image.digest
    injected = [f for f in faults if f != "pass"]
    assert sum(proxy.stats.faults.values()) == len(injected)
    assert result.bytes_copied == sum(image.all_blobs().values())  # restarted blobs counted once


def test_random_fault_rate_still_digest_exact(
    source_registry: LocalRegistry,
    target_registry: LocalRegistry,
    fault_proxy_factory: ProxyFactory,
    fast_retry: RetryPolicy,
    oracle: Oracle,
) -> None:
    image = si.push_index(source_registry.host, "app", "v1", layer_size=30_000)
    proxy = fault_proxy_factory(source_registry.host, rate=0.1, kinds=("503", "429", "reset"), seed=7)
    result = copy_plain(f"{proxy.host}/app:v1", f"{target_registry.host}/app:v1", retry=fast_retry)
    assert result.digest == image.digest == oracle(f"{target_registry.host}/app:v1")


def test_retry_after_is_honoured(
    source_registry: LocalRegistry, target_registry: LocalRegistry, fault_proxy_factory: ProxyFactory
) -> None:
    si.push_image(source_registry.host, "app", "v1")
    slept: list[float] = []
    policy = RetryPolicy(attempts=4, base_delay=0.001, max_retry_after=60, sleep=slept.append)
    proxy = fault_proxy_factory(source_registry.host, faults=["429"], retry_after="17")
    copy_plain(f"{proxy.host}/app:v1", f"{target_registry.host}/app:v1", retry=policy)
    assert slept == [17.0]


def test_persistent_failure_is_bounded(
    source_registry: LocalRegistry,
    target_registry: LocalRegistry,
    fault_proxy_factory: ProxyFactory,
    fast_retry: RetryPolicy,
) -> None:
    si.push_image(source_registry.host, "app", "v1")
    proxy = fault_proxy_factory(source_registry.host, faults=["503"] * 100)
    with pytest.raises(RegistryUnavailableError) as info:
        copy_plain(f"{proxy.host}/app:v1", f"{target_registry.host}/app:v1", retry=fast_retry)
    assert info.value.status == 503 and info.value.retryable
    assert proxy.stats.requests == fast_retry.attempts


class RotatingCredentials:
    """Credentials whose password the registry side can rotate; invalidate() re-reads them."""

    def __init__(self, proxies: list[FaultProxy]) -> None:
        self.proxies = {proxy.host: proxy for proxy in proxies}
        self.cached: dict[str, tuple[str, str]] = {}
        self.invalidated: list[str] = []

    def get(self, host: str, scheme: str = "https") -> tuple[str, str] | None:
        proxy = self.proxies.get(host)
        if proxy is None:
            return None
        if host not in self.cached:
            self.cached[host] = (proxy.user, proxy.password)
        return self.cached[host]

    def invalidate(self, host: str) -> None:
        self.invalidated.append(host)
        self.cached.pop(host, None)


@pytest.mark.parametrize("mode", ["basic", "bearer"])
def test_auth_and_reauth_after_401(
    mode: str,
    source_registry: LocalRegistry,
    target_registry: LocalRegistry,
    fault_proxy_factory: ProxyFactory,
    fast_retry: RetryPolicy,
    oracle: Oracle,
) -> None:
    image = si.push_index(source_registry.host, "app", "v1")
    src = fault_proxy_factory(source_registry.host, auth=mode, user="puller", password="pull-secret")
    dst = fault_proxy_factory(target_registry.host, auth=mode, user="pusher", password="push-secret")
    creds = RotatingCredentials([src, dst])
    rotated: list[str] = []

    def expire_once(event: CopyProgress) -> None:
        if event.event == "blob-done" and not rotated:
            rotated.append(event.digest)
            src.expire_tokens()
            dst.expire_tokens()
            src.password, dst.password = "pull-rotated", "push-rotated"

    result = copy_plain(
        f"{src.host}/app:v1", f"{dst.host}/app:v1", credentials=creds, retry=fast_retry, progress=expire_once
    )
    assert rotated
    assert result.digest == image.digest == oracle(f"{target_registry.host}/app:v1")
    assert dst.stats.auth_challenges >= 1
    assert dst.host in creds.invalidated  # the 401 after rotation made us fetch new credentials
    if mode == "bearer":
        assert dst.stats.tokens_issued >= 2  # a fresh token after the old ones were revoked


@pytest.mark.parametrize("mode", ["basic", "bearer"])
@pytest.mark.parametrize("password", [None, "wrong-password"])
def test_wrong_credentials_fail_with_authentication_error(
    mode: str,
    password: str | None,
    source_registry: LocalRegistry,
    target_registry: LocalRegistry,
    fault_proxy_factory: ProxyFactory,
    fast_retry: RetryPolicy,
) -> None:
    si.push_image(source_registry.host, "app", "v1")
    src = fault_proxy_factory(source_registry.host, auth=mode)
    creds = StaticCredentials({src.host: ("user", password)}) if password else None
    with pytest.raises(AuthenticationError) as info:
        copy_plain(
            f"{src.host}/app:v1", f"{target_registry.host}/app:v1", credentials=creds, retry=fast_retry
        )
    assert info.value.status == 401
    assert "wrong-password" not in str(info.value)
    assert "Basic" not in str(info.value) or "<redacted>" in str(info.value)
