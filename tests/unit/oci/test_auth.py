from __future__ import annotations

import json

import pytest

from ecr_replicate.errors import AuthenticationError
from ecr_replicate.oci.auth import Authenticator, StaticCredentials, basic_header, parse_challenge
from ecr_replicate.oci.urls import Url


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
    assert parse_challenge('Bearer realm="a\\"b", error=invalid_token')[1] == {
        "realm": 'a"b',
        "error": "invalid_token",
    }
    assert parse_challenge('Bearer realm="x", Basic realm="y"')[1] == {"realm": "x"}


@pytest.mark.parametrize(
    "header", ["Bearer " + "a" * 65_000, "Bearer " + "a=b," * 20_000, "Bearer " + '"' * 9000]
)
def test_a_huge_challenge_is_refused_without_scanning_it(header: str) -> None:
    with pytest.raises(AuthenticationError, match="refused"):
        parse_challenge(header)


def test_challenge_parameters_are_bounded() -> None:
    _, params = parse_challenge("Bearer " + ",".join(f"k{i}=v" for i in range(500)))
    assert len(params) == 32


def test_authenticator_basic_preemptive_and_refresh() -> None:
    auth = Authenticator(StaticCredentials({"h:1": ("u", "p")}))
    never = lambda url, headers: b""  # noqa: E731 - no token endpoint in these cases
    assert auth.header("h:1", "https", "repo:pull") == basic_header("u", "p")
    assert auth.header("other:1", "https", "repo:pull") is None
    # the same static credentials after a 401 are not "new": no endless retry
    assert (
        auth.challenge("h:1", "https", "repo:pull", 'Basic realm="x"', basic_header("u", "p"), fetch=never)
        is False
    )
    anonymous = Authenticator(None)
    assert anonymous.challenge("h:1", "https", "repo:pull", 'Basic realm="x"', None, fetch=never) is False


@pytest.mark.parametrize("header", ["", "Negotiate abc"])
def test_unknown_challenge_without_credentials(header: str) -> None:
    assert (
        Authenticator(None).challenge("h:1", "https", "r:pull", header, None, fetch=lambda u, h: b"") is False
    )


class TokenEndpoint:
    def __init__(self, token: object = "tok") -> None:
        self.token = token
        self.calls: list[tuple[Url, dict[str, str]]] = []

    def __call__(self, url: Url, headers: dict[str, str]) -> bytes:
        self.calls.append((url, headers))
        return json.dumps({"token": self.token}).encode()


@pytest.mark.parametrize(
    ("realm", "gets_basic"),
    [
        ("https://h:1/token", True),  # the registry's own scheme, host and port
        ("https://H:1/token?x=1", True),  # host names are case-insensitive
        ("http://h:1/token", False),  # the same host over http, for an https registry
        ("https://h:2/token", False),  # another port
        ("https://auth.example/token", False),  # another host
    ],
)
def test_basic_credentials_go_only_to_the_registrys_own_realm(realm: str, gets_basic: bool) -> None:
    endpoint = TokenEndpoint()
    auth = Authenticator(StaticCredentials({"h:1": ("u", "p")}))
    assert auth.challenge(
        "h:1", "https", "repository:a:pull", f'Bearer realm="{realm}"', None, fetch=endpoint
    )
    ((url, headers),) = endpoint.calls
    assert ("Authorization" in headers) is gets_basic
    assert "scope=repository%3Aa%3Apull" in url.target
    assert auth.header("h:1", "https", "repository:a:pull") == "Bearer tok"


@pytest.mark.parametrize("token", ["", "a b", "a\r\nX-Injected: 1", 7, None, "t" * 20_000])
def test_an_unusable_token_is_refused(token: object) -> None:
    auth = Authenticator(None)
    with pytest.raises(AuthenticationError, match="usable token"):
        auth.challenge(
            "h:1",
            "https",
            "repository:a:pull",
            'Bearer realm="https://h:1/t"',
            None,
            fetch=TokenEndpoint(token),
        )
