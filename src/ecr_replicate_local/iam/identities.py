"""Who calls: credentials the local twin issues, and the principal behind an access key.

Every caller of the local AWS has real-looking credentials, issued through moto's own IAM and
STS backends (so ``sts:GetCallerIdentity`` answers the right ARN):

* a **service** (Lambda, Step Functions, CodeBuild, EventBridge) assumes a role of the stack
  for its work -- only if the role's trust policy names that service
  (:meth:`Identities.for_service`); the principal is
  ``arn:aws:sts::ACCOUNT:assumed-role/ROLE/SESSION``, with a session token and an expiry;
* the **operator** (a person at the terminal, the tests' direct calls, the twin's own
  bookkeeping) is the IAM user ``local-operator`` with an allow-all inline policy
  (:meth:`Identities.operator`).

:meth:`Identities.caller` maps an access key id back to its principal and :meth:`policies`
returns the principal's identity-based policies as IAM holds them *now* (inline and managed),
so a change made through the IAM API takes effect on the next request, as on AWS.
"""

from __future__ import annotations

import datetime
import json
import threading
from collections.abc import Mapping
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

from ecr_replicate.errors import ConfigurationError
from ecr_replicate_local.iam.policy import Policy
from ecr_replicate_local.iam.roles import ManagedPolicySpec, RoleSpec, trusts_service

OPERATOR_USER = "local-operator"
_ALLOW_ALL = {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "*", "Resource": "*"}]}
SESSION_SECONDS = 12 * 3600


@dataclass(frozen=True)
class Credentials:
    """What a caller signs with (as boto3's environment variables or client arguments)."""

    principal: str
    access_key_id: str
    secret_access_key: str
    session_token: str | None = None
    expiration: datetime.datetime | None = None

    def environment(self) -> dict[str, str]:
        env = {"AWS_ACCESS_KEY_ID": self.access_key_id, "AWS_SECRET_ACCESS_KEY": self.secret_access_key}
        if self.session_token:
            env["AWS_SESSION_TOKEN"] = self.session_token
        return env

    def client_kwargs(self) -> dict[str, str | None]:
        return {
            "aws_access_key_id": self.access_key_id,
            "aws_secret_access_key": self.secret_access_key,
            "aws_session_token": self.session_token,
        }


@dataclass(frozen=True)
class Caller:
    """The principal behind an access key id, with what verifying its requests needs."""

    principal: str  # assumed-role session ARN or user ARN
    account: str
    kind: str  # "AssumedRole" | "User"
    name: str  # role name or user name (whose policies apply)
    secret_access_key: str
    session_token: str | None
    expiration: datetime.datetime | None

    @property
    def role_arn(self) -> str:
        return f"arn:aws:iam::{self.account}:role/{self.name}" if self.kind == "AssumedRole" else ""

    def expired(self) -> bool:
        if self.expiration is None:
            return False
        now = datetime.datetime.now(datetime.UTC).replace(tzinfo=None)
        return now >= self.expiration.replace(tzinfo=None)


@lru_cache(maxsize=512)
def _parsed(name: str, document: str) -> Policy:
    return Policy.parse(name, document)


