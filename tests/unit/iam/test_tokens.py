"""The local GetAuthorizationToken's tokens: bound to the caller and the region, expiring."""

from __future__ import annotations

import base64

from ecr_replicate_local.iam.tokens import RegistryTokens

ROLE = "arn:aws:sts::123456789012:assumed-role/copy/copy"


def password(authorization_token: str) -> str:
    user, _, secret = base64.b64decode(authorization_token).decode().partition(":")
    assert user == "AWS"
    return secret


def test_a_token_belongs_to_its_caller_in_its_region_until_it_expires():
    now = [1000.0]
    tokens = RegistryTokens(lifetime=60, clock=lambda: now[0])
    issued, expires_at = tokens.issue(ROLE, "eu-west-1")
    secret = password(issued)
    assert expires_at == 1060
    eu, us = tokens.for_region("eu-west-1"), tokens.for_region("us-east-1")
    assert eu.principal_for(secret) == ROLE
    assert us.principal_for(secret) is None and not us.is_expired(secret)  # another region's token
    assert eu.principal_for("made-up") is None and not eu.is_expired("made-up")
    now[0] = 1060
    assert eu.principal_for(secret) is None and eu.is_expired(secret)


def test_a_token_ends_with_the_session_that_asked_for_it():
    tokens = RegistryTokens(lifetime=3600, clock=lambda: 0.0)
    issued, expires_at = tokens.issue(ROLE, "eu-west-1", not_after=120.0)
    assert expires_at == 120.0
    assert tokens.for_region("eu-west-1").principal_for(password(issued)) == ROLE
    first, _ = tokens.issue(ROLE, "eu-west-1")
    assert password(first) != password(issued)  # every call a new token
