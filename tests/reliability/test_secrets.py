"""Issue 6 item 7: secrets never reach logs, stdout/stderr or exception messages.

Every log record (root logger at DEBUG, formatted with its traceback), everything written to
stdout/stderr (Powertools logs there) and the text of every raised error is searched for the
password/token, its base64 forms and the Authorization header values, for: Basic credentials, the
Bearer token flow, and the ECR flow (``EcrCredentials`` with an ECR client returning a known
token, in front of a local registry guarded by an auth-checking proxy) through the copy Lambda
handler, including refused credentials and a failing GetAuthorizationToken.
"""

from __future__ import annotations

import base64
import datetime
import json
import logging
import secrets
from collections.abc import Callable, Iterator
from typing import Any, cast

import pytest

from ecr_replicate.credentials import EcrCredentials
from ecr_replicate.errors import AuthenticationError
from ecr_replicate.handlers import copy_image as copy_handler
from ecr_replicate.oci.auth import StaticCredentials
from ecr_replicate.oci.transport import RetryPolicy
from ecr_replicate_local import sample_images as si
from ecr_replicate_local.registry import LocalRegistry
from tests.support.fault_proxy import FaultProxy
from tests.support.plain_http import copy_plain
from tests.unit.handlers.conftest import FakeContext

pytestmark = pytest.mark.timeout(90)

ACCOUNT = "123456789012"


def secret_forms(user: str, password: str) -> list[str]:
    pair = base64.b64encode(f"{user}:{password}".encode()).decode()
    return [password, pair, f"Basic {pair}", base64.b64encode(password.encode()).decode()]


class Capture(logging.Handler):
    """Every record, formatted with its exception, at DEBUG."""

    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.lines: list[str] = []
        self.setFormatter(logging.Formatter("%(levelname)s %(name)s %(message)s"))

    def emit(self, record: logging.LogRecord) -> None:
        self.lines.append(self.format(record))
        self.lines.append(repr(record.__dict__))


@pytest.fixture
def everything(capfd: pytest.CaptureFixture[str]) -> Iterator[Callable[[], str]]:
    root = logging.getLogger()
    handler, level = Capture(), root.level
    # Powertools' handler writes JSON to the stdout of import time: format a copy of every record
    # of its logger with its own formatter too
    service = logging.getLogger("ecr-replicate")
    powertools = Capture()
    formatters = [h.formatter for h in service.handlers if h.formatter is not None]
    if formatters:
        powertools.setFormatter(formatters[0])
    service.addHandler(powertools)
    root.addHandler(handler)
    root.setLevel(logging.DEBUG)
    noted: list[str] = []

    def text() -> str:
        out, err = capfd.readouterr()
        noted.extend((out, err))
        return "\n".join([*handler.lines, *powertools.lines, *noted])

    yield text
    root.removeHandler(handler)
    root.setLevel(level)
    service.removeHandler(powertools)


def assert_clean(text: str, forms: list[str]) -> None:
    assert text.strip(), "nothing was captured: the check would prove nothing"
    for form in forms:
        assert form not in text, "a secret reached the logs/output"


def _copy(src: str, dst: str, credentials: Any, retry: RetryPolicy) -> Any:
    return copy_plain(src, dst, credentials=credentials, retry=retry, jobs=2)


class RecordingProxy(FaultProxy):
    """A proxy guarding with bearer tokens that remembers every token it issued."""

    issued: list[str]

    def issue_token(self) -> str:
        token = super().issue_token()
        self.issued = [*getattr(self, "issued", []), token]
        return token


def test_basic_and_bearer_copies_never_log_credentials(
    source_registry: LocalRegistry,
    target_registry: LocalRegistry,
    fast_retry: RetryPolicy,
    everything: Callable[[], str],
) -> None:
    password = "pw-" + secrets.token_hex(12)
    image = si.push_index(source_registry.host, "app", "v1", layer_size=5000, seed=71)
    with (
        FaultProxy(source_registry.host, auth="basic", user="reader", password=password) as src,
        RecordingProxy(target_registry.host, auth="bearer", user="writer", password=password) as proxy,
    ):
        dst = cast(RecordingProxy, proxy)
        creds = StaticCredentials({src.host: ("reader", password), dst.host: ("writer", password)})
        result = _copy(f"{src.host}/app:v1", f"{dst.host}/app:v1", creds, fast_retry)
        assert result.digest == image.digest
        dst.expire_tokens()  # forces a second challenge and token
        si.push_image(source_registry.host, "app", "v2", layer_size=5000, seed=72)
        _copy(f"{src.host}/app:v2", f"{dst.host}/app:v2", creds, fast_retry)
        assert len(dst.issued) >= 2 and src.stats.requests > 0  # basic: sent up front
        # refused credentials: the error says so, without them
        wrong = "wrong-" + secrets.token_hex(12)
        bad = StaticCredentials({src.host: ("reader", wrong), dst.host: ("writer", wrong)})
        with pytest.raises(AuthenticationError) as info:
            _copy(f"{src.host}/app:v1", f"{dst.host}/app:v3", bad, fast_retry)
        forms = [*secret_forms("reader", password), *secret_forms("writer", password)]
        forms += [*secret_forms("reader", wrong), *secret_forms("writer", wrong), *dst.issued]
        forms += [f"Bearer {token}" for token in dst.issued]
        assert_clean(everything() + str(info.value) + repr(info.value.to_dict()), forms)


