"""Credentials a registry echoes back never reach an error message, in whatever encoding."""

from __future__ import annotations

import base64

import pytest

from ecr_replicate.oci.answers import error_from_response, redact, scrub
from ecr_replicate.oci.auth import Authenticator, StaticCredentials

PASSWORD = "p@ss word/with=signs"
PAIR = f"me:{PASSWORD}"
B64 = base64.b64encode(PAIR.encode()).decode()


@pytest.mark.parametrize(
    "echo",
    [
        f"bad password {PASSWORD}",
        "authorization=Basic%20" + B64.replace("=", "%3D"),
        f"Basic:{B64}",
        f"creds {B64.rstrip('=')}",
        "pw=p%40ss+word%2Fwith%3Dsigns",
        "pw=p%40ss%20word%2Fwith%3Dsigns",
        f"cut off at the limit: {B64[:20]}",  # a secret's beginning that ends the text
    ],
)
def test_every_form_of_a_secret_is_redacted(echo: str) -> None:
    text = redact(echo, {PASSWORD, PAIR})
    assert PASSWORD not in text and B64[:12] not in text and "p%40ss" not in text, text
    assert "<redacted>" in text


def test_a_secret_past_the_message_limit_leaves_no_prefix() -> None:
    echo = "x" * 295 + PASSWORD  # the 300-character cut would keep the password's start
    assert PASSWORD[:5] not in scrub(echo, {PASSWORD})


def test_the_authenticator_remembers_what_it_sent_and_errors_drop_it() -> None:
    auth = Authenticator(StaticCredentials({"reg.example": ("me", PASSWORD)}))
    assert auth.header("reg.example", "https", "repository:app:pull") == f"Basic {B64}"
    body = f'{{"errors": [{{"code": "DENIED", "message": "echo {PASSWORD} {B64}"}}]}}'.encode()
    secrets = auth.secrets("reg.example")
    error = error_from_response(400, body, host="reg.example", what="read", secrets=secrets)
    assert PASSWORD not in str(error) and B64[:12] not in str(error)
    assert auth.secrets("other.example") == frozenset()


def test_short_values_are_not_searched_for() -> None:
    assert redact("a b c", {"b"}) == "a b c"
