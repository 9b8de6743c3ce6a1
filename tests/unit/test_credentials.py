"""EcrCredentials: tokens of GetAuthorizationToken for ECR hosts and the configured endpoints."""

from __future__ import annotations

import base64
import datetime
from typing import Any

import boto3
from moto import mock_aws

from ecr_replicate.credentials import EcrCredentials, ecr_region

ECR_HOST = "123456789012.dkr.ecr.eu-west-1.amazonaws.com"


def test_ecr_host_regions() -> None:
    assert ecr_region(ECR_HOST) == "eu-west-1"
    assert ecr_region("123456789012.dkr.ecr.cn-north-1.amazonaws.com.cn") == "cn-north-1"
    assert ecr_region("127.0.0.1:5000") is None
    assert ecr_region("evil.dkr.ecr.eu-west-1.amazonaws.com.attacker.net") is None
    assert ecr_region("123456789012.dkr.ecr.eu-west-1.amazonaws.com\nx") is None


def test_endpoints_take_the_token_of_their_region() -> None:
    """REGISTRY_ENDPOINTS hosts (region -> host) are ECR registries of that region."""
    asked: list[str] = []
    client = _ExpiringClient(datetime.datetime.now(datetime.UTC) + datetime.timedelta(hours=12))

    def factory(region: str) -> Any:
        asked.append(region)
        return client

    creds = EcrCredentials(factory, endpoints={"eu-west-1": "127.0.0.1:5002", "us-east-1": "127.0.0.1:5001"})
    assert creds.region_of("127.0.0.1:5002") == "eu-west-1"
    assert creds.get("127.0.0.1:5002") == ("AWS", "token1")
    assert creds.get("127.0.0.1:5001") == ("AWS", "token2")
    assert creds.get("127.0.0.1:5003") is None  # not an endpoint, not an ECR host: anonymous
    assert creds.get(ECR_HOST) == ("AWS", "token1")  # cached per region
    assert asked == ["eu-west-1", "us-east-1"]
    creds.invalidate("127.0.0.1:5002")
    assert creds.get(ECR_HOST) == ("AWS", "token3")


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
