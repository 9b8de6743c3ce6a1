"""Fixtures of the hostile-registry suite: fake registries (plain and https), a CA, copy helpers.

Every server is on 127.0.0.1 and stopped at teardown. Every test is guarded by pytest-timeout,
so a hang is a failure, never a stuck run.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from ecr_replicate.oci.copy import CopyResult, copy_image
from ecr_replicate.oci.registry_config import RegistryConfig
from ecr_replicate.oci.transport import RetryPolicy
from tests.support.hostile_registry import FakeRegistry, HostileServer
from tests.support.tls import TlsFiles, make_tls_files

pytestmark = pytest.mark.timeout(30)

ATTEMPTS = 4


@pytest.fixture(scope="session")
def tls(tmp_path_factory: pytest.TempPathFactory) -> TlsFiles:
    return make_tls_files(Path(tmp_path_factory.mktemp("hostile-tls")))


@pytest.fixture
def retry() -> RetryPolicy:
    """Few, fast attempts: the bound is what is tested, not the waiting."""
    return RetryPolicy(attempts=ATTEMPTS, base_delay=0.001, max_delay=0.005, max_retry_after=0.01)


@pytest.fixture
def servers() -> Iterator[Callable[..., Any]]:
    """``servers(FakeRegistry, **options)`` or ``servers(HostileServer, handler)``: started, stopped."""
    started: list[HostileServer] = []

    def make(cls: type[HostileServer] = FakeRegistry, *args: Any, **kwargs: Any) -> Any:
        server = cls(*args, **kwargs).start()
        started.append(server)
        return server

    yield make
    for server in started:
        server.stop()


def config_for(server: HostileServer, tls: TlsFiles | None = None) -> RegistryConfig:
    if server.tls is not None:
        return RegistryConfig(ca_file=str(server.tls.ca_file))
    return RegistryConfig(plain_http=True)


def copy_between(
    source: HostileServer, target: HostileServer, src: str = "app:v1", dst: str = "app:v1", **options: Any
) -> CopyResult:
    """copy_image() from ``source`` to ``target``, each reached as it serves (http or https)."""
    return copy_image(
        f"{source.host}/{src}",
        f"{target.host}/{dst}",
        source_config=config_for(source),
        target_config=config_for(target),
        **options,
    )
