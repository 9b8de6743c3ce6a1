"""TLS: a registry whose certificate does not verify fails at once with a permanent typed error
(RegistryTlsError), never retried as if it were a transient outage."""

from __future__ import annotations

from pathlib import Path

import pytest

from ecr_replicate.errors import RegistryTlsError
from ecr_replicate.oci.copy import copy_image
from ecr_replicate.oci.describe import describe_image
from ecr_replicate.oci.registry_config import RegistryConfig
from ecr_replicate.oci.transport import RetryPolicy
from tests.hostile.conftest import config_for, copy_between
from tests.support.hostile_registry import FakeRegistry
from tests.support.tls import TlsFiles, make_tls_files

pytestmark = pytest.mark.timeout(30)


def test_an_https_registry_with_its_ca_copies(servers, tls: TlsFiles, retry: RetryPolicy) -> None:
    source, target = servers(FakeRegistry, tls=tls), servers(FakeRegistry, tls=tls)
    image = source.push_image("app", "v1")
    assert copy_between(source, target, retry=retry).digest == image.digest
    assert target.tag_of("app", "v1") == image.digest


def test_an_untrusted_certificate_is_permanent_and_not_retried(
    servers, tls: TlsFiles, tmp_path: Path, retry: RetryPolicy
) -> None:
    source = servers(FakeRegistry, tls=tls)
    source.push_image("app", "v1")
    other_ca = make_tls_files(tmp_path / "other", common_name="another CA")
    with pytest.raises(RegistryTlsError):
        describe_image(
            f"{source.host}/app:v1", config=RegistryConfig(ca_file=str(other_ca.ca_file)), retry=retry
        )
    assert source.connections == 1


def test_the_system_store_does_not_trust_a_private_ca(servers, tls: TlsFiles, retry: RetryPolicy) -> None:
    source = servers(FakeRegistry, tls=tls)
    source.push_image("app", "v1")
    with pytest.raises(RegistryTlsError):
        describe_image(f"{source.host}/app:v1", retry=retry)
    assert source.connections == 1


def test_a_name_the_certificate_does_not_cover_is_refused(servers, tls: TlsFiles, retry: RetryPolicy) -> None:
    source = servers(FakeRegistry, tls=tls)
    source.push_image("app", "v1")
    config = config_for(source)
    with pytest.raises(RegistryTlsError):
        copy_image(f"localhost:{source.port}/app:v1", f"localhost:{source.port}/copy:v1",
                   source_config=config, target_config=config, retry=retry)  # fmt: skip


def test_https_to_a_plain_http_server_is_permanent(servers, tls: TlsFiles, retry: RetryPolicy) -> None:
    source = servers(FakeRegistry)
    source.push_image("app", "v1")
    config = RegistryConfig(ca_file=str(tls.ca_file))
    with pytest.raises(RegistryTlsError):
        describe_image(f"{source.host}/app:v1", config=config, retry=retry)
    assert source.connections == 1
