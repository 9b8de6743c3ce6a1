"""The local ECR registry front: ``<account>.dkr.ecr.<region>.amazonaws.com`` over one docker-registry.

See ``docs/ecr-front.md`` for the ECR behaviours it reproduces and where each is documented.
``contracts`` holds what it is given (authorizer, token validator, repository catalog);
``front.EcrFront`` is the server.
"""

from ecr_replicate_local.ecr_front.contracts import (
    Authorizer,
    Decision,
    RepositoryCatalog,
    RepositoryInfo,
    TagMutability,
    TokenValidator,
)
from ecr_replicate_local.ecr_front.front import EcrFront
from ecr_replicate_local.ecr_front.journal import Journal, JournalEntry
from ecr_replicate_local.ecr_front.routes import ALL_ACTIONS
from ecr_replicate_local.ecr_front.throttle import ECR_RATE_QUOTAS, Throttle

__all__ = [
    "ALL_ACTIONS",
    "ECR_RATE_QUOTAS",
    "Authorizer",
    "Decision",
    "EcrFront",
    "Journal",
    "JournalEntry",
    "RepositoryCatalog",
    "RepositoryInfo",
    "TagMutability",
    "Throttle",
    "TokenValidator",
]
