"""Per-side transport settings: https by default (loopback included), a CA file per registry,
plain http only for the side that asks, and never plain http to an AWS host."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from ecr_replicate.errors import ConfigurationError, RegistryError
from ecr_replicate.oci.copy import copy_image
from ecr_replicate.oci.describe import describe_image, head_digest
from ecr_replicate.oci.registry_config import RegistryConfig
from ecr_replicate.oci.transport import RetryPolicy
from ecr_replicate_local import sample_images as si
from ecr_replicate_local.registry import LocalRegistry
from tests.support.plain_http import PLAIN_HTTP
from tests.support.tls import TlsRegistry, make_tls_files

pytestmark = pytest.mark.timeout(120)

ECR_HOST = "123456789012.dkr.ecr.eu-west-1.amazonaws.com"


@pytest.fixture
def tls_registry() -> Iterator[TlsRegistry]:
    registry = TlsRegistry.temporary_tls("tls")
    registry.start()
    yield registry
    registry.cleanup()


def test_copy_to_and_from_an_https_registry_with_its_ca_file(
    source_registry: LocalRegistry,
    target_registry: LocalRegistry,
    tls_registry: TlsRegistry,
    oracle: Callable[[str], str | None],
) -> None:
    assert tls_registry.tls is not None
    trusted = RegistryConfig(ca_file=str(tls_registry.tls.ca_file))
    image = si.push_index(source_registry.host, "team/app", "v1", seed=11)
    there = copy_image(
        image.ref, f"{tls_registry.host}/team/app:v1", source_config=PLAIN_HTTP, target_config=trusted
    )
    assert there.digest == image.digest and there.tagged
    assert head_digest(f"{tls_registry.host}/team/app:v1", config=trusted) == image.digest
    described = describe_image(f"{tls_registry.host}/team/app:v1", config=trusted)
    assert described.digest == image.digest and len(described.children) == 2
    back = copy_image(
        f"{tls_registry.host}/team/app:v1",
        f"{target_registry.host}/team/app:v1",
        source_config=trusted,
        target_config=PLAIN_HTTP,
    )
    assert back.digest == image.digest
    assert oracle(f"{target_registry.host}/team/app:v1") == image.digest


def test_an_untrusted_certificate_is_refused(tls_registry: TlsRegistry, tmp_path: Path) -> None:
    """The system store does not know the test CA, and another CA file is not the right one."""
    other = make_tls_files(tmp_path / "other", common_name="another CA")
    ref = f"{tls_registry.host}/team/app:v1"
    for config in (RegistryConfig(), RegistryConfig(ca_file=str(other.ca_file))):
        with pytest.raises(RegistryError, match="CERTIFICATE_VERIFY_FAILED"):
            head_digest(ref, config=config, retry=RetryPolicy(1))


def test_loopback_is_https_unless_plain_http_is_asked(
    source_registry: LocalRegistry, target_registry: LocalRegistry
) -> None:
    """No automatic plain http for 127.0.0.1: a plain registry is not spoken to in clear by default."""
    image = si.push_image(source_registry.host, "app", "v1")
    target = f"{target_registry.host}/app:v1"
    with pytest.raises(RegistryError):
        copy_image(image.ref, target, retry=RetryPolicy(1))
    with pytest.raises(RegistryError):  # one side plain is not both sides plain
        copy_image(image.ref, target, source_config=PLAIN_HTTP, retry=RetryPolicy(1))
    assert head_digest(f"{target_registry.host}/app:v1", config=PLAIN_HTTP) is None
    result = copy_image(
        image.ref, f"{target_registry.host}/app:v1", source_config=PLAIN_HTTP, target_config=PLAIN_HTTP
    )
    assert result.digest == image.digest


def test_plain_http_to_an_aws_host_is_refused_before_any_request() -> None:
    for host in (ECR_HOST, "123456789012.dkr.ecr.cn-north-1.amazonaws.com.cn", "x.AMAZONAWS.com:443"):
        with pytest.raises(ConfigurationError, match="https only"):
            copy_image(f"{host}/app:v1", "127.0.0.1:1/app:v1", source_config=PLAIN_HTTP)
        with pytest.raises(ConfigurationError, match="https only"):
            copy_image("127.0.0.1:1/app:v1", f"{host}/app:v1", target_config=PLAIN_HTTP)
        with pytest.raises(ConfigurationError, match="https only"):
            head_digest(f"{host}/app:v1", config=PLAIN_HTTP)


def test_one_host_cannot_be_both_http_and_https() -> None:
    with pytest.raises(ConfigurationError, match="two different transport settings"):
        copy_image("127.0.0.1:1/a:v1", "127.0.0.1:1/b:v1", source_config=PLAIN_HTTP)


def cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "ecr_replicate_cli.main", "copy", *args],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def test_cli_per_side_options(
    source_registry: LocalRegistry, tls_registry: TlsRegistry, oracle: Callable[[str], str | None]
) -> None:
    assert tls_registry.tls is not None
    image = si.push_image(source_registry.host, "app", "v1")
    target = f"{tls_registry.host}/app:v1"
    done = cli("--src-plain-http", "--dst-ca-file", str(tls_registry.tls.ca_file), image.ref, target)
    assert done.returncode == 0, done.stderr
    assert image.digest in done.stdout
    refused = cli("--plain-http", image.ref, f"{ECR_HOST}/app:v1")
    assert refused.returncode != 0
    assert "ConfigurationError" in refused.stderr and "https only" in refused.stderr
    assert len(refused.stderr.strip().splitlines()) == 1
