from __future__ import annotations

import pytest

from ecr_replicate.errors import InvalidReferenceError
from ecr_replicate.oci.reference import (
    Reference,
    is_loopback_host,
    parse_reference,
    validate_digest,
    validate_repository,
    validate_tag,
)

DIGEST = "sha256:" + "a" * 64


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("127.0.0.1:5000/app:v1", Reference("127.0.0.1:5000", "app", "v1", None)),
        ("localhost/team/app", Reference("localhost", "team/app", None, None)),
        (f"reg.example.com/a/b@{DIGEST}", Reference("reg.example.com", "a/b", None, DIGEST)),
        (f"[::1]:5000/app:1.0@{DIGEST}", Reference("[::1]:5000", "app", "1.0", DIGEST)),
        (
            "123456789012.dkr.ecr.eu-west-1.amazonaws.com/my-repo/x_y:latest",
            Reference("123456789012.dkr.ecr.eu-west-1.amazonaws.com", "my-repo/x_y", "latest", None),
        ),
    ],
)
def test_parse_valid(text: str, expected: Reference) -> None:
    ref = parse_reference(text)
    assert ref == expected
    assert parse_reference(str(ref)) == ref


@pytest.mark.parametrize(
    ("text", "fragment"),
    [
        ("", "empty"),
        ("app:v1", "registry host"),
        ("https://reg/app:v1", "scheme"),
        ("reg.example/App:v1", "invalid repository"),
        ("reg.example/app:-v1", "invalid tag"),
        ("reg.example/app:" + "t" * 129, "128"),
        ("reg.example/app@sha256:abc", "64"),
        ("reg.example/app@md5:" + "a" * 32, "sha256"),
        ("reg:99999/app", "port"),
        ("reg.example/app//x", "invalid repository"),
        ("bad host/app", "registry host"),
    ],
)
def test_parse_invalid(text: str, fragment: str) -> None:
    with pytest.raises(InvalidReferenceError, match=fragment):
        parse_reference(text)


def test_validators() -> None:
    assert validate_tag("v1.2_3-rc") == "v1.2_3-rc"
    assert validate_tag("t" * 128)
    assert validate_repository("a/b-c/d__e.f")
    assert validate_digest("sha512:" + "0" * 128)
    with pytest.raises(InvalidReferenceError):
        validate_repository("a" * 256)
    with pytest.raises(InvalidReferenceError):
        validate_digest("sha256:" + "A" * 64)
    with pytest.raises(InvalidReferenceError):
        validate_tag(".hidden")


@pytest.mark.parametrize(
    ("host", "loopback"),
    [
        ("localhost:5000", True),
        ("127.0.0.1", True),
        ("127.8.9.10:1", True),
        ("[::1]:5000", True),
        ("10.0.0.1:5000", False),
        ("registry.example.com", False),
    ],
)
def test_loopback(host: str, loopback: bool) -> None:
    assert is_loopback_host(host) is loopback


def test_reference_property() -> None:
    ref = parse_reference(f"h.example/app:v1@{DIGEST}")
    assert ref.reference == DIGEST
    assert ref.with_digest(None).reference == "v1"
    with pytest.raises(InvalidReferenceError):
        _ = ref.with_digest(None).with_tag(None).reference


@pytest.mark.parametrize("text", ["team/app:v1", "team/app", "library/busybox@" + DIGEST, "a/b/c:v1"])
def test_a_reference_without_a_registry_host_says_so(text: str) -> None:
    """Docker's rule: a first component without '.' or ':' (and not localhost) is not a host."""
    with pytest.raises(InvalidReferenceError, match="registry host is missing"):
        parse_reference(text)


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("host", "a b"),
        ("repository", "App"),
        ("tag", "-x"),
        ("digest", "sha256:" + "A" * 64),
        ("digest", "md5:x"),
    ],
)
def test_a_reference_is_validated_when_made(field: str, value: str) -> None:
    parts = {"host": "reg.example", "repository": "app", "tag": None, "digest": None, field: value}
    with pytest.raises(InvalidReferenceError):
        Reference(**parts)  # type: ignore[arg-type]
