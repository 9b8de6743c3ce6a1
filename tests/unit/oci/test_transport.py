from __future__ import annotations

import email.utils
import json
import random

import pytest

from ecr_replicate.errors import (
    AuthenticationError,
    BlobIntegrityError,
    ImageNotFoundError,
    ManifestRejectedError,
    RegistryError,
    RegistryThrottledError,
    RegistryUnavailableError,
    RepositoryNotFoundError,
    TagImmutableError,
)
from ecr_replicate.oci.answers import error_from_response, parse_retry_after, scrub
from ecr_replicate.oci.transport import RetryPolicy


def body(code: str, message: str = "msg") -> bytes:
    return json.dumps({"errors": [{"code": code, "message": message}]}).encode()


def test_retry_after_seconds_and_date() -> None:
    assert parse_retry_after("7") == 7.0
    assert parse_retry_after(None) is None
    assert parse_retry_after("soon") is None
    assert parse_retry_after("\u00b2") is None  # a superscript two is a digit to str.isdigit, not to us
    assert parse_retry_after("\u0663") is None  # an Arabic-Indic three
    assert parse_retry_after("9" * 400) is None
    assert parse_retry_after("Mon, 99 Foo 9999 99:99:99") is None
    now = 1_700_000_000.0
    date = email.utils.formatdate(now + 30, usegmt=True)
    assert parse_retry_after(date, now=now) == pytest.approx(30, abs=1)
    past = email.utils.formatdate(now - 30, usegmt=True)
    assert parse_retry_after(past, now=now) == 0.0


def test_backoff_is_bounded_full_jitter() -> None:
    policy = RetryPolicy(
        attempts=6, base_delay=0.5, max_delay=4.0, max_retry_after=10.0, rng=random.Random(1)
    )
    delays = [policy.delay(attempt) for attempt in range(1, 20) for _ in range(20)]
    assert all(0.0 <= d <= 4.0 for d in delays)
    assert max(policy.delay(1) for _ in range(200)) <= 0.5
    assert policy.delay(3, retry_after=3600) == 10.0  # Retry-After capped
    assert policy.delay(3, retry_after=2) == 2.0


@pytest.mark.parametrize(
    ("status", "code", "message", "cls", "retryable"),
    [
        (404, "MANIFEST_UNKNOWN", "", ImageNotFoundError, False),
        (404, "BLOB_UNKNOWN", "", ImageNotFoundError, False),
        (404, "NAME_UNKNOWN", "repo x does not exist", RepositoryNotFoundError, False),
        (
            400,
            "TAG_INVALID",
            "cannot be overwritten because the repository is immutable",
            TagImmutableError,
            False,
        ),
        (400, "MANIFEST_INVALID", "", ManifestRejectedError, False),
        (400, "MANIFEST_BLOB_UNKNOWN", "", ManifestRejectedError, False),
        (405, "UNSUPPORTED", "", ManifestRejectedError, False),
        (400, "DIGEST_INVALID", "", BlobIntegrityError, False),
        (401, "UNAUTHORIZED", "", AuthenticationError, False),
        (403, "DENIED", "", AuthenticationError, False),
        (429, "TOOMANYREQUESTS", "Rate exceeded", RegistryThrottledError, True),
        (503, "", "", RegistryUnavailableError, True),
        (500, "", "", RegistryUnavailableError, True),
        (408, "", "", RegistryUnavailableError, True),
        (418, "", "", RegistryError, False),
    ],
)
def test_error_mapping(status: int, code: str, message: str, cls: type, retryable: bool) -> None:
    err = error_from_response(status, body(code, message) if code else b"oops", host="h:1", what="GET x")
    assert type(err) is cls
    assert err.retryable is retryable
    if isinstance(err, RegistryError):
        assert err.status == status
        assert err.code == code
        assert err.host == "h:1"


def test_error_messages_scrub_secrets_and_truncate() -> None:
    long = "Authorization: Bearer abc.def.ghi " + "x" * 2000
    err = error_from_response(500, long.encode(), host="h", what="GET /v2/")
    text = str(err)
    assert "abc.def.ghi" not in text
    assert len(text) < 400
    assert "Basic <redacted>" in scrub("header Basic QVdTOnNlY3JldA==")
