"""An ECR front for the benchmarks: one repository, one token, every call allowed.

The benchmarks measure the front's data path (TLS, streaming, the layer host), not IAM: its
``authorize``, ``tokens`` and ``repositories`` collaborators answer from constants here.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from ecr_replicate_local.ecr_front import Decision, EcrFront, RepositoryInfo
from ecr_replicate_local.tls import ServerCertificate

ACCOUNT = "123456789012"
ROLE = f"arn:aws:iam::{ACCOUNT}:role/bench"


class AllowAll:
    def authorize(self, principal: str, action: str, resource_arn: str, region: str) -> Decision:
        return Decision.allow()


class OneToken:
    def __init__(self, token: str) -> None:
        self.token = token

    def principal_for(self, token: str) -> str | None:
        return ROLE if token == self.token else None

    def is_expired(self, token: str) -> bool:
        return False


class OneRepository:
    def __init__(self, repository: str) -> None:
        self.repository = repository

    def describe(self, region: str, repository: str) -> RepositoryInfo | None:
        return RepositoryInfo(repository) if repository == self.repository else None

    def names(self, region: str) -> Sequence[str]:
        return [self.repository]


def bench_front(
    *,
    upstream: str,
    region: str,
    certificate: ServerCertificate,
    repository: str,
    token: str,
    storage: Path | None,
) -> EcrFront:
    """A front (not started) for ``upstream`` that serves ``repository`` to ``token``."""
    return EcrFront(
        upstream=upstream,
        region=region,
        account=ACCOUNT,
        certificate=certificate,
        authorizer=AllowAll(),
        tokens=OneToken(token),
        repositories=OneRepository(repository),
        storage=storage,
    )
