"""What the ECR registry fronts ask the local twin (``ecr_front.contracts``), answered by its parts:

* :class:`IamAuthorizer` (an ``Authorizer``): the IAM evaluator, with the principal's policies as
  IAM holds them now and ``aws:RequestedRegion`` = the front's region;
* :meth:`RegistryTokens.for_region <ecr_replicate_local.iam.tokens.RegistryTokens.for_region>`
  (a ``TokenValidator``): the tokens of the local ``ecr:GetAuthorizationToken``;
* :class:`EcrCatalog` (a ``RepositoryCatalog``): the repositories of moto's ECR, with their tag
  mutability, so a repository exists for the front exactly when the control plane created it.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from ecr_replicate_local.ecr_front.contracts import Decision, RepositoryInfo, TagMutability
from ecr_replicate_local.iam.enforcement import Enforcer
from ecr_replicate_local.iam.identities import Identities


class IamAuthorizer:
    """Registry calls decided by IAM, for the principal a token was issued to."""

    def __init__(self, identities: Identities, enforcer: Enforcer) -> None:
        self.identities = identities
        self.enforcer = enforcer

    def authorize(self, principal: str, action: str, resource_arn: str, region: str) -> Decision:
        caller = self.identities.caller_for_principal(principal)
        if caller is None:
            return Decision.deny(f"no identity-based policy allows the {action} action")
        decision = self.enforcer.authorize(caller, action, resource_arn, region)
        if decision.allowed:
            return Decision.allow()
        reason = decision.reason.removeprefix("because ")
        if decision.unsupported:
            reason += f" (the local twin does not evaluate: {', '.join(decision.unsupported)})"
        return Decision.deny(reason)


class EcrCatalog:
    """The repositories of the local ECR (moto's backends, read in this process)."""

    def __init__(self, account: str) -> None:
        self.account = account

    def _backend(self, region: str) -> Any:
        from moto.ecr.models import ecr_backends  # noqa: PLC0415 - moto loads with the twin only

        return ecr_backends[self.account][region]

    def describe(self, region: str, repository: str) -> RepositoryInfo | None:
        found = self._backend(region).repositories.get(repository)
        if found is None:
            return None
        value = getattr(found.image_tag_mutability, "value", found.image_tag_mutability)  # moto's enum
        try:
            mutability = TagMutability(str(value))
        except ValueError:
            mutability = TagMutability.IMMUTABLE  # a value the twin does not know: the strict one
        filters = tuple(
            str(item.get("filter", ""))
            for item in found.image_tag_mutability_exclusion_filters or []
            if isinstance(item, dict)
        )
        return RepositoryInfo(found.name, mutability, filters)

    def names(self, region: str) -> Sequence[str]:
        return sorted(self._backend(region).repositories)
