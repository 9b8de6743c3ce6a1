from __future__ import annotations

import pytest

from ecr_replicate.oci.auth import Authenticator, StaticCredentials, basic_header, parse_challenge


def test_parse_challenge() -> None:
    scheme, params = parse_challenge(
        'Bearer realm="https://auth.example/token",service="registry",scope="repository:a/b:pull,push"'
    )
    assert scheme == "bearer"
    assert params == {
        "realm": "https://auth.example/token",
        "service": "registry",
        "scope": "repository:a/b:pull,push",
    }
    assert parse_challenge('Basic realm="x"')[0] == "basic"


def test_authenticator_basic_preemptive_and_refresh() -> None:
    auth = Authenticator(StaticCredentials({"h:1": ("u", "p")}))
    assert auth.header("h:1", "repo:pull") == basic_header("u", "p")
    assert auth.header("other:1", "repo:pull") is None
    # the same static credentials after a 401 are not "new": no endless retry
    assert auth.challenge("h:1", "repo:pull", 'Basic realm="x"', basic_header("u", "p")) is False
    anonymous = Authenticator(None)
    assert anonymous.challenge("h:1", "repo:pull", 'Basic realm="x"', None) is False


@pytest.mark.parametrize("header", ["", "Negotiate abc"])
def test_unknown_challenge_without_credentials(header: str) -> None:
    assert Authenticator(None).challenge("h:1", "r:pull", header, None) is False
