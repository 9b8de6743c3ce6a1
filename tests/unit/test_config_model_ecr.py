"""config.Settings, model parsing edge cases, ecr error mapping."""

from __future__ import annotations

from typing import Any

import pytest
from botocore.exceptions import ClientError, EndpointConnectionError

from ecr_replicate.config import Settings
from ecr_replicate.ecr import map_aws_error
from ecr_replicate.errors import AwsPermanentError, AwsThrottledError, AwsTransientError, ConfigurationError

BASE = {
    "AWS_REGION": "us-east-1",
    "TARGET_REGIONS": "eu-west-1, us-east-1,ap-southeast-1,eu-west-1",
    "ACCOUNT_ID": "123456789012",
}


def test_source_region_dropped_and_hosts():
    settings = Settings.from_env(BASE)
    assert settings.target_regions == ("eu-west-1", "ap-southeast-1")
    assert settings.registry_host("eu-west-1") == "123456789012.dkr.ecr.eu-west-1.amazonaws.com"
    assert settings.registry_host("cn-north-1") == "123456789012.dkr.ecr.cn-north-1.amazonaws.com.cn"
    local = Settings.from_env({**BASE, "REGISTRY_ENDPOINTS": '{"eu-west-1": "127.0.0.1:5002"}'})
    assert local.registry_host("eu-west-1") == "127.0.0.1:5002"


@pytest.mark.parametrize(
    ("override", "words"),
    [
        ({"TARGET_REGIONS": "us-east-1"}, "nothing to replicate"),
        ({"TARGET_REGIONS": "eu-west-1,Mars"}, "not an AWS region"),
        ({"COPY_RUNTIME": "docker"}, "COPY_RUNTIME"),
        ({"LAMBDA_MAX_IMAGE_BYTES": "big"}, "integer"),
        ({"MAX_CONCURRENCY": "41"}, "between 1 and 40"),
        ({"MIRROR_REPOSITORY_SETTINGS": "maybe"}, "true or false"),
        ({"REGISTRY_ENDPOINTS": "[1]"}, "JSON object"),
        ({"REGISTRY_ENDPOINTS": '{"eu-west-1": "a b"}'}, "host:port"),
        ({"ACCOUNT_ID": "12"}, "12 digits"),
        ({"AWS_REGION": ""}, "AWS_REGION"),
    ],
)
def test_bad_configuration_is_refused_clearly(override, words):
    with pytest.raises(ConfigurationError, match=words):
        Settings.from_env({**BASE, **override})


def client_error(code: str, status: int = 400) -> ClientError:
    response: Any = {"Error": {"Code": code, "Message": "m"}, "ResponseMetadata": {"HTTPStatusCode": status}}
    return ClientError(response, "Op")


@pytest.mark.parametrize(
    ("exc", "expected"),
    [
        (client_error("ThrottlingException"), AwsThrottledError),
        (client_error("TooManyRequestsException", 429), AwsThrottledError),
        (client_error("ServerException", 500), AwsTransientError),
        (client_error("LimitExceededException"), AwsPermanentError),
        (client_error("InvalidParameterException"), AwsPermanentError),
        (client_error("AccessDeniedException", 403), AwsPermanentError),
        (EndpointConnectionError(endpoint_url="https://x"), AwsTransientError),
    ],
)
def test_aws_errors_are_classified(exc, expected):
    mapped = map_aws_error(exc, "ecr:CreateRepository")
    assert type(mapped) is expected
    assert "ecr:CreateRepository" in str(mapped)