class Identities:
    """The local account's identities, backed by moto's IAM and STS backends (in this process)."""

    def __init__(self, account: str) -> None:
        self.account = account
        self._lock = threading.Lock()
        self._operator: Credentials | None = None

    @property
    def _iam(self) -> Any:
        from moto.iam.models import iam_backends  # noqa: PLC0415 - moto loads with the twin only

        return iam_backends[self.account]["aws"]

    @property
    def _sts(self) -> Any:
        from moto.sts.models import sts_backends  # noqa: PLC0415

        return sts_backends[self.account]["aws"]

    # --- issuing ------------------------------------------------------------------------------

    def create_managed_policy(self, policy: ManagedPolicySpec) -> None:
        """Create a template's customer managed policy in IAM (roles attach it by ARN)."""
        self._iam.create_policy(
            description=f"local twin of the stack's {policy.logical_id}",
            path=policy.path,
            policy_document=json.dumps(_versioned(policy.document)),
            policy_name=policy.name,
            tags=[],
        )

    def create_role(self, role: RoleSpec) -> None:
        """Create a template role in IAM (trust policy, inline and managed policies)."""
        iam = self._iam
        iam.create_role(
            role_name=role.name,
            assume_role_policy_document=json.dumps(role.trust),
            path=role.path,
            permissions_boundary=None,
            description=f"local twin of the stack's {role.logical_id}",
            tags=[],
            max_session_duration="43200",
            linked_service=None,
        )
        for name, document in role.inline.items():
            # SAM writes its generated policies without a Version (IAM then reads them as
            # 2008-10-17); moto's IAM insists on one. Same statements, same decisions here.
            iam.put_role_policy(role.name, name, json.dumps(_versioned(document)))
        for arn in role.managed:
            iam.attach_role_policy(arn, role.name)

    def for_service(
        self, role_arn: str, service: str, session_name: str, *, source_arn: str = ""
    ) -> Credentials:
        """Credentials of ``role_arn`` as ``service`` assumes it; ConfigurationError if its trust
        policy does not let that service assume it (AWS refuses to create or run it then)."""
        try:
            role = self._iam.get_role_by_arn(role_arn)
        except Exception:
            raise ConfigurationError(f"role {role_arn} does not exist") from None
        trust = json.loads(role.assume_role_policy_document)
        if not trusts_service(trust, service, account=self.account, source_arn=source_arn):
            raise ConfigurationError(
                f"{service} cannot assume {role_arn}: its trust policy does not allow it"
            )
        assumed = self._sts.assume_role(
            region_name="us-east-1",
            role_session_name=session_name[:64],
            role_arn=role_arn,
            policy="",
            duration=SESSION_SECONDS,
            external_id="",
        )
        return Credentials(
            principal=assumed.arn,
            access_key_id=assumed.access_key_id,
            secret_access_key=assumed.secret_access_key,
            session_token=assumed.session_token,
            expiration=assumed.expiration,
        )

    def operator(self) -> Credentials:
        """The operator's long-term credentials (an IAM user allowed everything)."""
        with self._lock:
            if self._operator is None:
                iam = self._iam
                user = iam.create_user(region_name="us-east-1", user_name=OPERATOR_USER, path="/", tags=[])
                iam.put_user_policy(OPERATOR_USER, "operator", json.dumps(_ALLOW_ALL))
                key = iam.create_access_key(OPERATOR_USER)
                self._operator = Credentials(user.arn, key.access_key_id, key.secret_access_key)
            return self._operator

    # --- looking up -----------------------------------------------------------------------------

    def caller(self, access_key_id: str) -> Caller | None:
        """The principal an access key id belongs to; None if the twin never issued it."""
        assumed = self._sts.get_assumed_role_from_access_key(access_key_id)
        if assumed is not None:
            return Caller(
                principal=assumed.arn,
                account=self.account,
                kind="AssumedRole",
                name=assumed.role_arn.rsplit("/", 1)[-1],
                secret_access_key=assumed.secret_access_key,
                session_token=assumed.session_token,
                expiration=assumed.expiration,
            )
        user = self._iam.get_user_from_access_key_id(access_key_id)
        if user is None:
            return None
        key = next(k for k in user.access_keys if k.access_key_id == access_key_id)
        if key.status != "Active":
            return None
        return Caller(user.arn, self.account, "User", user.name, key.secret_access_key, None, None)

    def caller_for_principal(self, principal: str) -> Caller | None:
        """The caller a principal ARN names (an assumed-role session or a user), without its
        secrets: what a registry token stands for."""
        parts = principal.split(":", 5)
        if len(parts) != 6 or parts[4] != self.account:
            return None
        kind, _, rest = parts[5].partition("/")
        if parts[2] == "sts" and kind == "assumed-role" and "/" in rest:
            return Caller(principal, self.account, "AssumedRole", rest.split("/", 1)[0], "", None, None)
        if parts[2] == "iam" and kind == "user" and rest:
            return Caller(principal, self.account, "User", rest.rsplit("/", 1)[-1], "", None, None)
        return None

    def policies(self, caller: Caller) -> list[Policy]:
        """The caller's identity-based policies as IAM holds them now."""
        iam = self._iam
        try:
            holder = iam.get_role(caller.name) if caller.kind == "AssumedRole" else iam.get_user(caller.name)
        except Exception:
            return []  # the role or user was deleted: nothing allows anything
        documents: dict[str, str] = dict(holder.policies)
        for arn, managed in holder.managed_policies.items():
            version = next(v for v in managed.versions if v.is_default)
            documents[arn] = version.document
        return [_parsed(name, _text(document)) for name, document in sorted(documents.items())]


def _versioned(document: Mapping[str, Any]) -> dict[str, Any]:
    return {"Version": "2012-10-17", **document}


def _text(document: str | Mapping[str, Any]) -> str:
    return document if isinstance(document, str) else json.dumps(document, sort_keys=True)