class FakeEcr:
    """GetAuthorizationToken answers: a known token per call (rotatable), or a failure."""

    def __init__(self, token: str) -> None:
        self.token = token
        self.calls = 0
        self.fail: Exception | None = None

    def get_authorization_token(self) -> dict[str, Any]:
        self.calls += 1
        if self.fail is not None:
            raise self.fail
        encoded = base64.b64encode(f"AWS:{self.token}".encode()).decode()
        expires = datetime.datetime.now(datetime.UTC) + datetime.timedelta(hours=12)
        return {"authorizationData": [{"authorizationToken": encoded, "expiresAt": expires}]}


def test_ecr_token_flow_through_the_copy_handler_never_logs_the_token(
    source_registry: LocalRegistry,
    target_registry: LocalRegistry,
    monkeypatch: pytest.MonkeyPatch,
    everything: Callable[[], str],
) -> None:
    token = "ecr-" + secrets.token_urlsafe(24)
    image = si.push_index(source_registry.host, "team/app", "v1", layer_size=5000, seed=73)
    for name, value in {
        "AWS_REGION": "us-east-1",
        "AWS_DEFAULT_REGION": "us-east-1",
        "ACCOUNT_ID": ACCOUNT,
        "TARGET_REGIONS": "eu-west-1",
        "POWERTOOLS_TRACE_DISABLED": "1",
        "POWERTOOLS_LOG_LEVEL": "DEBUG",
        "POWERTOOLS_METRICS_NAMESPACE": "EcrReplicateTest",
    }.items():
        monkeypatch.setenv(name, value)
    copy_handler.logger.setLevel("DEBUG")
    fakes = {"us-east-1": FakeEcr(token), "eu-west-1": FakeEcr(token)}
    with (
        FaultProxy(source_registry.host, auth="basic", user="AWS", password=token) as src,
        FaultProxy(target_registry.host, auth="basic", user="AWS", password=token) as dst,
    ):
        # the proxies stand for the two regions' ECR registries (the local twin's REGISTRY_ENDPOINTS)
        endpoints = {"us-east-1": src.host, "eu-west-1": dst.host}
        monkeypatch.setenv("REGISTRY_ENDPOINTS", json.dumps(endpoints))
        monkeypatch.setenv("REGISTRY_PLAIN_HTTP", "true")
        provider = EcrCredentials(
            lambda region: fakes[region], endpoints=endpoints, plain_http_hosts=endpoints.values()
        )
        monkeypatch.setattr(copy_handler.credentials, "provider", provider)
        # the copy step recomputes both registries from the region: the proxies are the regions'
        monkeypatch.setenv("REGISTRY_ENDPOINTS", json.dumps({"us-east-1": src.host, "eu-west-1": dst.host}))
        item = {
            "region": "eu-west-1",
            "repository": "team/app",
            "tag": "v1",
            "digest": image.digest,
            "mediaType": image.media_type,
            "sizeBytes": 20_000,
            "sourceRegion": "us-east-1",
            "sourceRegistry": src.host,
            "targetRegistry": dst.host,
            "runtime": "lambda",
            "executionName": "secrets-check",
        }
        context = FakeContext(function_name="copy", aws_request_id="req-1")
        result = copy_handler.handler(item, context)
        assert result["status"] == "SUCCEEDED" and result["bytesCopied"] > 0
        # the token rotates on the registry side: 401 -> invalidate -> a new GetAuthorizationToken
        rotated = "ecr-" + secrets.token_urlsafe(24)
        src.password = dst.password = rotated
        fakes["us-east-1"].token = fakes["eu-west-1"].token = rotated
        second = si.push_image(source_registry.host, "team/app", "v2", layer_size=5000, seed=74)
        result = copy_handler.handler({**item, "tag": "v2", "digest": second.digest}, context)
        assert result["status"] == "SUCCEEDED"
        assert fakes["eu-west-1"].calls >= 2 and fakes["us-east-1"].calls >= 2
        # refused token, then GetAuthorizationToken failing with the token in its message
        fakes["eu-west-1"].token = "stale-" + secrets.token_urlsafe(24)
        src.password = dst.password = "nobody-knows"
        with pytest.raises(AuthenticationError) as refused:
            copy_handler.handler({**item, "tag": "v3"}, context)
        fakes["us-east-1"].fail = RuntimeError(f"boom {token} {rotated}")
        provider.invalidate(src.host)
        with pytest.raises(AuthenticationError) as failed:
            copy_handler.handler({**item, "tag": "v4"}, context)
    forms = [*secret_forms("AWS", token), *secret_forms("AWS", rotated)]
    forms += secret_forms("AWS", fakes["eu-west-1"].token)
    errors = f"{refused.value} {refused.value.to_dict()} {failed.value} {failed.value.to_dict()}"
    captured = everything()
    assert (
        '"message":"copied"' in captured and '"message":"copy failed"' in captured
    )  # Powertools' stdout was captured
    assert "retrying" in captured or "ecr_replicate" in captured  # and the library's DEBUG records
    assert_clean(captured + errors, forms)
