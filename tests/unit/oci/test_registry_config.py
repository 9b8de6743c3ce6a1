from __future__ import annotations

import pytest

from ecr_replicate.errors import ConfigurationError
from ecr_replicate.oci.registry_config import HTTPS, RegistryConfig, is_https_only, per_host
from ecr_replicate.oci.transport import Transport

PLAIN = RegistryConfig(plain_http=True)


def test_https_is_the_default() -> None:
    assert HTTPS.scheme == "https" and HTTPS.ca_file is None
    assert PLAIN.scheme == "http"
    transport = Transport(registries={"127.0.0.1:5000": PLAIN})
    assert transport.scheme("127.0.0.1:5000") == "http"
    assert transport.scheme("127.0.0.1:5001") == "https"  # loopback is not http by itself
    assert transport.scheme("localhost:5000") == "https"


def test_a_ca_file_is_for_https_only() -> None:
    with pytest.raises(ConfigurationError, match="cannot be combined with plain http"):
        RegistryConfig(plain_http=True, ca_file="/tmp/ca.pem")


@pytest.mark.parametrize(
    ("host", "https_only"),
    [
        ("123456789012.dkr.ecr.eu-west-1.amazonaws.com", True),
        ("123456789012.dkr.ecr.cn-north-1.amazonaws.com.cn:443", True),
        ("public.ecr.aws", False),
        ("amazonaws.com.evil.example", False),
        ("127.0.0.1:5000", False),
    ],
)
def test_aws_hosts_are_https_only(host: str, https_only: bool) -> None:
    assert is_https_only(host) is https_only
    if https_only:
        with pytest.raises(ConfigurationError, match="https only"):
            PLAIN.check(host)
        with pytest.raises(ConfigurationError, match="https only"):
            Transport(registries={host: PLAIN})
    else:
        assert PLAIN.check(host) is PLAIN


def test_per_host_merges_equal_settings_and_refuses_conflicts() -> None:
    assert per_host(("a:1", PLAIN), ("a:1", RegistryConfig(plain_http=True))) == {"a:1": PLAIN}
    assert per_host(("a:1", PLAIN), ("b:1", HTTPS)) == {"a:1": PLAIN, "b:1": HTTPS}
    with pytest.raises(ConfigurationError, match="two different"):
        per_host(("a:1", PLAIN), ("a:1", HTTPS))
