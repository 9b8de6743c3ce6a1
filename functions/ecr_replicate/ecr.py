"""ECR control plane: clients per region, repository settings, ensure-repository, error mapping.

boto3 clients are injected (``ClientFactory``: region -> client); :func:`client_factory` builds
real ones and lets boto3 itself honour ``AWS_ENDPOINT_URL`` (local runs point it at moto).

:func:`ensure_repository` is idempotent: it creates the target repository when missing and, when
given the source's :class:`RepositorySettings`, mirrors them without ever weakening what the
target already has (a stricter target setting is kept and reported as a warning).
"""

from __future__ import annotations

import contextlib
import functools
import json
import logging
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError, ConnectionError, HTTPClientError

from ecr_replicate.errors import AwsPermanentError, AwsThrottledError, AwsTransientError, ReplicationError
from ecr_replicate.model import EnsureResult

logger = logging.getLogger(__name__)

ClientFactory = Callable[[str], Any]

THROTTLING_CODES = frozenset(
    {
        "ThrottlingException",
        "Throttling",
        "ThrottledException",
        "TooManyRequestsException",
        "RequestLimitExceeded",
        "RequestThrottled",
        "RequestThrottledException",
        "SlowDown",
    }
)
TRANSIENT_CODES = frozenset(
    {"ServerException", "InternalServerError", "InternalFailure", "ServiceUnavailable", "RequestTimeout"}
)
# Strength of a tag-mutability setting: never replace a stronger target setting by a weaker one.
MUTABILITY_STRENGTH = {
    "MUTABLE": 0,
    "MUTABLE_WITH_EXCLUSION": 1,
    "IMMUTABLE_WITH_EXCLUSION": 2,
    "IMMUTABLE": 3,
}
AWS_MANAGED_ECR_KEY = "alias/aws/ecr"


# --- clients and errors --------------------------------------------------------------------------


@functools.lru_cache(maxsize=64)
def _client(service: str, region: str) -> Any:
    import boto3  # noqa: PLC0415 - only the AWS side needs it
    from botocore.config import Config  # noqa: PLC0415

    make: Callable[..., Any] = boto3.client
    return make(service, region_name=region, config=Config(retries={"mode": "standard", "max_attempts": 3}))


def client_factory(service: str) -> ClientFactory:
    """region -> a cached boto3 client of ``service`` (standard retry mode, 3 attempts)."""
    return functools.partial(_client, service)


