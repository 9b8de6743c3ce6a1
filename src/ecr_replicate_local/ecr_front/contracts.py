"""What the ECR registry front is given: the three services it asks on every request.

The front (``ecr_replicate_local.ecr_front``) plays ``<account>.dkr.ecr.<region>.amazonaws.com``
in front of one local ``docker-registry``. It does not decide who may do what, which tokens are
live, or which repositories exist: the local twin's IAM evaluator, its GetAuthorizationToken and
its ECR control plane (moto) do. These Protocols are the seam; the local twin implements them
(``ecr_replicate_local/iam/``), the front's tests use small fakes.

Every method is called from the front's request threads, concurrently: implementations must be
thread-safe and quick (they run once per registry request).
"""

from __future__ import annotations

import enum
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from functools import cached_property
from typing import Protocol


@dataclass(frozen=True)
class Decision:
    """The answer of :meth:`Authorizer.authorize`.

    ``reason`` says why a request is denied, worded as the end of AWS's AccessDenied sentence
    after "because", e.g. ``"no identity-based policy allows the ecr:PutImage action"`` or
    ``"with an explicit deny in an identity-based policy"``. The front builds the full message
    ("User: <principal> is not authorized to perform: <action> on resource: <arn> because
    <reason>"). Empty for an allowed request.
    """

    allowed: bool
    reason: str = ""

    @classmethod
    def allow(cls) -> Decision:
        return cls(True)

    @classmethod
    def deny(cls, reason: str) -> Decision:
        return cls(False, reason)


class Authorizer(Protocol):
    """Decides whether ``principal`` may perform ``action`` on ``resource_arn`` in ``region``."""

    def authorize(self, principal: str, action: str, resource_arn: str, region: str) -> Decision:
        """``principal``: a role ARN (as :meth:`TokenValidator.principal_for` returned it);
        ``action``: an IAM action such as ``"ecr:PutImage"``; ``resource_arn``:
        ``arn:aws:ecr:<region>:<account>:repository/<name>``; ``region``: the front's region
        (the value of ``aws:RequestedRegion``)."""
        ...


class TokenValidator(Protocol):
    """The registry tokens issued by the local ``ecr:GetAuthorizationToken``.

    The token is the password of Basic ``AWS:<token>`` (what ``aws ecr get-login-password``
    prints), already base64-decoded and split by the front.
    """

    def principal_for(self, token: str) -> str | None:
        """The role ARN the token was issued to, while it is live; None for an unknown or
        expired token (and for a token issued for another region, as ECR's tokens are per
        region)."""
        ...

    def is_expired(self, token: str) -> bool:
        """True when ``token`` was issued by this validator and has expired.

        ECR answers an expired token with 403 ``DENIED`` "Your authorization token has
        expired...", not 401 (clients re-authenticate on that message), so the front needs to
        tell an expired token from a wrong one. Never True for a token it did not issue.
        """
        ...


class TagMutability(enum.StrEnum):
    """ECR's ``imageTagMutability`` values (CreateRepository / PutImageTagMutability)."""

    MUTABLE = "MUTABLE"
    IMMUTABLE = "IMMUTABLE"
    IMMUTABLE_WITH_EXCLUSION = "IMMUTABLE_WITH_EXCLUSION"
    MUTABLE_WITH_EXCLUSION = "MUTABLE_WITH_EXCLUSION"


#: ECR's pattern for an exclusion filter value (``ImageTagMutabilityExclusionFilter.filter``).
EXCLUSION_FILTER_PATTERN = re.compile(r"[0-9a-zA-Z._*-]{1,128}")


@dataclass(frozen=True)
class RepositoryInfo:
    """What the front needs to know about an existing repository.

    ``exclusion_filters`` are ECR's WILDCARD filters (``*`` matches any run of characters,
    nothing else is special): with ``IMMUTABLE_WITH_EXCLUSION`` the tags they match stay
    mutable; with ``MUTABLE_WITH_EXCLUSION`` the tags they match are immutable.
    """

    name: str
    mutability: TagMutability = TagMutability.MUTABLE
    exclusion_filters: Sequence[str] = field(default_factory=tuple)

    def __post_init__(self) -> None:
        for value in self.exclusion_filters:
            if not EXCLUSION_FILTER_PATTERN.fullmatch(value):
                raise ValueError(f"invalid tag mutability exclusion filter {value!r}")

    @cached_property
    def _excluded(self) -> re.Pattern[str] | None:
        if not self.exclusion_filters:
            return None
        parts = ("".join(".*" if c == "*" else re.escape(c) for c in f) for f in self.exclusion_filters)
        return re.compile("|".join(f"(?:{p})" for p in parts))

    def tag_is_immutable(self, tag: str) -> bool:
        """Whether pushing a manifest to an existing ``tag`` is refused (TAG_INVALID)."""
        matched = self._excluded is not None and self._excluded.fullmatch(tag) is not None
        if self.mutability is TagMutability.IMMUTABLE:
            return True
        if self.mutability is TagMutability.IMMUTABLE_WITH_EXCLUSION:
            return not matched
        if self.mutability is TagMutability.MUTABLE_WITH_EXCLUSION:
            return matched
        return False


class RepositoryCatalog(Protocol):
    """The local ECR control plane's repositories (created with ``ecr:CreateRepository``)."""

    def describe(self, region: str, repository: str) -> RepositoryInfo | None:
        """The repository ``repository`` in ``region``; None when it does not exist there."""
        ...

    def names(self, region: str) -> Sequence[str]:
        """Every repository name in ``region`` (for ``GET /v2/_catalog``)."""
        ...
