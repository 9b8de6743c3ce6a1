"""Every URL a registry names (Location, redirect, realm) is checked before it is used."""

from __future__ import annotations

import pytest

from ecr_replicate.errors import RegistryProtocolError
from ecr_replicate.oci.answers import parse_content_length, parse_digest_header
from ecr_replicate.oci.registry_config import RegistryConfig
from ecr_replicate.oci.transport import Transport
from ecr_replicate.oci.urls import Url, resolve

BASE = Url("https", "registry.example:5000", "/v2/app/blobs/uploads/")


@pytest.mark.parametrize(
    ("location", "expected"),
    [
        (
            "/v2/app/blobs/uploads/u1?_state=x",
            "https://registry.example:5000/v2/app/blobs/uploads/u1?_state=x",
        ),
        ("u2", "https://registry.example:5000/v2/app/blobs/uploads/u2"),
        (
            "https://s3.example/bucket/k?X-Amz-Signature=a%2Fb",
            "https://s3.example/bucket/k?X-Amz-Signature=a%2Fb",
        ),
        ("http://[::1]:8080/x", "http://[::1]:8080/x"),
    ],
)
def test_good_locations(location: str, expected: str) -> None:
    assert str(resolve(BASE, location, "test")) == expected


@pytest.mark.parametrize(
    "location",
    ["", "ftp://h/x", "file:///etc/passwd", "javascript:alert(1)", "http://u:p@h/x", "/a b", "/a\r\nb",
     "/\u00e9", "http://[::1/x", "http://h:99999/x", "http://h:x/", "https://bad_host!/x", "/" + "a" * 9000],
)  # fmt: skip
def test_bad_locations_are_typed_errors(location: str) -> None:
    with pytest.raises(RegistryProtocolError, match="unacceptable URL"):
        resolve(BASE, location, "test")


def test_credentials_follow_scheme_host_and_port() -> None:
    transport = Transport(registries={"r.example:5000": RegistryConfig()})
    own = transport.url("r.example:5000", "/v2/")
    assert transport.is_registry(own, "r.example:5000")
    assert transport.is_registry(Url("https", "R.EXAMPLE:5000", "/x"), "r.example:5000")
    assert not transport.is_registry(Url("http", "r.example:5000", "/x"), "r.example:5000")
    assert not transport.is_registry(Url("https", "r.example:5001", "/x"), "r.example:5000")
    assert not transport.is_registry(Url("https", "other.example:5000", "/x"), "r.example:5000")
    assert transport.is_registry(Url("https", "r.example:443", "/x"), "r.example")
    transport.close()


@pytest.mark.parametrize("value", ["\u00b2", "-1", "1.5", "1e3", " ", "0x10", "9" * 30, "\u0663"])
def test_a_malformed_content_length_is_a_typed_error(value: str) -> None:
    with pytest.raises(RegistryProtocolError, match="Content-Length"):
        parse_content_length(value, "test")


@pytest.mark.parametrize(
    "value",
    ["sha256:" + "A" * 64, "sha256:" + "\u00e9" * 64, "sha256:" + "a" * 64 + "\r\nx", "md5:" + "a" * 32],
)
def test_a_malformed_digest_header_is_a_typed_error(value: str) -> None:
    with pytest.raises(RegistryProtocolError, match="Docker-Content-Digest"):
        parse_digest_header(value, "test")
    assert parse_digest_header("sha256:" + "a" * 64, "test") == "sha256:" + "a" * 64


@pytest.mark.parametrize(
    "location",
    [
        "http://169.254.169.254/latest/meta-data/",
        "http://169.254.170.2/v2/credentials/x",
        "http://[fd00:ec2::254]/latest/meta-data/",
        "http://[fe80::1]/",
        "http://[::ffff:169.254.169.254]/",
        "http://2852039166/",  # 169.254.169.254 as the resolver reads a decimal number
        "http://0xa9fea9fe/",
        "http://0251.0376.0251.0376/",
        "http://0.0.0.0:5000/v2/",
    ],
)
def test_a_metadata_or_link_local_address_is_refused(location: str) -> None:
    with pytest.raises(RegistryProtocolError, match="metadata"):
        resolve(BASE, location, "redirect")


def test_a_registry_on_a_link_local_address_may_name_itself() -> None:
    """The operator chose that registry; only a registry's move to such a host is refused."""
    base = Url("http", "169.254.10.20:5000", "/v2/")
    url = resolve(base, "/v2/app/blobs/uploads/u1", "Location")
    assert str(url) == "http://169.254.10.20:5000/v2/app/blobs/uploads/u1"
