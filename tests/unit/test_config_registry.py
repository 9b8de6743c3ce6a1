"""Settings.registry_config: REGISTRY_CA_FILE for every registry, plain http only for local endpoints."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from ecr_replicate import workflow
from ecr_replicate.config import Settings
from ecr_replicate.errors import ConfigurationError
from ecr_replicate.model import parse_copy_input, parse_request
from ecr_replicate.oci.copy import CopyResult
from ecr_replicate.oci.registry_config import RegistryConfig
from tests.unit.handlers.conftest import FakeCopyResult, FakeDescription
from tests.unit.handlers.test_copy_image import item

BASE = {"AWS_REGION": "us-east-1", "TARGET_REGIONS": "eu-west-1", "ACCOUNT_ID": "123456789012"}
ECR_EU = "123456789012.dkr.ecr.eu-west-1.amazonaws.com"
LOCAL = '{"us-east-1": "127.0.0.1:5001", "eu-west-1": "127.0.0.1:5002"}'


def test_https_with_the_system_store_by_default() -> None:
    settings = Settings.from_env(BASE)
    assert settings.registry_ca_file is None and not settings.registry_plain_http
    assert settings.registry_config(ECR_EU) == RegistryConfig()


def test_the_ca_file_applies_to_every_registry(tmp_path: Path) -> None:
    ca = tmp_path / "ca.pem"
    ca.write_text("-----BEGIN CERTIFICATE-----\n")
    settings = Settings.from_env({**BASE, "REGISTRY_ENDPOINTS": LOCAL, "REGISTRY_CA_FILE": str(ca)})
    assert settings.registry_ca_file == str(ca)
    for host in ("127.0.0.1:5001", "127.0.0.1:5002", ECR_EU):
        assert settings.registry_config(host) == RegistryConfig(ca_file=str(ca))


def test_a_missing_ca_file_is_a_configuration_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigurationError, match="REGISTRY_CA_FILE"):
        Settings.from_env({**BASE, "REGISTRY_CA_FILE": str(tmp_path / "absent.pem")})


def test_plain_http_only_for_loopback_endpoints() -> None:
    settings = Settings.from_env({**BASE, "REGISTRY_ENDPOINTS": LOCAL, "REGISTRY_PLAIN_HTTP": "true"})
    assert settings.registry_config("127.0.0.1:5002") == RegistryConfig(plain_http=True)
    assert settings.registry_config(ECR_EU) == RegistryConfig()  # not an endpoint: https
    assert settings.registry_config("127.0.0.1:5009") == RegistryConfig()


@pytest.mark.parametrize(
    "endpoints",
    [None, '{"eu-west-1": "registry.example.com:5000"}', '{"eu-west-1": "10.0.0.8:5000"}'],
)
def test_plain_http_is_refused_for_anything_but_loopback_endpoints(endpoints: str | None) -> None:
    env = {**BASE, "REGISTRY_PLAIN_HTTP": "true"}
    if endpoints is not None:
        env["REGISTRY_ENDPOINTS"] = endpoints
    with pytest.raises(ConfigurationError, match="REGISTRY_PLAIN_HTTP is for local registries only"):
        Settings.from_env(env)


def test_the_workflow_passes_each_side_its_registry_config(tmp_path: Path) -> None:
    """plan() describes the source, copy_region() copies, each with Settings.registry_config."""
    ca = tmp_path / "ca.pem"
    ca.write_text("-----BEGIN CERTIFICATE-----\n")
    settings = Settings.from_env({**BASE, "REGISTRY_ENDPOINTS": LOCAL, "REGISTRY_CA_FILE": str(ca)})
    trusted = RegistryConfig(ca_file=str(ca))
    copies: list[dict[str, Any]] = []

    def copier(source: Any, target: Any, **options: Any) -> CopyResult:
        copies.append(options)
        return FakeCopyResult()

    copy_input = parse_copy_input(item(sourceRegistry="127.0.0.1:5001", targetRegistry="127.0.0.1:5002"))
    workflow.copy_region(copy_input, settings, copier=copier)
    assert copies[0]["source_config"] == trusted and copies[0]["target_config"] == trusted
    described: list[Any] = []

    def describe(ref: str, **options: Any) -> FakeDescription:
        described.append(options["config"])
        return FakeDescription()

    request = parse_request({"repository": "team/app", "tag": "v1"}, default_region="us-east-1")
    workflow.plan(request, settings, describe=describe)
    assert described == [trusted]
