"""Shared fixtures: real registries on 127.0.0.1, fault proxies, skopeo as the digest oracle.

Fixtures here are for every test folder (integration, e2e, reliability, bench helpers).
"""

from __future__ import annotations

import hashlib
import shutil
import subprocess
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from ecr_replicate.oci.transport import RetryPolicy
from ecr_replicate_local.registry import LocalRegistry
from tests.support.fault_proxy import FaultProxy


@pytest.fixture
def registry_factory() -> Iterator[Callable[..., LocalRegistry]]:
    """``registry_factory(name)`` -> a started registry, stopped (by PID) and removed at teardown."""
    started: list[LocalRegistry] = []

    def make(name: str = "registry", **kwargs: Any) -> LocalRegistry:
        registry = LocalRegistry.temporary(name, **kwargs).start()
        started.append(registry)
        return registry

    yield make
    for registry in started:
        registry.cleanup()


@pytest.fixture
def source_registry(registry_factory: Callable[..., LocalRegistry]) -> LocalRegistry:
    return registry_factory("source")


@pytest.fixture
def target_registry(registry_factory: Callable[..., LocalRegistry]) -> LocalRegistry:
    return registry_factory("target")


@pytest.fixture
def fault_proxy_factory() -> Iterator[Callable[..., FaultProxy]]:
    """``fault_proxy_factory(upstream_host, **options)`` -> a started FaultProxy, stopped at teardown."""
    started: list[FaultProxy] = []

    def make(upstream: str, **kwargs: Any) -> FaultProxy:
        proxy = FaultProxy(upstream, **kwargs).start()
        started.append(proxy)
        return proxy

    yield make
    for proxy in started:
        proxy.stop()


@pytest.fixture
def fast_retry() -> RetryPolicy:
    """The production policy shape with millisecond delays (tests never sleep for long)."""
    return RetryPolicy(attempts=6, base_delay=0.005, max_delay=0.02, max_retry_after=0.02)


def skopeo_manifest(ref: str) -> bytes | None:
    """Raw manifest bytes of ``host/repo:tag|@digest`` as skopeo sees them; None when absent."""
    skopeo = shutil.which("skopeo")
    if skopeo is None:
        pytest.skip("skopeo is not installed")
    done = subprocess.run(
        [skopeo, "inspect", "--raw", "--tls-verify=false", f"docker://{ref}"],
        capture_output=True,
        timeout=60,
        check=False,
    )
    if done.returncode != 0:
        return None
    return done.stdout


def skopeo_digest(ref: str) -> str | None:
    """sha256 of the raw manifest skopeo reads (the independent digest oracle)."""
    raw = skopeo_manifest(ref)
    return None if raw is None else "sha256:" + hashlib.sha256(raw).hexdigest()


@pytest.fixture
def oracle() -> Callable[[str], str | None]:
    return skopeo_digest