def map_aws_error(exc: Exception, operation: str) -> ReplicationError:
    """A typed error for a botocore failure: throttled, transient, or permanent."""
    if isinstance(exc, ClientError):
        error = exc.response.get("Error", {})
        code = str(error.get("Code", "Unknown"))
        message = str(error.get("Message", ""))[:300]
        status = int(exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode", 0) or 0)
        text = f"{operation}: {code}: {message}".rstrip(": ")
        if code in THROTTLING_CODES or status == 429:
            return AwsThrottledError(text)
        if code in TRANSIENT_CODES or status >= 500:
            return AwsTransientError(text)
        # LimitExceededException is a quota (e.g. repositories per region): waiting will not help.
        return AwsPermanentError(text)
    if isinstance(exc, ConnectionError | HTTPClientError):
        return AwsTransientError(f"{operation}: {type(exc).__name__}: {exc}"[:400])
    if isinstance(exc, BotoCoreError):
        return AwsPermanentError(f"{operation}: {type(exc).__name__}: {exc}"[:400])
    raise exc


@contextlib.contextmanager
def aws_call(operation: str) -> Iterator[None]:
    """Run AWS calls, turning botocore errors into AwsThrottledError/AwsTransientError/AwsPermanentError."""
    try:
        yield
    except (ClientError, BotoCoreError) as exc:
        raise map_aws_error(exc, operation) from None


def _code(exc: ClientError) -> str:
    return str(exc.response.get("Error", {}).get("Code", ""))


# --- repository settings -------------------------------------------------------------------------


@dataclass(frozen=True)
class RepositorySettings:
    """What ``MirrorRepositorySettings`` copies from the source repository."""

    tag_mutability: str = "MUTABLE"
    mutability_exclusions: tuple[dict[str, str], ...] = ()
    scan_on_push: bool = False
    encryption_type: str = "AES256"
    kms_aliases: tuple[str, ...] = ()  # the source key's aliases (empty: AWS-managed or unknown)
    lifecycle_policy: str | None = None
    repository_policy: str | None = None
    tags: dict[str, str] = field(default_factory=dict)


def _optional_text(call: Callable[[], dict[str, Any]], key: str, operation: str) -> str | None:
    """A policy text, or None when the repository has none."""
    with aws_call(operation):
        try:
            return str(call()[key])
        except ClientError as exc:
            if _code(exc) in ("LifecyclePolicyNotFoundException", "RepositoryPolicyNotFoundException"):
                return None
            raise


def _describe(client: Any, name: str, operation: str) -> dict[str, Any] | None:
    with aws_call(operation):
        try:
            repositories = client.describe_repositories(repositoryNames=[name])["repositories"]
        except ClientError as exc:
            if _code(exc) == "RepositoryNotFoundException":
                return None
            raise
    return dict(repositories[0]) if repositories else None


def _tags(client: Any, arn: str) -> dict[str, str]:
    with aws_call("ecr:ListTagsForResource"):
        tags = client.list_tags_for_resource(resourceArn=arn).get("tags", [])
    return {str(tag["Key"]): str(tag["Value"]) for tag in tags}


def read_repository_settings(ecr_client: Any, name: str, kms_client: Any | None = None) -> RepositorySettings:
    """Read the source repository's mirrorable settings."""
    repository = _describe(ecr_client, name, "ecr:DescribeRepositories (source)")
    if repository is None:
        raise AwsPermanentError(f"source repository {name!r} does not exist")
    encryption = repository.get("encryptionConfiguration") or {}
    encryption_type = str(encryption.get("encryptionType", "AES256"))
    aliases: tuple[str, ...] = ()
    key = encryption.get("kmsKey")
    if encryption_type != "AES256" and key and kms_client is not None:
        with aws_call("kms:ListAliases (source)"):
            listed = kms_client.list_aliases(KeyId=key).get("Aliases", [])
        aliases = tuple(str(alias["AliasName"]) for alias in listed)
    return RepositorySettings(
        tag_mutability=str(repository.get("imageTagMutability", "MUTABLE")),
        mutability_exclusions=tuple(repository.get("imageTagMutabilityExclusionFilters", []) or []),
        scan_on_push=bool((repository.get("imageScanningConfiguration") or {}).get("scanOnPush", False)),
        encryption_type=encryption_type,
        kms_aliases=aliases,
        lifecycle_policy=_optional_text(
            lambda: ecr_client.get_lifecycle_policy(repositoryName=name),
            "lifecyclePolicyText",
            "ecr:GetLifecyclePolicy (source)",
        ),
        repository_policy=_optional_text(
            lambda: ecr_client.get_repository_policy(repositoryName=name),
            "policyText",
            "ecr:GetRepositoryPolicy (source)",
        ),
        tags=_tags(ecr_client, str(repository["repositoryArn"])),
    )


# --- ensure repository ---------------------------------------------------------------------------


def _target_encryption(
    source: RepositorySettings, kms_client: Any | None, region: str, warnings: list[str]
) -> dict[str, str]:
    """Encryption for a new target repository: the same KMS alias if the target has it, else AES256."""
    if source.encryption_type == "AES256":
        return {"encryptionType": "AES256"}
    customer_aliases = [alias for alias in source.kms_aliases if not alias.startswith("alias/aws/")]
    if not customer_aliases:
        # The AWS-managed key (alias/aws/ecr) exists in every region.
        return {"encryptionType": source.encryption_type}
    if kms_client is not None:
        for alias in customer_aliases:
            with aws_call(f"kms:DescribeKey (target {region})"):
                try:
                    key = kms_client.describe_key(KeyId=alias)["KeyMetadata"]
                except ClientError as exc:
                    if _code(exc) == "NotFoundException":
                        continue
                    raise
            return {"encryptionType": source.encryption_type, "kmsKey": str(key["Arn"])}
    warnings.append(
        f"source is encrypted with KMS key {', '.join(customer_aliases)}, which does not exist in "
        f"{region}: the new repository uses AES256 encryption"
    )
    return {"encryptionType": "AES256"}


def _normalised_json(text: str | None) -> Any:
    if text is None:
        return None
    try:
        return json.loads(text)
    except ValueError:
        return text


def _mirror_existing(
    client: Any,
    name: str,
    target: dict[str, Any],
    source: RepositorySettings,
    result: EnsureResult,
) -> None:
    current = str(target.get("imageTagMutability", "MUTABLE"))
    if MUTABILITY_STRENGTH.get(source.tag_mutability, 0) > MUTABILITY_STRENGTH.get(current, 0):
        args: dict[str, Any] = {"repositoryName": name, "imageTagMutability": source.tag_mutability}
        if source.mutability_exclusions:
            args["imageTagMutabilityExclusionFilters"] = list(source.mutability_exclusions)
        with aws_call("ecr:PutImageTagMutability"):
            client.put_image_tag_mutability(**args)
        result.changes.append(f"tag mutability {current} -> {source.tag_mutability}")
    elif source.tag_mutability != current:
        result.warnings.append(
            f"target tag mutability {current} kept (source is {source.tag_mutability}; not weakened)"
        )
    scan = bool((target.get("imageScanningConfiguration") or {}).get("scanOnPush", False))
    if source.scan_on_push and not scan:
        with aws_call("ecr:PutImageScanningConfiguration"):
            client.put_image_scanning_configuration(
                repositoryName=name, imageScanningConfiguration={"scanOnPush": True}
            )
        result.changes.append("scan on push enabled")
    elif scan and not source.scan_on_push:
        result.warnings.append("target scan on push kept enabled (source has it off; not weakened)")
    encryption = str((target.get("encryptionConfiguration") or {}).get("encryptionType", "AES256"))
    if encryption != source.encryption_type:
        result.warnings.append(
            f"target encryption is {encryption}, source is {source.encryption_type}: "
            "encryption is fixed at creation and was left as is"
        )
    _mirror_policies_and_tags(client, name, target, source, result, created=False)


def _mirror_policies_and_tags(
    client: Any,
    name: str,
    target: dict[str, Any],
    source: RepositorySettings,
    result: EnsureResult,
    *,
    created: bool,
) -> None:
    policies = (
        # (what, the source's text, the text's key, read / write the target's, their API names)
        ("lifecycle policy", source.lifecycle_policy, "lifecyclePolicyText",
         client.get_lifecycle_policy, client.put_lifecycle_policy,
         "GetLifecyclePolicy", "PutLifecyclePolicy"),
        ("repository policy", source.repository_policy, "policyText",
         client.get_repository_policy, client.set_repository_policy,
         "GetRepositoryPolicy", "SetRepositoryPolicy"),
    )  # fmt: skip
    for what, wanted, key, read, write, read_api, write_api in policies:
        if wanted is None:
            continue
        existing = None
        if not created:
            read_target = functools.partial(read, repositoryName=name)
            existing = _optional_text(read_target, key, f"ecr:{read_api} (target)")
        if existing is None:  # set where the target has none: never replace the target's own
            with aws_call(f"ecr:{write_api}"):
                write(repositoryName=name, **{key: wanted})
            result.changes.append(f"{what} set")
        elif _normalised_json(existing) != _normalised_json(wanted):
            result.warnings.append(f"target {what} differs from the source's and was kept")
    if source.tags and not created:
        current = _tags(client, str(target["repositoryArn"]))
        missing = {key: value for key, value in source.tags.items() if key not in current}
        conflicting = sorted(
            key for key, value in source.tags.items() if key in current and current[key] != value
        )
        if missing:
            with aws_call("ecr:TagResource"):
                client.tag_resource(
                    resourceArn=str(target["repositoryArn"]),
                    tags=[{"Key": key, "Value": value} for key, value in missing.items()],
                )
            result.changes.append(f"tags added: {', '.join(sorted(missing))}")
        if conflicting:
            result.warnings.append(f"target tag values kept for: {', '.join(conflicting)}")


def ensure_repository(
    ecr_client: Any,
    name: str,
    region: str,
    source: RepositorySettings | None = None,
    *,
    kms_client: Any | None = None,
) -> EnsureResult:
    """Create ``name`` in the client's region if missing; mirror ``source`` settings if given."""
    result = EnsureResult(region=region, repository=name, created=False)
    target = _describe(ecr_client, name, "ecr:DescribeRepositories (target)")
    if target is None:
        args: dict[str, Any] = {"repositoryName": name}
        if source is not None:
            args["imageTagMutability"] = source.tag_mutability
            if source.mutability_exclusions:
                args["imageTagMutabilityExclusionFilters"] = list(source.mutability_exclusions)
            args["imageScanningConfiguration"] = {"scanOnPush": source.scan_on_push}
            args["encryptionConfiguration"] = _target_encryption(source, kms_client, region, result.warnings)
            if source.tags:
                args["tags"] = [{"Key": key, "Value": value} for key, value in source.tags.items()]
        with aws_call("ecr:CreateRepository"):
            try:
                target = dict(ecr_client.create_repository(**args)["repository"])
                result = result.model_copy(update={"created": True})
                result.changes.append("repository created")
            except ClientError as exc:
                if _code(exc) != "RepositoryAlreadyExistsException":
                    raise
                # Created concurrently (another execution): treat as existing.
                target = _describe(ecr_client, name, "ecr:DescribeRepositories (target)")
        if target is None:
            raise AwsTransientError(f"repository {name!r} in {region} vanished while being ensured")
        if source is not None and result.created:
            _mirror_policies_and_tags(ecr_client, name, target, source, result, created=True)
            return result
    if source is not None:
        _mirror_existing(ecr_client, name, target, source, result)
    for warning in result.warnings:
        logger.warning("ensure %s in %s: %s", name, region, warning)
    return result
