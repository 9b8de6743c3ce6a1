from __future__ import annotations

import base64
import datetime
from typing import Any

import boto3
import pytest
from moto import mock_aws

from ecr_replicate.oci.auth import (
    Authenticator,
    EcrCredentials,
    StaticCredentials,
    basic_header,
    parse_challenge,
)

ECR_HOST = "123456789012.dkr.ecr.eu-west-1.amazonaws.com"


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


def test_ecr_host_regions() -> None:
    assert EcrCredentials.region_of(ECR_HOST) == "eu-west-1"
    assert EcrCredentials.region_of("123456789012.dkr.ecr.cn-north-1.amazonaws.com.cn") == "cn-north-1"
    assert EcrCredentials.region_of("127.0.0.1:5000") is None
    assert EcrCredentials.region_of("evil.dkr.ecr.eu-west-1.amazonaws.com.attacker.net") is None


def test_ecr_credentials_with_moto() -> None:
    calls: list[str] = []
    with mock_aws():

        def factory(region: str) -> Any:
            calls.append(region)
            return boto3.client("ecr", region_name=region)

        creds = EcrCredentials(factory)
        user, password = creds.get(ECR_HOST) or ("", "")
        assert user == "AWS" and password
        # moto's tokens carry expiresAt 2015-01-01: already expired, so each get() refetches
        assert creds.get(ECR_HOST) == (user, password)
        assert calls == ["eu-west-1", "eu-west-1"]
        assert creds.get("127.0.0.1:5000") is None


class _ExpiringClient:
    """An ECR client answering tokens that expire at a chosen time (expiry logic only)."""

    def __init__(self, expires: datetime.datetime) -> None:
        self.expires = expires
        self.count = 0

    def get_authorization_token(self) -> dict[str, Any]:
        self.count += 1
        token = base64.b64encode(f"AWS:token{self.count}".encode()).decode()
        return {"authorizationData": [{"authorizationToken": token, "expiresAt": self.expires}]}


def test_ecr_token_refreshed_near_expiry() -> None:
    now = 1_000_000.0
    client = _ExpiringClient(datetime.datetime.fromtimestamp(now + 600, tz=datetime.UTC))
    clock = [now]
    creds = EcrCredentials(lambda region: client, margin=300, clock=lambda: clock[0])
    assert creds.get(ECR_HOST) == ("AWS", "token1")
    clock[0] = now + 200
    assert creds.get(ECR_HOST) == ("AWS", "token1")
    clock[0] = now + 301  # inside the margin: refresh
    assert creds.get(ECR_HOST) == ("AWS", "token2")


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
